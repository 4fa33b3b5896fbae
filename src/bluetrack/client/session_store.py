""" "Remember me": the session (token included) kept in a file only its owner can read."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SESSION_FILE = "session.json"
DIR_MODE = 0o700
FILE_MODE = 0o600


class SessionStore:
    """Stores the gateway's JSON form of a session; never logs or shows its content."""

    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.path = config_dir / SESSION_FILE

    def save(self, session_json: str) -> None:
        self._private_dir()
        # Written to a private temp file first, so the token is never readable by others,
        # not even for a moment, and a crash never leaves half a file.
        tmp = self.path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(session_json)
        os.chmod(tmp, FILE_MODE)  # whatever the umask did
        os.replace(tmp, self.path)

    def load(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError, PermissionError):
            return None

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _private_dir(self) -> None:
        self.config_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(self.config_dir, DIR_MODE)
