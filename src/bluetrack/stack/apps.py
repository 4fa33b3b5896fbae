"""BlueTrack's own long-running programs (server, processor) as background processes."""

from __future__ import annotations

import importlib.util
import os
import sys
import time

from pydantic import SecretStr

from bluetrack.config import Settings
from bluetrack.stack import processes

# A program that survives this long has imported its code, read its settings and connected
# (or failed to): good enough for `up`; their own logs tell the rest.
SETTLE_S = 4.0


def is_present(module: str) -> bool:
    """``python -m module`` would find something to run."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return False
    if spec is None:
        return False
    if spec.submodule_search_locations is None:  # a plain module
        return True
    return importlib.util.find_spec(f"{module}.__main__") is not None


def child_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings.

    Settings built in code (tests, other ports) are not in ``os.environ``; every field is
    written out under each of its names, and ``None`` fields are removed, so an inherited
    variable cannot override them.
    """
    env = dict(os.environ)
    for field_name, field in Settings.model_fields.items():
        names = {f"BLUETRACK_{field_name.upper()}"}
        alias = field.validation_alias
        choices = getattr(alias, "choices", ())
        names.update(choice for choice in choices if isinstance(choice, str))
        value = getattr(settings, field_name)
        for name in names:
            if value is None:
                env.pop(name, None)
            else:
                env[name] = _env_value(value)
    return env


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value)


def process_spec(settings: Settings, name: str, module: str) -> processes.ProcessSpec:
    return processes.ProcessSpec(
        name=name,
        argv=(sys.executable, "-m", module),
        cwd=settings.home,
        env=child_env(settings),
    )


def start(settings: Settings, name: str, module: str) -> float | None:
    """Start ``python -m module``; seconds taken, or None if already running."""
    if processes.running_pid(settings.home, name) is not None:
        return None
    began = time.monotonic()
    pid = processes.launch(settings.home, process_spec(settings, name, module))
    settled_at = began + min(SETTLE_S, settings.start_timeout_s)
    processes.wait_ready(
        settings.home, name, pid, lambda: time.monotonic() >= settled_at, settings.start_timeout_s
    )
    return time.monotonic() - began
