"""Play events through a real server: accepted ones reach the processor's topic and the
user's history; forged, replayed and impossible ones land in the dead-letter topic."""

from __future__ import annotations

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
from bluetrack.protocol.codec import decode
from bluetrack.protocol.dead_letter import DeadLetter
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.messages import Shelf, TrackSummary
from bluetrack.protocol.plays import AcceptedPlay, PlayEvent
from bluetrack.protocol.topics import Topic
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


def accepted(settings: Settings, event_ids: set[str]) -> list[AcceptedPlay]:
    plays = [decode(m.value(), AcceptedPlay) for m in read_topic(settings, Topic.PLAYS_ACCEPTED)]
    return [p for p in plays if p.event_id in event_ids]


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
