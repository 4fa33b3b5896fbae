"""Every flow through the controller and its worker threads, against recorded replies."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gui_support import ManualClock
from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from bluetrack.client.app import Client
from bluetrack.client.exceptions import FailureKind, GatewayError
from bluetrack.client.recorded import RecordedGateway, RecordedSession, Recording
from bluetrack.client.session_store import SessionStore
from bluetrack.client.workers import RequestRunner

pytestmark = pytest.mark.gui

DOWN = GatewayError(FailureKind.UNAVAILABLE, "Kafka is not reachable")
SILENT = GatewayError(FailureKind.TIMEOUT, "no reply to songs_update within 2s")


def _log_in(qtbot: QtBot, client: Client, login: str = "ada", remember: bool = False) -> None:
    page = client.window.login_page
    page.login.edit.setText(login)
    page.password.edit.setText("correct horse")
    page.remember.setChecked(remember)
    with qtbot.waitSignal(client.controller.shelves_loaded, timeout=5_000):
        page.submit_button.click()


# --- register -------------------------------------------------------------------------------------
def test_registering_leads_to_the_login_page_with_the_name_filled_in(
    qtbot: QtBot, client: Client, gateway: RecordedGateway
) -> None:
    window = client.window
    qtbot.mouseClick(window.login_page.to_register, Qt.MouseButton.LeftButton)
    assert window.current_page() is window.register_page
    page = window.register_page
    page.username.edit.setText("grace")
    page.email.edit.setText("grace@example.com")
    page.password.edit.setText("a long enough one")
    with qtbot.waitSignal(client.controller.registered, timeout=5_000):
        page.submit_button.click()
    assert window.current_page() is window.login_page
    assert window.login_page.login.text == "grace"
    assert "Account created" in window.login_page.message.text()
    assert gateway.calls_to("register") == 1


def test_a_taken_username_is_said_in_plain_words_under_the_field(
    qtbot: QtBot, client: Client, gateway: RecordedGateway, recording: Recording
) -> None:
    gateway.fail_next("register", recording.error("register_user_response.username_taken"))
    window = client.window
    window.show_page(window.register_page)
    page = window.register_page
    page.username.edit.setText("ada")
    page.email.edit.setText("ada@example.com")
    page.password.edit.setText("a long enough one")
    with qtbot.waitSignal(client.controller.requests.failed, timeout=5_000):
        page.submit_button.click()
    assert page.username.problem.text() == "That username is already taken. Try another one."
    assert "already taken" in page.message.text()
    assert page.submit_button.isEnabled()
    assert window.current_page() is page


# --- log in and the main page ---------------------------------------------------------------------
def test_login_shows_twenty_shelves_and_the_users_name(
    qtbot: QtBot, client: Client, recording: Recording
) -> None:
    _log_in(qtbot, client)
    main = client.window.main_page
    assert client.window.current_page() is main
    assert len(main.shelves.rows) == len(recording.shelves()) == 20
    assert main.user.text() == "ada"
    assert main.shelves.tiles()[0].hasFocus()  # ready for Space


def test_a_wrong_password_is_said_in_plain_words(
    qtbot: QtBot, client: Client, gateway: RecordedGateway, recording: Recording
) -> None:
    gateway.fail_next("login", recording.error("login_user_response.invalid_credentials"))
    page = client.window.login_page
    page.login.edit.setText("ada")
    page.password.edit.setText("wrong one")
    with qtbot.waitSignal(client.controller.requests.failed, timeout=5_000):
        page.submit_button.click()
    assert page.message.text() == "Wrong username, e-mail or password."
    assert client.window.current_page() is page


def test_refresh_asks_for_a_new_set_of_shelves(
    qtbot: QtBot, client: Client, gateway: RecordedGateway
) -> None:
    _log_in(qtbot, client)
    with qtbot.waitSignal(client.controller.shelves_loaded, timeout=5_000):
        client.window.main_page.refresh_button.click()
    assert gateway.calls_to("songs") == 2


def test_the_chart_panel_follows_the_charts_as_they_arrive(
    qtbot: QtBot, client: Client, gateway: RecordedGateway, recording: Recording
) -> None:
    _log_in(qtbot, client)
    panel = client.window.main_page.chart
    for chart in recording.charts():
        with qtbot.waitSignal(panel.chart_shown, timeout=5_000):
            gateway.publish_chart(chart)
        assert panel.chart == chart
        assert panel.genres_shown() == [e.genre for e in chart.now.entries]


# --- plays ----------------------------------------------------------------------------------------
def _toggle(qtbot: QtBot, client: Client, index: int) -> None:
    tile = client.window.main_page.shelves.tiles()[index]
    with qtbot.waitSignal(client.controller.play_sent, timeout=5_000):
        tile.toggled.emit(tile.track, tile.genre)


def _sent(gateway: RecordedGateway) -> list[tuple[str, str]]:
    return [(p.operation_type, p.track_id) for p in gateway.plays]


def test_play_stop_and_one_track_at_a_time(
    qtbot: QtBot, client: Client, gateway: RecordedGateway
) -> None:
    _log_in(qtbot, client)
    tiles = client.window.main_page.shelves.tiles()
    first, second = tiles[0].track.track_id, tiles[1].track.track_id
    _toggle(qtbot, client, 0)
    assert client.window.main_page.player.title.full_text() == tiles[0].track.name
    assert tiles[0].playing
    tiles[1].toggled.emit(tiles[1].track, tiles[1].genre)  # stops the first, starts this one
    qtbot.waitUntil(lambda: len(gateway.plays) == 3, timeout=5_000)
    _toggle(qtbot, client, 1)  # the same tile again: stop
    assert _sent(gateway) == [
        ("start", first),
        ("stop", first),
        ("start", second),
        ("stop", second),
    ]
    assert not any(t.playing for t in tiles)
    assert gateway.plays[0].genre == tiles[0].genre


def test_the_player_bar_ends_the_play_at_the_track_duration(
    qtbot: QtBot, client: Client, gateway: RecordedGateway, clock: ManualClock
) -> None:
    _log_in(qtbot, client)
    tile = client.window.main_page.shelves.tiles()[0]
    _toggle(qtbot, client, 0)
    clock.advance(tile.track.duration_ms / 1000 + 1)
    with qtbot.waitSignal(client.controller.play_sent, timeout=5_000) as sent:
        pass  # the player's next tick ends the track
    assert sent.args[0].operation_type == "end"
    assert client.window.main_page.player.title.full_text() == "Nothing playing"


def test_a_play_that_could_not_be_sent_is_sent_once_the_broker_is_back(
    qtbot: QtBot, client: Client, gateway: RecordedGateway
) -> None:
    _log_in(qtbot, client)
    gateway.fail_next("play", DOWN, times=2)
    tile = client.window.main_page.shelves.tiles()[0]
    with qtbot.waitSignal(client.controller.play_sent, timeout=5_000):
        tile.toggled.emit(tile.track, tile.genre)
    assert gateway.calls_to("play") == 3
    assert _sent(gateway) == [("start", tile.track.track_id)]


# --- sessions -----------------------------------------------------------------------------------
def test_remember_me_keeps_the_session_in_a_private_file(
    qtbot: QtBot, client: Client, config_dir: Path
) -> None:
    _log_in(qtbot, client, remember=True)
    saved = SessionStore(config_dir).path
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert RecordedSession.from_json(saved.read_text()).username == "ada"


def test_without_remember_me_nothing_is_kept(
    qtbot: QtBot, client: Client, config_dir: Path
) -> None:
    _log_in(qtbot, client, remember=False)
    assert SessionStore(config_dir).load() is None


def test_a_remembered_session_is_resumed_at_start(
    qtbot: QtBot,
    make_client: Callable[..., Client],
    gateway: RecordedGateway,
    recording: Recording,
    config_dir: Path,
) -> None:
    _remember(recording, config_dir)
    client = make_client()
    with qtbot.waitSignal(client.controller.shelves_loaded, timeout=5_000):
        client.start()
    assert gateway.calls_to("validate") == 1
    assert gateway.calls_to("login") == 0
    assert client.window.current_page() is client.window.main_page


def test_an_ended_remembered_session_is_forgotten(
    qtbot: QtBot,
    make_client: Callable[..., Client],
    gateway: RecordedGateway,
    recording: Recording,
    config_dir: Path,
) -> None:
    _remember(recording, config_dir)
    gateway.fail_next("validate", recording.error("session_auth_response.invalid_session"))
    client = make_client()
    with qtbot.waitSignal(client.controller.requests.failed, timeout=5_000):
        client.start()
    assert client.window.current_page() is client.window.login_page
    assert "session has ended" in client.window.login_page.message.text()
    assert SessionStore(config_dir).load() is None


def _remember(recording: Recording, config_dir: Path) -> None:
    reply = recording.reply("login_user_response.ok")
    session = RecordedSession("u" * 12, "ada", "s" * 12, reply.expires_at)  # type: ignore[attr-defined]
    SessionStore(config_dir).save(session.to_json())


def test_logout_stops_the_play_then_ends_the_session(
    qtbot: QtBot, client: Client, gateway: RecordedGateway, config_dir: Path
) -> None:
    _log_in(qtbot, client, remember=True)
    _toggle(qtbot, client, 0)
    with qtbot.waitSignal(client.controller.logged_out, timeout=5_000):
        client.window.main_page.logout_button.click()
    qtbot.waitUntil(lambda: gateway.calls_to("logout") == 1, timeout=5_000)
    assert gateway.calls[-2:] == ["play", "logout"]  # the stop went out first
    assert _sent(gateway)[-1][0] == "stop"
    assert client.window.current_page() is client.window.login_page
    assert SessionStore(config_dir).load() is None


def test_an_expired_session_while_browsing_returns_to_login(
    qtbot: QtBot, client: Client, gateway: RecordedGateway, recording: Recording
) -> None:
    _log_in(qtbot, client)
    gateway.fail_next("songs", recording.error("session_auth_response.invalid_session"))
    with qtbot.waitSignal(client.controller.logged_out, timeout=5_000):
        client.window.main_page.refresh_button.click()
    assert "log in again" in client.window.login_page.message.text()


# --- outages --------------------------------------------------------------------------------------
def test_a_broker_outage_is_shown_and_heals_by_itself(
    qtbot: QtBot, client: Client, gateway: RecordedGateway
) -> None:
    qtbot.waitUntil(
        lambda: client.window.status_text.accessibleName() == "Connected", timeout=5_000
    )
    down = "Can't reach the message broker. Retrying…"
    with qtbot.waitSignal(
        client.controller.status_changed, timeout=5_000, check_params_cb=lambda t: t == down
    ):
        gateway.break_chart_feed(DOWN)
    assert client.window.status_text.property("trouble")
    # The chart worker reopens the feed by itself (retry_s is 0.2 s here).
    qtbot.waitUntil(
        lambda: client.window.status_text.accessibleName() == "Connected", timeout=5_000
    )
    assert gateway.calls_to("charts") >= 2


def test_a_silent_server_is_shown_and_the_shelves_come_once_it_answers(
    qtbot: QtBot, client: Client, gateway: RecordedGateway
) -> None:
    gateway.fail_next("songs", SILENT, times=2)
    page = client.window.login_page
    page.login.edit.setText("ada")
    page.password.edit.setText("correct horse")
    silent = "The server isn't answering. Retrying…"
    with qtbot.waitSignal(
        client.controller.status_changed, timeout=5_000, check_params_cb=lambda t: t == silent
    ):
        page.submit_button.click()
    assert "didn't answer in time" in client.window.main_page.subtitle.text()
    with qtbot.waitSignal(client.controller.shelves_loaded, timeout=5_000):
        pass  # retried by itself
    assert gateway.calls_to("songs") == 3
    assert client.window.status_text.accessibleName() == "Connected"


def test_the_window_keeps_responding_while_a_request_is_slow(
    qtbot: QtBot, make_client: Callable[..., Client], gateway: RecordedGateway
) -> None:
    gateway.delay_s = 1.0
    client = make_client()
    client.start()
    ticks: list[float] = []
    timer = QTimer(interval=50)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    page = client.window.login_page
    page.login.edit.setText("ada")
    page.password.edit.setText("correct horse")
    with qtbot.waitSignal(client.controller.logged_in, timeout=5_000):
        page.submit_button.click()
        assert not page.submit_button.isEnabled()  # busy, but the event loop runs
    timer.stop()
    assert len(ticks) >= 10  # the UI thread kept serving events during the 1 s call


def test_a_hung_call_times_out_with_a_clear_message(qtbot: QtBot) -> None:
    release = threading.Event()

    class Hung:
        def close(self) -> None:
            release.set()

    runner = RequestRunner(Hung(), deadline_s=0.3)  # type: ignore[arg-type]
    errors: list[GatewayError] = []
    with qtbot.waitSignal(runner.failed, timeout=3_000):
        runner.submit("songs", lambda g: release.wait(10), on_failed=errors.append)
    assert errors[0].kind is FailureKind.TIMEOUT
    with qtbot.waitSignal(runner.succeeded, timeout=3_000):
        runner.submit("next", lambda g: "fresh worker")  # not stuck behind the hung call
    release.set()
    runner.stop()


# --- language -------------------------------------------------------------------------------------
def test_the_polish_client_speaks_polish(
    qtbot: QtBot, make_client: Callable[..., Client], gateway: RecordedGateway, recording: Recording
) -> None:
    client = make_client(language="pl")
    client.start()
    page = client.window.login_page
    assert page.submit_button.text() == "Zaloguj się"
    gateway.fail_next("login", recording.error("login_user_response.throttled"))
    page.login.edit.setText("ada")
    page.password.edit.setText("correct horse")
    with qtbot.waitSignal(client.controller.requests.failed, timeout=5_000):
        page.submit_button.click()
    assert page.message.text() == (
        "Zbyt wiele prób. Odczekaj chwilę i spróbuj ponownie. Spróbuj ponownie za 30 sekund."
    )
