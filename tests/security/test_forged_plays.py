"""Forged plays never change a chart: real server, real processor, reference rules.

Honest listeners play one genre. An attacker sends plays of another genre every way the
threat model names: under another user's id, with someone else's session, from a logged-out
and from an expired session, for a track that does not exist, with a genre the track does
not have, as a tampered copy of an honest event, and as byte-for-byte replays of honest
events. Then:

* exactly the honest events are on ``songs_tracker_accepted`` (once each), and every
  forgery is on ``dead_letter`` with its reason;
* the reference chart over the accepted events has only the honest genre, while the same
  rules over honest + forged events would not: the forgeries would have moved the chart;
* every chart the real processor published equals the reference over the accepted events,
  batch by batch as its checkpoint says (so no forgery reached a chart).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from security_support import (
    PASSWORD,
    RunningProcessor,
    accepted_plays,
    chart_of,
    comparable,
    dead_letters,
    end_offsets,
    play_pair,
    reference_charts,
    unique,
    wait_until,
)
from server_harness import import_test_catalogue, running_server, server_settings

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.session import Session
from bluetrack.config import Settings
from bluetrack.core.charts import PlayRecord, to_epoch_ms
from bluetrack.core.rules import Rules
from bluetrack.protocol import codec
from bluetrack.protocol.envelope import new_id, utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.plays import PlayEvent
from bluetrack.protocol.sealing import sign_play
from bluetrack.protocol.topics import Topic
from bluetrack.server.runner import Server

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

RULES = Rules(window_s=600, watermark_s=5, qualify_rule="spotify")


@pytest.fixture(scope="module")
def settings(isolated_kafka: Settings, mongo_client: Any) -> Iterator[Settings]:
    name = f"test_forged_{uuid.uuid4().hex[:12]}"
    import_test_catalogue(mongo_client[name])
    yield server_settings(isolated_kafka, name)
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[Server]:
    with running_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def client(settings: Settings, server: Server) -> Iterator[BlueTrackClient]:
    made = BlueTrackClient(settings)
    yield made
    made.close()


def listener(client: BlueTrackClient) -> Session:
    name = unique("l")
    client.register(name, f"{name}@example.com", PASSWORD)
    return client.login(name, PASSWORD)


def resend(client: BlueTrackClient, events: list[PlayEvent]) -> None:
    """Put events on the plays topic exactly as given (bytes an attacker copied or made)."""
    producer = client.requests.producer
    for event in events:
        producer.produce(Topic.SONGS_TRACKER, codec.encode(event), key=event.user_id)
    assert producer.flush(10) == 0


def retimed(event: PlayEvent, at: datetime) -> PlayEvent:
    return event.model_copy(update={"event_time": at, "event_id": new_id()})


def test_forged_plays_never_change_a_chart(
    client: BlueTrackClient,
    settings: Settings,
    server: Server,
    mongo_client: Any,
    isolated_processor: RunningProcessor,
) -> None:
    honest_a, honest_b, attacker = listener(client), listener(client), listener(client)
    revoked, expired = listener(client), listener(client)
    shelves = client.songs(honest_a)
    track, genre = shelves[0].tracks[0], shelves[0].genre
    other_track, other_genre = shelves[1].tracks[0], shelves[1].genre
    assert other_genre not in track.genres

    # Expired behind the server's back: its session cache sees that within session_recheck_s.
    mongo_client[settings.mongodb_db].sessions.update_one(
        {"_id": expired.session_id}, {"$set": {"expires_at": utc_now() - timedelta(hours=1)}}
    )
    honest = play_pair(client, honest_a, track, genre) + play_pair(client, honest_b, track, genre)
    client.logout(revoked)
    time.sleep(settings.session_recheck_s + 0.5)
    unknown_track = other_track.model_copy(update={"track_id": "no-such-track-" + new_id()[:8]})
    forged: dict[ErrorCode, list[PlayEvent]] = {
        ErrorCode.FORGED_EVENT: [
            # the attacker's valid session, naming the victim
            *play_pair(
                client, replace(attacker, user_id=honest_a.user_id), other_track, other_genre
            ),
            # the victim's session, signed without the victim's play key
            *play_pair(
                client,
                replace(attacker, user_id=honest_a.user_id, session_id=honest_a.session_id),
                other_track,
                other_genre,
            ),
        ],
        ErrorCode.INVALID_SESSION: play_pair(client, revoked, other_track, other_genre),
        ErrorCode.SESSION_EXPIRED: play_pair(client, expired, other_track, other_genre),
        ErrorCode.UNKNOWN_TRACK: play_pair(client, attacker, unknown_track, other_genre),
        ErrorCode.GENRE_MISMATCH: play_pair(client, attacker, track, other_genre),
    }
    # A copy of an honest event with the genre changed keeps its (now wrong) MAC ...
    tampered = [
        e.model_copy(update={"genre": other_genre, "event_id": new_id()}) for e in honest[:2]
    ]
    # ... and a correctly signed event cannot be given a new id or time without the key.
    moved = [sign_play(b"\x00" * 32, retimed(honest[0], utc_now()))]
    resend(client, tampered + moved)
    forged[ErrorCode.FORGED_EVENT] += tampered + moved
    resend(client, honest)  # byte-for-byte replays
    assert client.flush() == 0

    forged_ids = {e.event_id: code for code, events in forged.items() for e in events}
    honest_ids = {e.event_id for e in honest}

    def refusals() -> dict[str, list[ErrorCode]]:
        found: dict[str, list[ErrorCode]] = {}
        for letter in dead_letters(settings):
            if letter.source_topic != Topic.SONGS_TRACKER:
                continue
            event_id = codec.decode(letter.payload.encode(), PlayEvent).event_id
            if event_id in forged_ids or event_id in honest_ids:
                found.setdefault(event_id, []).append(letter.code)
        return found

    expected = {
        **{event_id: [code] for event_id, code in forged_ids.items()},
        **{event_id: [ErrorCode.DUPLICATE_EVENT] for event_id in honest_ids},
    }
    try:
        wait_until(lambda: len(refusals()) >= len(expected), 60, "every forgery's dead letter")
    finally:
        assert refusals() == expected

    ours = {s.user_id for s in (honest_a, honest_b, attacker, revoked, expired)}
    accepted = [a for a in accepted_plays(settings) if a.play.user_id in ours]
    plays = [a.play for a in accepted if a.play.operation_type != "logout"]
    assert sorted(p.event_id for p in plays) == sorted(honest_ids)  # each exactly once

    # The charts over what was accepted count the honest genre only ...
    counted = chart_of((PlayRecord.from_accepted(a.play) for a in accepted), RULES)
    assert dict(counted.all_time) == {genre: 2}
    # ... and the forgeries, had they been accepted, would have changed them.
    as_if = [PlayRecord.from_accepted(a.play) for a in accepted] + [
        PlayRecord(
            e.event_id,
            e.user_id,
            e.track_id,
            e.operation_type,
            to_epoch_ms(e.start_time),
            to_epoch_ms(e.event_time),
            e.duration_ms,
            e.genre,
        )
        for events in forged.values()
        for e in events
    ]
    assert dict(chart_of(as_if, RULES).all_time).get(other_genre, 0) >= 3

    # The real processor: every chart equals the reference over the accepted events.
    processor = isolated_processor
    ends = end_offsets(settings, Topic.PLAYS_ACCEPTED)

    wait_until(lambda: processor.charts.caught_up(ends), 180, "the processor reading it all")
    batch_ids = sorted(processor.charts.charts)
    assert batch_ids == list(range(len(batch_ids))), "a batch's chart is missing"
    reference = reference_charts(accepted_plays(settings), processor.charts.ends, batch_ids, RULES)
    for batch_id in batch_ids:
        published = processor.charts.charts[batch_id]
        assert comparable(published) == comparable(reference[batch_id]), batch_id
    assert processor.alive()
