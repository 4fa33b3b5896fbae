"""The parts of the local stack, in start order, and `up` / `down` / `status` over them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bluetrack.config import Settings
from bluetrack.stack import apps, ferretdb, kafka, processes
from bluetrack.stack.exceptions import StackError

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    module: str | None = None  # our own programs run as `python -m module`

    def is_local(self, settings: Settings) -> bool:
        """False when the part is an external service named in the settings."""
        if self.name == kafka.NAME:
            return settings.local_kafka
        if self.name == ferretdb.NAME:
            return settings.local_store
        return True


KAFKA = Part(kafka.NAME)
FERRETDB = Part(ferretdb.NAME)
SERVER = Part("server", "bluetrack.server")
PROCESSOR = Part("processor", "bluetrack.processor")
PARTS: tuple[Part, ...] = (KAFKA, FERRETDB, SERVER, PROCESSOR)


@dataclass(frozen=True, slots=True)
class PartStatus:
    name: str
    state: str  # up, starting, down, external, not there yet
    address: str
    pid: int | None
    log: Path | None


def part(name: str) -> Part:
    for candidate in PARTS:
        if candidate.name == name:
            return candidate
    raise StackError(f"unknown part {name!r}: one of {', '.join(p.name for p in PARTS)}")


def start_part(settings: Settings, name: str) -> float | None:
    """Start one part and wait until it serves; seconds taken, None if it was already up."""
    target = part(name)
    if target.name == kafka.NAME:
        return kafka.start(settings)
    if target.name == ferretdb.NAME:
        return ferretdb.start(settings)
    assert target.module is not None
    if not apps.is_present(target.module):
        raise StackError(f"{name} is not there yet (no module {target.module})")
    return apps.start(settings, target.name, target.module)


def stop_part(settings: Settings, name: str) -> bool:
    """SIGTERM, then SIGKILL after ``stop_timeout_s``; False if it was not running."""
    return processes.stop(settings.home, part(name).name, settings.stop_timeout_s)


def kill_part(settings: Settings, name: str) -> bool:
    """SIGKILL at once, as in a crash; False if it was not running."""
    return processes.kill(settings.home, part(name).name)


def part_status(settings: Settings, name: str) -> PartStatus:
    target = part(name)
    address = _address(settings, target)
    if not target.is_local(settings):
        return PartStatus(name, "external", address, None, None)
    if target.module is not None and not apps.is_present(target.module):
        return PartStatus(name, "not there yet", address, None, None)
    log = processes.log_file(settings.home, name)
    pid = processes.running_pid(settings.home, name)
    if pid is None:
        return PartStatus(name, "down", address, None, log if log.exists() else None)
    return PartStatus(name, _running_state(settings, target), address, pid, log)


def status(settings: Settings) -> list[PartStatus]:
    return [part_status(settings, p.name) for p in PARTS]


def up(settings: Settings, say: Say = print) -> None:
    """Start everything that is local and present, in order; idempotent."""
    for service in (KAFKA, FERRETDB):
        _up_part(settings, service, say)
    _up_topics(settings, say)
    _up_catalogue(settings, say)
    for program in (SERVER, PROCESSOR):
        _up_part(settings, program, say)


def down(settings: Settings, say: Say = print) -> None:
    """Stop every running part, last started first."""
    for target in reversed(PARTS):
        if not target.is_local(settings):
            continue
        stopped = stop_part(settings, target.name)
        say(f"{target.name:<10} {'stopped' if stopped else 'was not running'}")


def _up_part(settings: Settings, target: Part, say: Say) -> None:
    address = _address(settings, target)
    if not target.is_local(settings):
        say(f"{target.name:<10} external  {address}")
        return
    if target.module is not None and not apps.is_present(target.module):
        say(f"{target.name:<10} not there yet (no module {target.module})")
        return
    took = start_part(settings, target.name)
    when = "already up" if took is None else f"up in {took:.1f}s"
    pid = processes.running_pid(settings.home, target.name)
    say(f"{target.name:<10} {when}  {address}  pid {pid}")


def _up_topics(settings: Settings, say: Say) -> None:
    from bluetrack.stack.topics import ensure_topics

    states = ensure_topics(settings)
    created = sum(state.outcome == "created" for state in states)
    grown = [f"{state.name} to {state.partitions}" for state in states if state.outcome == "grown"]
    say(
        f"{'topics':<10} {len(states)} topics, {created} created"
        + (f", grown: {', '.join(grown)}" if grown else "")
    )
    for state in states:
        if state.outcome.startswith("too many"):
            say(f"{'':<10} warning: {state.name} has {state.outcome}")


def _up_catalogue(settings: Settings, say: Say) -> None:
    try:
        from bluetrack.catalogue import ensure_catalogue
    except ImportError as exc:
        if exc.name != "bluetrack.catalogue":
            raise  # the module is there but one of its imports is broken: show that
        say(f"{'catalogue':<10} not there yet ({exc})")
        return
    result = ensure_catalogue(settings)
    say(f"{'catalogue':<10} {result if result is not None else 'ready'}")


def _running_state(settings: Settings, target: Part) -> str:
    port = {kafka.NAME: settings.kafka_port, ferretdb.NAME: settings.ferretdb_port}.get(target.name)
    if port is not None and not processes.port_open(port):
        return "starting"
    return "up"


def _address(settings: Settings, target: Part) -> str:
    if target.name == kafka.NAME:
        return kafka.address(settings)
    if target.name == ferretdb.NAME:
        return mask_password(ferretdb.address(settings))
    return "-"


def mask_password(uri: str) -> str:
    """mongodb://user:secret@host/ -> mongodb://user:***@host/ (status output is shared)."""
    return re.sub(r"//([^:/@]+):([^@/]+)@", r"//\1:***@", uri)
