"""Re-record tests/gui/recorded/ from a REAL server: `.venv/bin/python tests/gui/record_replies.py`.

Starts a private Kafka + FerretDB (as the test session does), a server in this process with a
catalogue of real dataset rows (../shared/data/spotify/spotify_tracks.csv), drives it with the
real BlueTrackClient, and saves each reply exactly as the server put it on its reply topic
(pretty-printed). The top_genres charts are not recorded here (that needs the Spark processor):
they are kept as written, in the processor's message format. Register and login replies seal
the account and the session to the recording client's one-time reply key, which is not kept
(as no client keeps it): RecordedGateway stands in fixed ids for what they hold.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import random
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pymongo
from confluent_kafka import Consumer, TopicPartition

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.assign import partitions_of
from bluetrack.bus.exceptions import RequestFailed
from bluetrack.config import PROJECT_ROOT, Settings
from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.protocol.topics import Topic
from bluetrack.server.runner import Server, stores_for
from bluetrack.stack.testing import running_stack

OUT = Path(__file__).parent / "recorded"
DATASET = PROJECT_ROOT.parent / "shared" / "data" / "spotify" / "spotify_tracks.csv"
PASSWORD = "correct horse battery"
GENRES, PER_GENRE = 40, 30  # the server picks 20 shelves of 10 from these


class DatasetCatalogue:
    """A slice of the real dataset: GENRES genres, PER_GENRE tracks each."""

    def __init__(self, csv_path: Path, seed: int = 7) -> None:
        rows: dict[str, list[dict[str, str]]] = {}
        with csv_path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["track_name"]:
                    rows.setdefault(row["track_genre"], []).append(row)
        rng = random.Random(seed)
        self.shelves = [
            Shelf(
                genre=genre, tracks=[_track(r, genre) for r in rng.sample(rows[genre], PER_GENRE)]
            )
            for genre in rng.sample(sorted(rows), GENRES)
        ]

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> Sequence[Shelf]:
        return [
            Shelf(genre=s.genre, tracks=rng.sample(s.tracks, per_genre))
            for s in rng.sample(self.shelves, n_genres)
        ]

    def track_index(self) -> Mapping[str, Any]:
        return {
            t.track_id: {"duration_ms": t.duration_ms, "genres": [s.genre]}
            for s in self.shelves
            for t in s.tracks
        }


def _track(row: dict[str, str], genre: str) -> TrackSummary:
    return TrackSummary(
        track_id=row["track_id"],
        name=row["track_name"].strip(),
        artists=row["artists"].split(";"),
        album=row["album_name"],
        duration_ms=int(row["duration_ms"]),
        genres=[genre],
    )


def last_reply(settings: Settings, topic: Topic, client_id: str) -> dict[str, Any]:
    """The newest reply to ``client_id`` on ``topic``, as the server wrote it."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": uuid.uuid4().hex})
    try:
        ends, assignment = {}, []
        for p in partitions_of(consumer, topic, 10):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        found: list[tuple[int, bytes]] = []
        while ends:
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            if msg.key() == client_id.encode():
                found.append((msg.timestamp()[1], msg.value()))
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        return dict(json.loads(max(found)[1]))
    finally:
        consumer.close()


def record(settings: Settings) -> None:
    client = BlueTrackClient(settings)

    def save(name: str, topic: Topic, call: Callable[[], object]) -> None:
        with contextlib.suppress(RequestFailed):  # a refusal is what some cases record
            call()
        reply = last_reply(settings, topic, client.client_id)
        text = json.dumps(reply, indent=2, ensure_ascii=False) + "\n"
        (OUT / f"{name}.json").write_text(text, encoding="utf-8")
        print(f"recorded {name}: ok={reply['ok']}")

    reg, login, auth, songs = (
        Topic.REGISTER_USER_RESPONSE,
        Topic.LOGIN_USER_RESPONSE,
        Topic.SESSION_AUTH_RESPONSE,
        Topic.SONGS_RESPONSE,
    )
    save(
        "register_user_response.ok",
        reg,
        lambda: client.register("ada", "ada@example.com", PASSWORD),
    )
    save(
        "register_user_response.username_taken",
        reg,
        lambda: client.register("ada", "other@example.com", PASSWORD),
    )
    save(
        "register_user_response.email_taken",
        reg,
        lambda: client.register("grace", "ada@example.com", PASSWORD),
    )
    session = client.login("ada", PASSWORD)
    save("login_user_response.ok", login, lambda: client.login("ada@example.com", PASSWORD))
    save(
        "login_user_response.invalid_credentials", login, lambda: client.login("ada", "wrong one!")
    )
    for _ in range(settings.login_max_failures):
        with contextlib.suppress(RequestFailed):
            client.login("ada", "wrong one!")
    save("login_user_response.throttled", login, lambda: client.login("ada", "wrong one!"))
    save("session_auth_response.ok", auth, lambda: client.validate(session))
    save("songs_response.ok", songs, lambda: client.songs(session))
    client.logout(session)
    save("session_auth_response.invalid_session", auth, lambda: client.validate(session))
    client.close()


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    catalogue = DatasetCatalogue(DATASET)
    with tempfile.TemporaryDirectory() as home, running_stack(Path(home)) as stack:
        settings = stack.model_copy(update={"bcrypt_cost": 4, "login_base_delay_s": 30.0})
        mongo: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.store_uri)
        server = Server(
            settings, stores=lambda _: stores_for(mongo[settings.mongodb_db], catalogue)
        )
        server.start()
        try:
            if not server.wait_ready(60):
                print("the server got no partitions", file=sys.stderr)
                return 1
            record(settings)
        finally:
            server.stop()
            mongo.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
