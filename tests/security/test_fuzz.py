"""Fuzzing every input topic of the server and of the processor, straight on Kafka.

Hypothesis makes over 10,000 malformed, oversized, wrong-typed and hostile messages, spread
over the server's input topics (the four request topics and ``songs_tracker``) and the
processor's (``songs_tracker_accepted``, writable by anyone without ACLs), and they are
produced as fast as the broker takes them, while a real client keeps registering, logging
in, asking for songs and playing. Afterwards:

* the server and the processor are still running, the client's every round trip during the
  fuzz succeeded, one more after it does, and its plays were accepted;
* every bad message is on ``dead_letter`` exactly once, with a reason, from the component
  that owns the topic: per topic, dead letters == bad messages sent (matched by partition
  and offset), and nothing else from that stretch of the topic was dead-lettered.

"Bad" is what the component must refuse: a request the protocol codec cannot decode; on the
session topics also a well-formed request whose session proof does not open; every fuzzed
play (no fuzzed play carries a valid MAC from a live session); on the processor's topic a
record that is not a frame of valid ``AcceptedPlay`` lines (protocol/frames.py), including
frames that hide one bad line among good ones. Well-formed account requests are left out:
whether one is dead-lettered depends on what the server checks before it opens the (junk)
sealed account -- a registration past its client's rate limit, or a login with an unusable
reply key, gets an error reply only -- so ``test_sealed_junk_...`` sends such requests on
their own.

``BLUETRACK_FUZZ_SEED`` replays a run (the seed is printed).
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from confluent_kafka import Producer
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import BaseModel
from security_support import (
    PASSWORD,
    RunningProcessor,
    accepted_plays,
    dead_letters,
    play_pair,
    unique,
    wait_until,
)
from server_harness import import_test_catalogue, running_server, server_settings

from bluetrack.bus.api import BlueTrackClient
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.codec import MAX_REQUEST_BYTES
from bluetrack.protocol.envelope import format_utc, new_id, utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import (
    COLUMNS,
    PACKED_MAGIC,
    columnar_frame,
    decode_frame,
    pack_frame,
)
from bluetrack.protocol.messages import (
    LoginRequest,
    RegisterRequest,
    SessionAuthRequest,
    SongsRequest,
)
from bluetrack.protocol.plays import AcceptedPlay, PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.server.runner import Server

pytestmark = [pytest.mark.integration, pytest.mark.spark, pytest.mark.slow]

TOTAL_MESSAGES = 10_200
FUZZ_SEED = int(os.environ.get("BLUETRACK_FUZZ_SEED", random.randrange(2**32)))


def _b64(size: int) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode()


def _envelope(kind: str) -> dict[str, Any]:
    return {"version": 1, "type": kind, "request_id": new_id(), "client_id": "c" + new_id()}


def _templates() -> dict[Topic, tuple[type[BaseModel], dict[str, Any]]]:
    """A well-formed message per input topic; the fuzz breaks them. Sealed parts are junk."""
    now = utc_now()
    play = {
        "version": 1,
        "type": "play_event",
        "event_id": new_id(),
        "user_id": new_id(),
        "session_id": new_id(),
        "client_id": "c" + new_id(),
        "track_id": "track-0001",
        "operation_type": "start",
        "start_time": format_utc(now - timedelta(seconds=5)),
        "event_time": format_utc(now),
        "duration_ms": 180_000,
        "genre": "rock",
        "mac": secrets.token_hex(32),
    }
    accepted = {
        k: v for k, v in play.items() if k not in ("session_id", "client_id", "mac", "type")
    }
    accepted.update({"type": "play_accepted", "accepted_at": format_utc(now)})
    session = {"session_id": new_id(), "sealed_auth": _b64(140)}
    return {
        Topic.REGISTER_USER: (
            RegisterRequest,
            {**_envelope("register_user"), "sealed_registration": _b64(120), "reply_key": _b64(32)},
        ),
        Topic.LOGIN_USER: (
            LoginRequest,
            {**_envelope("login_user"), "sealed_credentials": _b64(90), "reply_key": _b64(32)},
        ),
        Topic.SESSION_AUTH: (
            SessionAuthRequest,
            {**_envelope("session_auth"), **session, "action": "validate"},
        ),
        Topic.SONGS_UPDATE: (SongsRequest, {**_envelope("songs_update"), **session, "genres": 3}),
        Topic.SONGS_TRACKER: (PlayEvent, play),
        Topic.PLAYS_ACCEPTED: (AcceptedPlay, accepted),
    }


# --- the generator ------------------------------------------------------------------------
HOSTILE_TEXT = [
    "' OR '1'='1",
    '"; DROP TABLE users; --',
    '{"$ne": null}',
    "$where",
    "../../../etc/passwd",
    "%s%s%s%n",
    "\u0000",
    "\u202eevil",
    "\r\nX-Injected: 1",
    "${jndi:ldap://127.0.0.1/x}",
    "<script>alert(1)</script>",
    "A" * 5000,
    "😀" * 70,
    "\ud800",
]
HOSTILE_KEYS = ["$where", "__proto__", "constructor", "$set", "is_admin", "", "user_id "]
HOSTILE_NUMBERS: list[Any] = [-1, 2**63, -(2**63) - 1, 10**30, 1.5, -0.0, 1e308, True]

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(HOSTILE_TEXT)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _with(template: dict[str, Any], key: str, value: Any) -> bytes:
    return _dumps({**template, key: value})


def _without(template: dict[str, Any], key: str) -> bytes:
    return _dumps({k: v for k, v in template.items() if k != key})


def _raw_junk(template: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    text = _dumps(template)
    return st.one_of(
        st.just(None),  # a tombstone
        st.binary(max_size=300),
        st.integers(0, len(text) - 1).map(lambda n: text[:n]),  # truncated
        st.tuples(st.integers(0, len(text) - 1), st.integers(0, 255)).map(
            lambda at: text[: at[0]] + bytes([at[1]]) + text[at[0] + 1 :]  # one byte changed
        ),
        json_value.map(_dumps).filter(lambda raw: not raw.startswith(b"{")),  # not an object
        st.integers(400, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(4400, 6000).map(lambda digits: b'{"version": ' + b"9" * digits + b"}"),
        st.sampled_from([b'{"version": NaN}', b'{"duration_ms": Infinity}', b"\xff\xfe{}"]),
        st.just(text[:-1] + b', "type": "x", "type": "y"}'),  # duplicate keys
    )


def _oversized(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.integers(MAX_REQUEST_BYTES + 1, 48_000).map(
        lambda size: _with(template, "padding", "x" * size)
    )


def _broken(template: dict[str, Any]) -> st.SearchStrategy[bytes]:
    keys = sorted(template)
    strings = [k for k in keys if isinstance(template[k], str)]
    return st.one_of(
        st.builds(_with, st.just(template), st.sampled_from(keys), json_value),  # wrong-typed
        st.builds(
            _with, st.just(template), st.sampled_from(keys), st.sampled_from(HOSTILE_NUMBERS)
        ),
        st.builds(
            _with, st.just(template), st.sampled_from(strings), st.sampled_from(HOSTILE_TEXT)
        ),
        st.builds(_without, st.just(template), st.sampled_from(keys)),  # missing
        st.builds(_with, st.just(template), st.sampled_from(HOSTILE_KEYS), json_value),  # extra
        st.builds(_with, st.just(template), st.just("version"), st.sampled_from([0, 2, "1", None])),
        st.builds(
            _with,
            st.just(template),
            st.just("type"),
            st.sampled_from(["", "play_event", "register_user", "top_genres", None, 7]),
        ),
    )


def messages_for(template: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    return st.one_of(_raw_junk(template), _oversized(template), _broken(template))


def frames_for(template: dict[str, Any]) -> st.SearchStrategy[bytes | None]:
    """Accepted plays travel in frames: also bad lines hidden among good ones, and packed
    frames (the server's form) with bad lines or a damaged header or body."""
    good = _dumps(template)
    line = st.one_of(_raw_junk(template), _broken(template)).map(lambda raw: raw or b"")
    hiding = st.tuples(st.integers(0, 5), line, st.integers(0, 5)).map(
        lambda parts: b"\n".join([good] * parts[0] + [parts[1]] + [good] * parts[2])
    )
    return st.one_of(
        messages_for(template),
        hiding,
        hiding.map(pack_frame),
        _damaged(st.integers(1, 5).map(lambda n: pack_frame(b"\n".join([good] * n)))),
        _columnar_frames(template),
        _damaged(_columnar_frames(template)),
    )


@st.composite
def _columnar_frames(draw: st.DrawFn, template: dict[str, Any]) -> bytes:
    """The server's form: good plays as columns, one value of one play changed to a value of
    the column's type that may break a rule, or to null."""
    count = draw(st.integers(1, 5))
    columns = {name: [template[name]] * count for name, _ in COLUMNS}
    name, kind = draw(st.sampled_from(COLUMNS))
    value = draw(
        st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1) if kind == "int64" else st.text())
    )
    columns[name][draw(st.integers(0, count - 1))] = value
    return columnar_frame(columns)


@st.composite
def _damaged(draw: st.DrawFn, packed_frames: st.SearchStrategy[bytes]) -> bytes:
    """A packed frame of good plays with its header or body spoiled."""
    packed = draw(packed_frames)
    header = len(PACKED_MAGIC) + 4
    how = draw(st.sampled_from(["length", "truncate", "flip", "extend"]))
    if how == "length":
        length = draw(st.integers(0, 2**32 - 1))
        return packed[: len(PACKED_MAGIC)] + length.to_bytes(4, "big") + packed[header:]
    if how == "truncate":
        return packed[: draw(st.integers(0, len(packed) - 1))]
    if how == "extend":
        return packed + draw(st.binary(min_size=1, max_size=16))
    at = draw(st.integers(header, len(packed) - 1))
    return packed[:at] + bytes([packed[at] ^ draw(st.integers(1, 255))]) + packed[at + 1 :]


def decodes(raw: bytes | None, model: type[BaseModel]) -> bool:
    try:
        codec.decode(raw, model)
    except DecodeError:
        return False
    return True


def frame_decodes(raw: bytes | None) -> bool:
    try:
        decode_frame(raw)
    except DecodeError:
        return False
    return True


def is_bad(topic: Topic, model: type[BaseModel], raw: bytes | None) -> bool:
    """Must the component owning ``topic`` refuse ``raw`` (and so dead-letter it)?"""
    if topic in (Topic.SESSION_AUTH, Topic.SONGS_UPDATE, Topic.SONGS_TRACKER):
        return True  # junk session proofs and MACs: refused even when well-formed
    if topic is Topic.PLAYS_ACCEPTED:
        return not frame_decodes(raw)
    return not decodes(raw, model)


def generate(
    topic: Topic, model: type[BaseModel], template: dict[str, Any], count: int
) -> list[bytes | None]:
    found: list[bytes | None] = []
    strategy = frames_for(template) if topic is Topic.PLAYS_ACCEPTED else messages_for(template)

    @seed(FUZZ_SEED + list(Topic).index(topic))
    @hypothesis_settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy.filter(lambda raw: is_bad(topic, model, raw)))
    def collect(raw: bytes | None) -> None:
        found.append(raw)

    collect()
    return found


# --- the system under fuzz ------------------------------------------------------------------
@pytest.fixture(scope="module")
def settings(isolated_kafka: Settings, mongo_client: Any) -> Iterator[Settings]:
    name = f"test_fuzz_{uuid.uuid4().hex[:12]}"
    import_test_catalogue(mongo_client[name], per_genre=2)
    made: Settings = server_settings(isolated_kafka, name)
    yield made
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[Server]:
    with running_server(settings) as running:
        yield running


@dataclass
class Sent:
    where: dict[tuple[str, int, int], Topic] = field(default_factory=dict)
    values: dict[tuple[str, int, int], bytes | None] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def delivered(self, topic: Topic) -> Callable[[Any, Any], None]:
        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                self.failed.append(str(err))
            else:
                self.where[(msg.topic(), msg.partition(), msg.offset())] = topic
                self.values[(msg.topic(), msg.partition(), msg.offset())] = msg.value()

        return on_delivery


@dataclass
class ValidTraffic:
    """A real user doing everything, over and over, while the fuzz runs."""

    settings: Settings
    round_trips: int = 0
    slowest_s: float = 0.0
    played: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def round_trip(self) -> None:
        client = BlueTrackClient(self.settings)
        try:
            began = time.monotonic()
            name = unique("real")
            client.register(name, f"{name}@example.com", PASSWORD)
            session = client.login(name, PASSWORD)
            shelf = client.songs(session)[0]
            events = play_pair(client, session, shelf.tracks[0], shelf.genre)
            assert client.flush() == 0
            self.played += [e.event_id for e in events]
            self.slowest_s = max(self.slowest_s, time.monotonic() - began)
            self.round_trips += 1
        except Exception as exc:  # any failure of a real user is what this test is about
            self.errors.append(repr(exc))
        finally:
            client.close()

    def run_until(self, done: threading.Event) -> None:
        while not done.is_set():
            self.round_trip()


@dataclass
class FuzzRun:
    """What one fuzz run sent and how long each part took."""

    sent: Sent
    traffic: ValidTraffic
    total: int
    oversized: int
    generated_s: float
    produced_s: float
    server_drained_s: float
    processor_caught_up_s: float
    chart_before: int


def _produce(settings: Settings, fuzz: dict[Topic, list[bytes | None]]) -> Sent:
    sent = Sent()
    producer = Producer(
        {**settings.kafka_client_config(), "linger.ms": 20, "compression.type": "lz4"}
    )
    interleaved = [(t, raw) for t, batch in fuzz.items() for raw in batch]
    random.Random(FUZZ_SEED).shuffle(interleaved)
    for topic, raw in interleaved:
        while True:
            try:
                producer.produce(topic, raw, on_delivery=sent.delivered(topic))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert not sent.failed, sent.failed[:3]
    return sent


def _processor_read_past(processor: RunningProcessor, sent: Sent) -> bool:
    wanted: dict[int, int] = {}
    for name, partition, offset in sent.where:
        if name == Topic.PLAYS_ACCEPTED:
            wanted[partition] = max(wanted.get(partition, 0), offset + 1)
    return processor.charts.caught_up(wanted)


@pytest.fixture(scope="module")
def fuzz_messages() -> Iterator[Future[tuple[dict[Topic, list[bytes | None]], float]]]:
    """The fuzz, generated on a thread while the server and the processor start up."""

    def make() -> tuple[dict[Topic, list[bytes | None]], float]:
        began = time.monotonic()
        templates = _templates()
        per_topic = -(-TOTAL_MESSAGES // len(templates))
        fuzz = {
            topic: generate(topic, model, template, per_topic)
            for topic, (model, template) in templates.items()
        }
        return fuzz, time.monotonic() - began

    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(make)


@pytest.fixture(scope="module")
def fuzz_run(
    fuzz_messages: Future[tuple[dict[Topic, list[bytes | None]], float]],
    settings: Settings,
    server: Server,
    isolated_processor: RunningProcessor,
) -> Iterator[FuzzRun]:
    fuzz, generated_s = fuzz_messages.result()
    total = sum(len(batch) for batch in fuzz.values())
    oversized = sum(len(raw or b"") > MAX_REQUEST_BYTES for b in fuzz.values() for raw in b)

    processor = isolated_processor
    chart_before = max(processor.charts.charts)
    # Junk ahead of a real request on its partition is handled first (≈400 messages/s here):
    # the real user waits for it, so it gets a timeout long enough to be served, and the
    # slowest round trip is reported.
    traffic = ValidTraffic(settings.model_copy(update={"request_timeout_s": 90.0}))
    done = threading.Event()
    user = threading.Thread(target=traffic.run_until, args=(done,))
    user.start()
    began = time.monotonic()
    try:
        sent = _produce(settings, fuzz)
        produced_s = time.monotonic() - began
        server_topics = sum(t is not Topic.PLAYS_ACCEPTED for t in sent.where.values())

        def server_done() -> bool:
            return sum(
                t is not Topic.PLAYS_ACCEPTED for t in _lettered(settings, sent).values()
            ) >= (server_topics)

        wait_until(server_done, 120, "the server's dead letters", 2.0)
        server_drained_s = time.monotonic() - began
    finally:
        done.set()
        user.join(120)
    wait_until(lambda: _processor_read_past(processor, sent), 120, "the processor's batches", 1.0)
    yield FuzzRun(
        sent,
        traffic,
        total,
        oversized,
        generated_s,
        produced_s,
        server_drained_s,
        time.monotonic() - began,
        chart_before,
    )


def _lettered(settings: Settings, sent: Sent) -> dict[tuple[str, int, int], Topic]:
    """Fuzzed messages that have a dead letter (by source topic, partition and offset)."""
    return {w: sent.where[w] for w, _ in _letters_for(settings, sent)}


def _check_topics(settings: Settings, run: FuzzRun, topics: set[Topic], owner: str) -> str:
    """Dead letters == bad messages sent, per topic, each once, with a reason; a summary."""
    sent = run.sent
    letters = [(w, d) for w, d in _letters_for(settings, sent) if sent.where[w] in topics]
    ours = {w: t for w, t in sent.where.items() if t in topics}
    lettered = {w for w, _ in letters}
    missing = sorted(set(ours) - lettered)
    examples = [(str(ours[w]), (sent.values[w] or b"")[:120]) for w in missing[:8]]
    assert not missing, f"{len(missing)} bad messages without a dead letter, e.g. {examples}"
    counted = Counter(w for w, _ in letters)
    assert max(counted.values()) == 1, "a bad message was dead-lettered twice"
    assert Counter(ours[w] for w, _ in letters) == Counter(ours.values())
    for _, letter in letters:
        assert letter.component == owner and letter.reason, letter
    # Nothing else from the fuzzed stretch of these topics was refused (the real user wasn't).
    first: dict[tuple[str, int], int] = {}
    for name, partition, offset in ours:
        first[(name, partition)] = min(first.get((name, partition), offset), offset)
    stray = [
        d
        for d in dead_letters(settings)
        if d.partition is not None
        and d.offset is not None
        and d.offset >= first.get((d.source_topic, d.partition), 1 << 62)
        and (d.source_topic, d.partition, d.offset) not in sent.where
    ]
    assert not stray, [(d.source_topic, d.code, d.reason) for d in stray[:5]]
    codes = Counter(letter.code.value for _, letter in letters)
    return f"per topic {dict(Counter(ours.values()))}, codes {dict(codes)}"


def test_the_server_dead_letters_every_bad_message_and_keeps_serving(
    settings: Settings, server: Server, fuzz_run: FuzzRun
) -> None:
    run, traffic = fuzz_run, fuzz_run.traffic
    assert run.total >= 10_000
    assert server.requests is not None and server.plays is not None
    assert not traffic.errors, traffic.errors[:3]
    during = traffic.round_trips
    assert during >= 1, "no real round trip finished while the fuzz ran"
    traffic.round_trip()  # and after
    assert not traffic.errors and traffic.round_trips == during + 1
    wait_until(
        lambda: set(traffic.played) <= {a.play.event_id for a in accepted_plays(settings)},
        30,
        "the real user's plays accepted",
    )
    server_topics: set[Topic] = {t for t in Topic if t is not Topic.PLAYS_ACCEPTED}
    summary = _check_topics(settings, run, server_topics, "server")
    for w, letter in _letters_for(settings, run.sent):
        if (
            run.sent.where[w] is not Topic.PLAYS_ACCEPTED
            and letter.payload_bytes > MAX_REQUEST_BYTES
        ):
            assert letter.code is ErrorCode.MESSAGE_TOO_LARGE, letter
    print(
        f"\nfuzz seed {FUZZ_SEED}: {run.total} bad messages ({run.oversized} oversized), "
        f"generated in {run.generated_s:.1f} s, produced in {run.produced_s:.1f} s; the "
        f"server's all dead-lettered {run.server_drained_s:.1f} s after the first was sent; "
        f"{summary}; {during} real round trips during the fuzz (slowest "
        f"{traffic.slowest_s:.1f} s) and one after, {len(traffic.played)} real plays accepted"
    )


def test_the_processor_keeps_charting_through_the_fuzz(
    fuzz_run: FuzzRun, isolated_processor: RunningProcessor
) -> None:
    processor = isolated_processor
    assert processor.alive()
    after = processor.chart_after(fuzz_run.chart_before + 1)
    print(
        f"\nprocessor read past every fuzzed record {fuzz_run.processor_caught_up_s:.1f} s after "
        f"the first was sent; charted batch {after.batch_id} after the fuzz"
    )
    assert processor.alive()


def test_the_processor_dead_letters_every_bad_record(settings: Settings, fuzz_run: FuzzRun) -> None:
    print("\n" + _check_topics(settings, fuzz_run, {Topic.PLAYS_ACCEPTED}, "processor"))


def _letters_for(settings: Settings, sent: Sent) -> list[tuple[tuple[str, int, int], Any]]:
    found = []
    for letter in dead_letters(settings):
        if letter.partition is None or letter.offset is None:
            continue
        where = (letter.source_topic, letter.partition, letter.offset)
        if where in sent.where:
            found.append((where, letter))
    return found


def test_sealed_junk_on_register_and_login_is_dead_lettered(
    settings: Settings, server: Server
) -> None:
    junk: dict[Topic, list[bytes | None]] = {Topic.REGISTER_USER: [], Topic.LOGIN_USER: []}
    for _ in range(5):
        templates = _templates()  # fresh request and client ids each time
        for topic, batch in junk.items():
            model, message = templates[topic]
            assert decodes(_dumps(message), model)  # well-formed: only the box is junk
            batch.append(_dumps(message))
    sent = _produce(settings, junk)
    wait_until(
        lambda: len(_lettered(settings, sent)) >= len(sent.where),
        15,
        "a dead letter for every request whose sealed account does not open",
    )
