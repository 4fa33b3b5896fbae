"""Background processes of the local stack: start, pid files, logs, readiness waits, stop.

Every part runs in its own session (process group), so stopping it also stops whatever it
spawned (the processor's JVM, for instance). A pid file records the pid together with the
process start time, so a recycled pid is never mistaken for our process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bluetrack.stack.exceptions import PortInUse, StartFailed

POLL_S = 0.2
KILL_WAIT_S = 5.0
ERROR_LINE = re.compile(r"Error\b|Exception\b|\bERROR\b|\bFATAL\b|^panic:")

# Children started by this Python process: polled so they are reaped, not left as zombies
# that would still look alive (tests kill and restart parts within one process).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    name: str
    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] | None = None


def pid_file(home: Path, name: str) -> Path:
    return home / "pids" / f"{name}.pid"


def log_file(home: Path, name: str) -> Path:
    return home / "logs" / f"{name}.log"


def _open_log(home: Path, name: str, argv: tuple[str, ...]) -> BinaryIO:
    """The part's log, opened for appending, with a header line marking this run."""
    log = log_file(home, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("ab")
    out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
    out.flush()
    return out


def run_logged(home: Path, name: str, what: str, argv: tuple[str, ...], timeout_s: float) -> int:
    """Run a one-off step of part ``name`` (``what``: "formatting storage") into its log."""
    with _open_log(home, name, argv) as out:
        try:
            return subprocess.run(
                argv, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            raise StartFailed(
                f"{name}: {what} took over {timeout_s:.0f}s (log: {log_file(home, name)})"
            ) from None


def launch(home: Path, spec: ProcessSpec) -> int:
    """Start ``spec`` in the background, appending its output to its log file."""
    pid_file(home, spec.name).parent.mkdir(parents=True, exist_ok=True)
    spec.cwd.mkdir(parents=True, exist_ok=True)
    with _open_log(home, spec.name, spec.argv) as out:
        proc = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=dict(spec.env) if spec.env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    record = {"pid": proc.pid, "start_ticks": _start_ticks(proc.pid), "argv": list(spec.argv)}
    pid_file(home, spec.name).write_text(json.dumps(record))
    return proc.pid


def running_pid(home: Path, name: str) -> int | None:
    """The pid of part ``name`` if the process in its pid file is still ours and alive."""
    try:
        record = json.loads(pid_file(home, name).read_text())
    except (OSError, ValueError):
        return None
    pid = int(record["pid"])
    if not is_alive(pid) or _start_ticks(pid) != record.get("start_ticks"):
        return None
    return pid


def is_alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return _stat_fields(stat)[0] != "Z"


def stop(home: Path, name: str, timeout_s: float) -> bool:
    """SIGTERM the part's process group, SIGKILL it after ``timeout_s``. False if not running."""
    pid = running_pid(home, name)
    if pid is None:
        pid_file(home, name).unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    if not _wait_dead(pid, timeout_s):
        _signal_group(pid, signal.SIGKILL)
        _wait_dead(pid, KILL_WAIT_S)
    pid_file(home, name).unlink(missing_ok=True)
    return True


def kill(home: Path, name: str) -> bool:
    """SIGKILL at once, like a crash: fault tests use it. False if not running."""
    pid = running_pid(home, name)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGKILL)
    _wait_dead(pid, KILL_WAIT_S)
    pid_file(home, name).unlink(missing_ok=True)
    return True


def wait_ready(
    home: Path, name: str, pid: int, is_ready: Callable[[], bool], timeout_s: float
) -> float:
    """Poll ``is_ready`` until it holds; seconds waited. Fails fast if the process exits."""
    start = time.monotonic()
    while True:
        if not is_alive(pid):
            raise StartFailed(
                f"{name} exited while starting: {last_log_line(home, name)} "
                f"(log: {log_file(home, name)})"
            )
        if is_ready() and is_alive(pid):  # alive again: it may have died while we checked
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise StartFailed(
                f"{name} did not become ready within {timeout_s:.0f}s (log: {log_file(home, name)})"
            )
        time.sleep(POLL_S)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts TCP connections on ``host:port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def ensure_port_free(port: int, part: str, setting: str, host: str = "127.0.0.1") -> None:
    """Fail with one line naming the setting that moves ``part`` elsewhere."""
    with socket.socket() as sock:
        # Like the servers themselves: connections in TIME_WAIT after a restart don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise PortInUse(
                f"port {port} needed by {part} is already in use by another program "
                f"(stop it, or set {setting} to a free port)"
            ) from None


def last_log_line(home: Path, name: str) -> str:
    """The line that most likely says why: the last error of the latest run, else its last line."""
    try:
        text = log_file(home, name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    lines = [line.strip() for line in text.split("\n=== ")[-1].splitlines()[1:] if line.strip()]
    errors = [line for line in lines if ERROR_LINE.search(line)]
    if errors:
        return errors[-1]
    return lines[-1] if lines else "(empty log)"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_dead(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S / 2)
    _children.pop(pid, None)
    return True


def _stat_fields(stat: str) -> list[str]:
    # The command name (field 2) may contain spaces; everything after its ')' is fixed.
    return stat[stat.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    try:
        return int(_stat_fields(Path(f"/proc/{pid}/stat").read_text())[19])
    except (OSError, IndexError, ValueError):
        return None
