"""A logged-in session as a client holds it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from bluetrack.protocol.sealing import b64decode, b64encode


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    username: str
    session_id: str
    token: bytes
    play_key: bytes
    expires_at: datetime

    def to_json(self) -> str:
        return json.dumps(
            {
                "user_id": self.user_id,
                "username": self.username,
                "session_id": self.session_id,
                "token": b64encode(self.token),
                "play_key": b64encode(self.play_key),
                "expires_at": self.expires_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Session:
        data = json.loads(text)
        return cls(
            user_id=data["user_id"],
            username=data["username"],
            session_id=data["session_id"],
            token=b64decode(data["token"]),
            play_key=b64decode(data["play_key"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )

    def with_expiry(self, expires_at: datetime) -> Session:
        return Session(
            self.user_id, self.username, self.session_id, self.token, self.play_key, expires_at
        )
