"""A gateway that replays recorded protocol messages: for unit tests and screenshots.

A recording is a folder of JSON files, each one real protocol message named
``<topic>.<case>.json`` (``login_user_response.ok.json``, ``top_genres.1.json``, ...).
The gateway answers from them, keeps what it was asked, and can be told to fail, so every
view and flow can be exercised without Kafka (habit: in-memory doubles ship as library code).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from bluetrack.client.exceptions import FailureKind, GatewayError
from bluetrack.client.gateway import ChartSource, PlayOperation, SessionHandle
from bluetrack.protocol import codec
from bluetrack.protocol.charts import ChartMessage
from bluetrack.protocol.envelope import Reply
from bluetrack.protocol.messages import (
    Account,
    LoginReply,
    RegisterReply,
    SessionAuthReply,
    Shelf,
    SongsReply,
    TrackSummary,
)
from bluetrack.protocol.plays import PlayEvent
from bluetrack.protocol.registry import BY_REPLY_TOPIC
from bluetrack.protocol.topics import Topic

# Replies seal the account and the session ids to the ephemeral key of the client that
# recorded them, a key thrown away like every client's: a replay cannot open them, so it
# stands in these ids (what the GUI shows is the name it was given, as with a real server).
RECORDED_USER_ID = "recorded-user"
RECORDED_SESSION_ID = "recorded-session"


@dataclass(frozen=True, slots=True)
class RecordedSession:
    user_id: str
    username: str
    session_id: str
    expires_at: datetime

    def to_json(self) -> str:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> RecordedSession:
        data = json.loads(text)
        return cls(
            user_id=data["user_id"],
            username=data["username"],
            session_id=data["session_id"],
            expires_at=datetime.fromisoformat(data["expires_at"]),
        )


class Recording:
    """The messages of one recording folder, decoded by the protocol's own codec."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def raw(self, name: str) -> bytes:
        return (self.folder / f"{name}.json").read_bytes()

    def reply(self, name: str) -> Reply:
        topic = Topic(name.split(".", 1)[0])
        model = BY_REPLY_TOPIC[topic].reply_model
        return codec.decode(self.raw(name), model, max_bytes=codec.MAX_REPLY_BYTES)

    def error(self, name: str) -> GatewayError:
        """The GatewayError a recorded error reply turns into."""
        reply = self.reply(name)
        if reply.ok or reply.error is None:
            raise ValueError(f"{name} is not an error reply")
        return GatewayError(FailureKind.REJECTED, reply.error.message, reply.error)

    def charts(self) -> list[ChartMessage]:
        files = sorted(self.folder.glob("top_genres.*.json"))
        return [
            codec.decode(f.read_bytes(), ChartMessage, max_bytes=codec.MAX_REPLY_BYTES)
            for f in files
        ]

    def shelves(self) -> list[Shelf]:
        reply = self.reply("songs_response.ok")
        assert isinstance(reply, SongsReply)
        return reply.shelves


class _QueuedFeed:
    def __init__(self, charts: queue.Queue[ChartMessage | GatewayError]) -> None:
        self._charts = charts

    def poll(self, timeout: float) -> ChartMessage | None:
        try:
            item = self._charts.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, GatewayError):
            raise item
        return item

    def close(self) -> None:
        return None


class RecordedGateway:
    """Answers every call from a Recording. Thread-safe: workers call it from their threads."""

    def __init__(self, recording: Recording, *, delay_s: float = 0.0) -> None:
        self.recording = recording
        self.delay_s = delay_s  # to show a busy state in tests
        self.calls: list[str] = []
        self.plays: list[PlayEvent] = []
        self._lock = threading.Lock()
        self._failures: dict[str, deque[GatewayError]] = defaultdict(deque)
        self._charts: queue.Queue[ChartMessage | GatewayError] = queue.Queue()
        self.closed = False

    # --- steering from tests ------------------------------------------------------------------
    def fail_next(self, call: str, error: GatewayError, times: int = 1) -> None:
        with self._lock:
            self._failures[call].extend([error] * times)

    def publish_chart(self, chart: ChartMessage) -> None:
        self._charts.put(chart)

    def break_chart_feed(self, error: GatewayError) -> None:
        self._charts.put(error)

    def calls_to(self, call: str) -> int:
        with self._lock:
            return self.calls.count(call)

    def _enter(self, call: str) -> None:
        with self._lock:
            self.calls.append(call)
            failure = self._failures[call].popleft() if self._failures[call] else None
        if self.delay_s:
            time.sleep(self.delay_s)
        if failure is not None:
            raise failure

    # --- the Gateway calls ----------------------------------------------------------------------
    def register(self, username: str, email: str, password: str) -> Account:
        self._enter("register")
        reply = self.recording.reply("register_user_response.ok")
        assert isinstance(reply, RegisterReply) and reply.sealed_account
        return Account(user_id=RECORDED_USER_ID, username=username)

    def login(self, login: str, password: str) -> SessionHandle:
        self._enter("login")
        reply = self.recording.reply("login_user_response.ok")
        assert isinstance(reply, LoginReply) and reply.sealed_session and reply.expires_at
        username = login.partition("@")[0]  # the recording's account, named as typed
        return RecordedSession(RECORDED_USER_ID, username, RECORDED_SESSION_ID, reply.expires_at)

    def validate(self, session: SessionHandle) -> SessionAuthReply:
        self._enter("validate")
        reply = self.recording.reply("session_auth_response.ok")
        assert isinstance(reply, SessionAuthReply)
        return reply

    def logout(self, session: SessionHandle) -> SessionAuthReply:
        self._enter("logout")
        reply = self.recording.reply("session_auth_response.ok")
        assert isinstance(reply, SessionAuthReply)
        return reply.model_copy(update={"action": "logout"})

    def songs(self, session: SessionHandle) -> list[Shelf]:
        self._enter("songs")
        return self.recording.shelves()

    def play(
        self,
        session: SessionHandle,
        operation: PlayOperation,
        track: TrackSummary,
        genre: str,
        start_time: datetime,
        event_time: datetime,
        event_id: str,
    ) -> PlayEvent:
        self._enter("play")
        event = PlayEvent(
            event_id=event_id,
            user_id=session.user_id,
            session_id=session.session_id,
            client_id="recorded-client",
            track_id=track.track_id,
            operation_type=operation,
            start_time=start_time,
            event_time=event_time,
            duration_ms=track.duration_ms,
            genre=genre,
            mac="0" * 64,  # unsigned: nothing verifies it here
        )
        with self._lock:
            self.plays.append(event)
        return event

    def restore_session(self, text: str) -> SessionHandle:
        return RecordedSession.from_json(text)

    def open_chart_feed(self) -> ChartSource:
        self._enter("charts")
        return _QueuedFeed(self._charts)

    def close(self) -> None:
        self.closed = True
