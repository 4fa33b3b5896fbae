"""Test doubles for the server, shipped as library code: a context over in-memory stores, a
fixed song catalogue, a settable clock, and the client half of the protocol's crypto.

Unit tests (and anyone exploring the handlers in a REPL) need no broker and no MongoDB.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from nacl.public import PrivateKey
from pydantic import BaseModel

from bluetrack.bus.memory import FakeMessage
from bluetrack.config import Settings
from bluetrack.protocol import sealing
from bluetrack.protocol.codec import encode
from bluetrack.protocol.envelope import new_id
from bluetrack.protocol.messages import AuthProof, Shelf, TrackSummary
from bluetrack.protocol.plays import ClientOperation, PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.server.context import ServerContext, TrackFacts
from bluetrack.server.passwords import PasswordHasher
from bluetrack.store.server_keys import ServerKeys
from bluetrack.store.sessions import InMemorySessions
from bluetrack.store.users import InMemoryUsers

GENRES = ("rock", "pop", "jazz", "metal", "folk")


class FakeClock:
    """Wall and monotonic time in one, moved by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.wall = start or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        self.mono = 1_000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


class FakeSongs:
    """A small catalogue: ``per_genre_tracks`` tracks in each of GENRES."""

    def __init__(self, per_genre_tracks: int = 20) -> None:
        self.tracks: list[TrackSummary] = [
            TrackSummary(
                track_id=f"{genre}-{i:03d}",
                name=f"{genre.title()} song {i}",
                artists=["Somebody"],
                album="An album",
                duration_ms=180_000 + i,
                genres=[genre],
            )
            for genre in GENRES
            for i in range(per_genre_tracks)
        ]

        self._by_genre = {g: [t for t in self.tracks if g in t.genres] for g in GENRES}

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> list[Shelf]:
        chosen = rng.sample(GENRES, min(n_genres, len(GENRES)))
        return [
            Shelf(genre=genre, tracks=rng.sample(self._by_genre[genre], per_genre))
            for genre in chosen
        ]

    def track_index(self) -> dict[str, TrackFacts]:
        return {t.track_id: TrackFacts(t.duration_ms, frozenset(t.genres)) for t in self.tracks}


@dataclass
class ServerUnderTest:
    """A ServerContext over in-memory stores, with the pieces tests poke at."""

    ctx: ServerContext
    clock: FakeClock
    users: InMemoryUsers
    sessions: InMemorySessions
    songs: FakeSongs
    keys: ServerKeys = field(repr=False)


def server_under_test(
    settings: Settings | None = None, clock: FakeClock | None = None
) -> ServerUnderTest:
    settings = settings or Settings(bcrypt_cost=4)
    clock = clock or FakeClock()
    users, sessions, songs, keys = (
        InMemoryUsers(),
        InMemorySessions(),
        FakeSongs(),
        ServerKeys.generate(),
    )
    ctx = ServerContext.create(
        settings,
        keys,
        users,
        sessions,
        songs,
        now=clock.now,
        monotonic=clock.monotonic,
        passwords=PasswordHasher(settings.bcrypt_cost),
    )
    return ServerUnderTest(ctx, clock, users, sessions, songs, keys)


# --- the client half ------------------------------------------------------------------------
def seal_for(keys: ServerKeys, plaintext: str | bytes) -> str:
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    return sealing.seal(keys.public_key_b64, data)


def seal_model_for(keys: ServerKeys, content: BaseModel) -> str:
    return sealing.seal_model(keys.public_key_b64, content)


def auth_proof(
    keys: ServerKeys, token: bytes, request_id: str, client_id: str, issued_at: datetime
) -> str:
    proof = AuthProof(
        token=sealing.b64encode(token),
        request_id=request_id,
        client_id=client_id,
        issued_at=issued_at,
    )
    return seal_for(keys, proof.model_dump_json())


def reply_keypair() -> tuple[PrivateKey, str]:
    private = PrivateKey.generate()
    return private, sealing.public_key_b64(private)


def signed_play(
    play_key: bytes,
    *,
    user_id: str,
    session_id: str,
    track: TrackSummary,
    genre: str | None = None,
    at: datetime,
    operation: ClientOperation = "start",
    started: datetime | None = None,
    event_id: str | None = None,
    client_id: str = "client-0001",
) -> PlayEvent:
    return sealing.sign_play(
        play_key,
        PlayEvent(
            event_id=event_id or new_id(),
            user_id=user_id,
            session_id=session_id,
            client_id=client_id,
            track_id=track.track_id,
            operation_type=operation,
            start_time=started or at,
            event_time=at,
            duration_ms=track.duration_ms,
            genre=genre or track.genres[0],
            mac="0" * 64,
        ),
    )


def as_messages(events: Sequence[PlayEvent | bytes]) -> list[FakeMessage]:
    """Events (or raw bytes) as consumed messages on the plays topic."""
    return [
        FakeMessage(Topic.SONGS_TRACKER, e if isinstance(e, bytes) else encode(e), None, 0, i)
        for i, e in enumerate(events)
    ]
