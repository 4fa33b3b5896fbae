"""Play events through a real server: accepted ones reach the processor's topic and the
user's history; forged, replayed and impossible ones land in the dead-letter topic."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from server_harness import (
    import_test_catalogue,
    read_topic,
    running_server,
    server_settings,
    wait_for,
)

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.errors import BlueTrackError
from bluetrack.protocol.codec import decode
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.frames import decode_frame
from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.protocol.plays import AcceptedPlay, PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.server.plays import partition_of
from bluetrack.server.runner import Server
from bluetrack.store.history import HistoryRepository

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def db(mongo_client: Any) -> Iterator[Any]:
    name = f"test_plays_{uuid.uuid4().hex[:12]}"
    import_test_catalogue(mongo_client[name])
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def settings(stack_settings: Settings, db: Any) -> Settings:
    return server_settings(stack_settings, db.name)


@pytest.fixture(scope="module")
def server(settings: Settings, db: Any) -> Iterator[Server]:
    with running_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(settings: Settings, server: Server) -> Iterator[BlueTrackClient]:
    made = BlueTrackClient(settings)
    yield made
    made.close()


def listener(client: BlueTrackClient) -> Session:
    name = f"p{uuid.uuid4().hex[:10]}"
    client.register(name, f"{name}@example.com", PASSWORD)
    return client.login(name, PASSWORD)


@pytest.fixture(scope="module")
def shelves(client: BlueTrackClient) -> list[Shelf]:
    """Real catalogue tracks, as a client gets them."""
    return client.songs(listener(client))


def play(
    client: BlueTrackClient, session: Session, track: TrackSummary, **overrides: Any
) -> PlayEvent:
    now = utc_now()
    fields: dict[str, Any] = {"genre": track.genres[0], "start_time": now - timedelta(seconds=5)}
    fields.update(overrides)
    event = client.play(session, "start", track, **fields)
    client.flush()
    return event


def accepted_records(settings: Settings) -> list[tuple[int, AcceptedPlay]]:
    """(partition, play) for every play inside every frame on the accepted topic."""
    return [
        (m.partition(), p)
        for m in read_topic(settings, Topic.PLAYS_ACCEPTED)
        for p in decode_frame(m.value())
    ]


def accepted(settings: Settings, event_ids: set[str]) -> list[AcceptedPlay]:
    return [p for _, p in accepted_records(settings) if p.event_id in event_ids]


def dead_letter_codes(settings: Settings, event_ids: set[str]) -> dict[str, list[ErrorCode]]:
    codes: dict[str, list[ErrorCode]] = {}
    for msg in read_topic(settings, Topic.DEAD_LETTER):
        letter = decode(msg.value(), DeadLetter)
        if letter.source_topic != Topic.SONGS_TRACKER:
            continue
        for event_id in event_ids:
            if event_id in letter.payload:
                codes.setdefault(event_id, []).append(letter.code)
    return codes


def test_a_good_play_is_accepted_and_kept_in_history(
    client: BlueTrackClient, settings: Settings, db: Any, shelves: list[Shelf]
) -> None:
    session = listener(client)
    event = play(client, session, shelves[0].tracks[0], genre=shelves[0].genre)
    [found] = wait_for(lambda: accepted(settings, {event.event_id}), what="the accepted play")
    assert found.user_id == session.user_id and found.genre == event.genre
    history = HistoryRepository(db)
    [entry] = wait_for(lambda: history.for_user(session.user_id), what="the history entry")
    assert entry.event_id == event.event_id and entry.track_id == event.track_id


def test_a_forged_play_for_another_user_is_not_accepted(
    client: BlueTrackClient, settings: Settings, shelves: list[Shelf]
) -> None:
    track = shelves[0].tracks[0]
    attacker, victim = listener(client), listener(client)
    # The attacker signs with their own (valid) session but names the victim.
    forged = play(client, replace(attacker, user_id=victim.user_id), track)
    # Without the victim's play key, a MAC for the victim's session cannot be made either.
    stolen_session = replace(attacker, user_id=victim.user_id, session_id=victim.session_id)
    guessed = play(client, stolen_session, track)
    honest = play(client, attacker, track)
    ids = {forged.event_id, guessed.event_id, honest.event_id}
    wait_for(lambda: accepted(settings, {honest.event_id}), what="the honest play")
    codes = wait_for(
        lambda: (c := dead_letter_codes(settings, ids)) and len(c) == 2 and c,
        what="dead letters for both forgeries",
    )
    assert codes == {
        forged.event_id: [ErrorCode.FORGED_EVENT],
        guessed.event_id: [ErrorCode.FORGED_EVENT],
    }
    assert [p.event_id for p in accepted(settings, ids)] == [honest.event_id]


def test_replays_and_impossible_plays_are_dead_lettered(
    client: BlueTrackClient, settings: Settings, shelves: list[Shelf]
) -> None:
    track = shelves[0].tracks[0]
    other_genre = next(s.genre for s in shelves if s.genre not in track.genres)
    session = listener(client)
    first = play(client, session, track)
    replayed = play(client, session, track, event_id=first.event_id)
    wrong_genre = play(client, session, track, genre=other_genre)
    future = play(client, session, track, event_time=utc_now() + timedelta(minutes=5))
    expected = {
        wrong_genre.event_id: [ErrorCode.GENRE_MISMATCH],
        future.event_id: [ErrorCode.BAD_EVENT_TIME],
    }
    codes = wait_for(
        lambda: (
            (c := dead_letter_codes(settings, {first.event_id, *expected})) and len(c) == 3 and c
        ),
        what="three dead letters",
    )
    assert codes == {**expected, first.event_id: [ErrorCode.DUPLICATE_EVENT]}
    assert replayed.event_id == first.event_id
    assert len(accepted(settings, {first.event_id})) == 1


def test_plays_after_logout_are_refused(
    client: BlueTrackClient, settings: Settings, shelves: list[Shelf]
) -> None:
    track = shelves[0].tracks[0]
    session = listener(client)
    before = play(client, session, track)
    wait_for(lambda: accepted(settings, {before.event_id}), what="the play before logout")
    client.logout(session)
    after = play(client, session, track)
    codes = wait_for(lambda: dead_letter_codes(settings, {after.event_id}), what="the dead letter")
    assert codes == {after.event_id: [ErrorCode.INVALID_SESSION]}


def test_a_users_plays_and_logout_share_one_partition(
    client: BlueTrackClient, settings: Settings, shelves: list[Shelf]
) -> None:
    """Frames go where partition_of says; the logout play (keyed by user id, librdkafka's
    default partitioner) must land there too, or a user's logout could overtake a play."""
    session = listener(client)
    events = [play(client, session, t, genre=shelves[0].genre) for t in shelves[0].tracks[:3]]
    ids = {e.event_id for e in events}
    wait_for(lambda: len(accepted(settings, ids)) == 3, what="three accepted plays")
    client.logout(session)

    def mine() -> list[tuple[int, AcceptedPlay]]:
        found = [(p, a) for p, a in accepted_records(settings) if a.user_id == session.user_id]
        return found if any(a.operation_type == "logout" for _, a in found) else []

    found = wait_for(mine, what="the logout play")
    partitions = {p for p, _ in found}
    count = len(read_partitions(settings))
    assert partitions == {partition_of(session.user_id, count)}
    assert [a.event_id for _, a in found][:3] == [e.event_id for e in events], "in order"


def read_partitions(settings: Settings) -> list[int]:
    from confluent_kafka import Consumer

    from bluetrack.bus.assign import partitions_of

    consumer = Consumer({**settings.kafka_client_config(), "group.id": "partitions"})
    try:
        return list(partitions_of(consumer, Topic.PLAYS_ACCEPTED, 10))
    finally:
        consumer.close()


# Last in this module: it kills the session's broker under the module's server.
def test_plays_flow_again_after_the_broker_is_killed(
    client: BlueTrackClient,
    server: Server,
    shelves: list[Shelf],
    stack_control: Any,
) -> None:
    """Issue 5: a broker kill -9 while plays stream in must not stop the plays loop."""
    assert server.plays is not None
    loop = server.plays
    session, track = listener(client), shelves[0].tracks[0]
    stop = threading.Event()

    def keep_playing() -> None:
        while not stop.is_set():
            # While the broker is down, sending fails: the client's problem, not the server's.
            with contextlib.suppress(BlueTrackError):
                play(client, session, track, genre=shelves[0].genre)
            stop.wait(0.05)

    player = threading.Thread(target=keep_playing, daemon=True)
    player.start()
    try:
        wait_for(lambda: loop.accepted >= 20, what="plays flowing before the kill")
        stack_control.kill("kafka")
        time.sleep(3.0)
        stack_control.start("kafka")
        restarted, before = time.monotonic(), loop.accepted
        wait_for(lambda: loop.accepted >= before + 20, 150, "plays flowing after the restart")
        print(f"\nplays flowing again {time.monotonic() - restarted:.1f} s after the restart")
    finally:
        stop.set()
        player.join(30)
