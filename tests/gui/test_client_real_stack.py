"""Every page and flow of the client against the REAL stack: Kafka and FerretDB of the
session stack, and a server running in this process over them.

The Spark processor is not running here, so the chart test publishes a ChartMessage on
top_genres itself, as the processor would.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from pytestqt.qtbot import QtBot

from bluetrack.bus.api import BlueTrackClient
from bluetrack.bus.assign import partitions_of
from bluetrack.bus.exceptions import RequestFailed
from bluetrack.bus.kafka import flush, make_producer, publish
from bluetrack.bus.session import Session
from bluetrack.client.app import Client
from bluetrack.client.gateway import BusGateway
from bluetrack.client.recorded import Recording
from bluetrack.client.session_store import SessionStore
from bluetrack.config import Settings
from bluetrack.protocol import codec
from bluetrack.protocol.envelope import utc_now
from bluetrack.protocol.errors import ErrorCode
from bluetrack.protocol.exceptions import DecodeError
from bluetrack.protocol.frames import decode_frame
from bluetrack.protocol.messages import Shelf
from bluetrack.protocol.plays import AcceptedPlay, PlayEvent
from bluetrack.protocol.topics import Topic
from bluetrack.server.runner import Server, stores_for

pytestmark = [pytest.mark.integration, pytest.mark.gui]

PASSWORD = "correct horse battery"
FIRST_REPLY_MS = 60_000  # the first request also fetches the server key and assigns partitions
REPLY_MS = 30_000


class RecordedCatalogue:
    """The server's catalogue: the twenty recorded shelves (real dataset rows)."""

    def __init__(self, shelves: list[Shelf]) -> None:
        self._shelves = shelves

    def random_shelves(self, n_genres: int, per_genre: int, rng: random.Random) -> Sequence[Shelf]:
        chosen = rng.sample(self._shelves, min(n_genres, len(self._shelves)))
        return [
            Shelf(genre=s.genre, tracks=rng.sample(s.tracks, min(per_genre, len(s.tracks))))
            for s in chosen
        ]

    def track_index(self) -> Mapping[str, Any]:
        return {
            t.track_id: {"duration_ms": t.duration_ms, "genres": [s.genre]}
            for s in self._shelves
            for t in s.tracks
        }


@pytest.fixture(scope="module")
def db(mongo_client: Any) -> Iterator[Any]:
    name = f"test_client_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def settings(stack_settings: Settings, db: Any) -> Settings:
    return stack_settings.model_copy(
        update={"mongodb_db": db.name, "bcrypt_cost": 4, "request_timeout_s": 20.0}
    )


@pytest.fixture(scope="module")
def server(settings: Settings, db: Any, recording: Recording) -> Iterator[Server]:
    catalogue = RecordedCatalogue(recording.shelves())
    server = Server(settings, stores=lambda _: stores_for(db, catalogue))
    server.start()
    try:
        assert server.wait_ready(60), "the server's consumers got no partitions"
        yield server
    finally:
        server.stop()


@pytest.fixture
def real_client(
    qtbot: QtBot, settings: Settings, server: Server, config_dir: Path
) -> Iterator[Callable[[], Client]]:
    """Factory of clients over the real bus (BusGateway), all sharing one config dir."""
    made: list[Client] = []

    def make() -> Client:
        client = Client(
            BusGateway(settings),
            config_dir,
            language="en",
            request_timeout_s=settings.request_timeout_s,
            retry_s=1.0,
        )
        qtbot.addWidget(client.window)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def _name() -> str:
    return f"gui{uuid.uuid4().hex[:10]}"


def _register(qtbot: QtBot, client: Client, name: str) -> None:
    window = client.window
    window.show_page(window.register_page)
    page = window.register_page
    page.username.edit.setText(name)
    page.email.edit.setText(f"{name}@example.com")
    page.password.edit.setText(PASSWORD)
    with qtbot.waitSignal(client.controller.registered, timeout=FIRST_REPLY_MS):
        page.submit_button.click()


def _log_in(qtbot: QtBot, client: Client, login: str, *, remember: bool = False) -> Session:
    page = client.window.login_page
    page.login.edit.setText(login)
    page.password.edit.setText(PASSWORD)
    page.remember.setChecked(remember)
    with (
        qtbot.waitSignal(client.controller.logged_in, timeout=REPLY_MS) as logged_in,
        qtbot.waitSignal(client.controller.shelves_loaded, timeout=REPLY_MS),
    ):
        page.submit_button.click()
    session = logged_in.args[0]
    assert isinstance(session, Session)
    return session


def _accepted(settings: Settings, event_ids: set[str], timeout_s: float = 30.0) -> list[str]:
    """The operations the server accepted for ``event_ids``, read from the accepted-plays topic."""
    return _operations_on(settings, Topic.PLAYS_ACCEPTED, event_ids, timeout_s)


def _plays_in(topic: Topic, value: bytes | None) -> list[AcceptedPlay] | list[PlayEvent]:
    """Plays on songs_tracker are one per record; accepted ones come in frames. Records that
    are not plays (other tests on this broker send malformed ones on purpose) hold none."""
    try:
        if topic == Topic.PLAYS_ACCEPTED:
            return decode_frame(value)
        return [codec.decode(value, PlayEvent, max_bytes=codec.MAX_REPLY_BYTES)]
    except DecodeError:
        return []


def _operations_on(
    settings: Settings,
    topic: Topic,
    event_ids: set[str],
    timeout_s: float = 30.0,
) -> list[str]:
    """The operation of each of ``event_ids`` found on ``topic`` (in event id order)."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"t-{uuid.uuid4().hex}"})
    try:
        consumer.assign(
            [TopicPartition(topic, p, 0) for p in partitions_of(consumer, topic, timeout_s)]
        )
        found: dict[str, str] = {}
        deadline = utc_now().timestamp() + timeout_s
        while set(found) != event_ids and utc_now().timestamp() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            for play in _plays_in(topic, msg.value()):
                if play.event_id in event_ids:
                    found[play.event_id] = play.operation_type
        return [found[e] for e in sorted(found)]
    finally:
        consumer.close()


def test_register_log_in_play_stop_and_log_out(
    qtbot: QtBot, real_client: Callable[[], Client], settings: Settings, config_dir: Path
) -> None:
    client = real_client()
    client.start()
    name = _name()
    _register(qtbot, client, name)
    assert client.window.current_page() is client.window.login_page
    assert client.window.login_page.login.text == name

    session = _log_in(qtbot, client, f"{name}@example.com", remember=True)  # by e-mail
    main = client.window.main_page
    assert client.window.current_page() is main
    assert len(main.shelves.rows) == settings.songs_genres == 20
    assert main.user.text() == name
    assert SessionStore(config_dir).load() is not None

    tiles = main.shelves.tiles()
    sent: list[PlayEvent] = []
    client.controller.play_sent.connect(sent.append)
    tiles[0].toggled.emit(tiles[0].track, tiles[0].genre)
    qtbot.waitUntil(lambda: len(sent) == 1, timeout=REPLY_MS)
    tiles[1].toggled.emit(tiles[1].track, tiles[1].genre)  # stops the first, starts this one
    qtbot.waitUntil(lambda: len(sent) == 3, timeout=REPLY_MS)
    main.player.stop_button.click()
    qtbot.waitUntil(lambda: len(sent) == 4, timeout=REPLY_MS)
    assert [e.operation_type for e in sent] == ["start", "stop", "start", "stop"]
    accepted = _accepted(settings, {e.event_id for e in sent})
    assert sorted(accepted) == ["start", "start", "stop", "stop"]  # the server verified all

    with qtbot.waitSignal(client.controller.logged_out, timeout=REPLY_MS):
        main.logout_button.click()
    qtbot.waitUntil(lambda: client.controller.requests.pending == 0, timeout=REPLY_MS)
    assert SessionStore(config_dir).load() is None
    checker = BlueTrackClient(settings)
    try:
        with pytest.raises(RequestFailed) as ended:
            checker.validate(session)
        assert ended.value.info.code in {ErrorCode.INVALID_SESSION, ErrorCode.SESSION_EXPIRED}
    finally:
        checker.close()


def test_server_refusals_are_shown_in_plain_words(
    qtbot: QtBot, real_client: Callable[[], Client]
) -> None:
    client = real_client()
    client.start()
    name = _name()
    _register(qtbot, client, name)
    window = client.window
    window.show_page(window.register_page)
    page = window.register_page
    page.username.edit.setText(name)
    page.email.edit.setText(f"other-{name}@example.com")
    page.password.edit.setText(PASSWORD)
    with qtbot.waitSignal(client.controller.requests.failed, timeout=REPLY_MS):
        page.submit_button.click()
    assert page.username.problem.text() == "That username is already taken. Try another one."

    window.show_page(window.login_page)
    login = window.login_page
    login.login.edit.setText(name)
    login.password.edit.setText("not the password")
    with qtbot.waitSignal(client.controller.requests.failed, timeout=REPLY_MS):
        login.submit_button.click()
    assert login.message.text() == "Wrong username, e-mail or password."


def test_a_remembered_session_resumes_at_start(
    qtbot: QtBot, real_client: Callable[[], Client]
) -> None:
    first = real_client()
    first.start()
    name = _name()
    _register(qtbot, first, name)
    _log_in(qtbot, first, name, remember=True)
    first.close()

    second = real_client()
    with qtbot.waitSignal(second.controller.shelves_loaded, timeout=FIRST_REPLY_MS):
        second.start()
    assert second.window.current_page() is second.window.main_page
    assert second.window.main_page.user.text() == name


def test_the_chart_panel_updates_when_a_chart_arrives(
    qtbot: QtBot, real_client: Callable[[], Client], settings: Settings, recording: Recording
) -> None:
    client = real_client()
    client.start()
    name = _name()
    _register(qtbot, client, name)
    _log_in(qtbot, client, name)
    qtbot.waitUntil(
        lambda: client.window.status_text.accessibleName() == "Connected", timeout=REPLY_MS
    )
    chart = recording.charts()[1].model_copy(
        update={"batch_id": random.randrange(10**6, 10**9), "computed_at": utc_now()}
    )
    producer = make_producer(settings)
    panel = client.window.main_page.chart
    with qtbot.waitSignal(
        panel.chart_shown, timeout=REPLY_MS, check_params_cb=lambda c: c.batch_id == chart.batch_id
    ):
        publish(producer, Topic.TOP_GENRES, chart)
        flush(producer, 10)
    assert panel.genres_shown() == [e.genre for e in chart.now.entries]
    assert chart.computed_at.astimezone().strftime("%H:%M:%S") in panel.caption.text()


@pytest.mark.slow
def test_a_broker_outage_is_shown_and_the_client_recovers_by_itself(
    qtbot: QtBot, real_client: Callable[[], Client], settings: Settings, stack_control: Any
) -> None:
    client = real_client()
    client.start()
    name = _name()
    _register(qtbot, client, name)
    _log_in(qtbot, client, name)
    status = client.window.status_text
    qtbot.waitUntil(lambda: status.accessibleName() == "Connected", timeout=REPLY_MS)

    stack_control.stop("kafka")
    qtbot.waitUntil(
        lambda: status.accessibleName() == "Can't reach the message broker. Retrying…",
        timeout=REPLY_MS,
    )
    panel = client.window.main_page.chart
    panel.buttons.buttons()[1].click()  # the window still answers
    assert panel.ranking == "trending"

    stack_control.start("kafka")
    qtbot.waitUntil(lambda: status.accessibleName() == "Connected", timeout=FIRST_REPLY_MS)
    tile = client.window.main_page.shelves.tiles()[0]
    with qtbot.waitSignal(client.controller.play_sent, timeout=FIRST_REPLY_MS) as sent:
        tile.toggled.emit(tile.track, tile.genre)
    # Delivered to Kafka once it was back (the server's own recovery is tested elsewhere).
    assert _operations_on(settings, Topic.SONGS_TRACKER, {sent.args[0].event_id}) == ["start"]
