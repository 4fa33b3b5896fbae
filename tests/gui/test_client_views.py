"""Each view on its own, fed with recorded protocol messages; no gateway, no threads."""

from __future__ import annotations

import pytest
from PySide6.QtCharts import QHorizontalBarSeries
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from bluetrack.client.recorded import Recording
from bluetrack.client.views.chart_panel import ChartPanel
from bluetrack.client.views.login import LoginPage
from bluetrack.client.views.main_page import MainPage
from bluetrack.client.views.main_window import MINIMUM_SIZE, MainWindow
from bluetrack.client.views.player_bar import PlayerBar
from bluetrack.client.views.register import RegisterPage
from bluetrack.client.views.shelves import ShelvesView
from bluetrack.protocol.charts import Ranking

pytestmark = pytest.mark.gui


# --- register -----------------------------------------------------------------------------------
@pytest.fixture
def register_page(qtbot: QtBot) -> RegisterPage:
    page = RegisterPage()
    qtbot.addWidget(page)
    page.show()
    return page


def _type(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    qtbot.keyClicks(edit, text)


def test_register_checks_each_field_by_the_server_rules(
    qtbot: QtBot, register_page: RegisterPage
) -> None:
    _type(qtbot, register_page.username.edit, "ab")
    _type(qtbot, register_page.email.edit, "not-an-address")
    _type(qtbot, register_page.password.edit, "short")
    with qtbot.assertNotEmitted(register_page.register_requested):
        qtbot.keyClick(register_page.password.edit, Qt.Key.Key_Return)
    assert "3 to 32 characters" in register_page.username.problem.text()
    assert "e-mail address" in register_page.email.problem.text()
    assert "at least 8 characters" in register_page.password.problem.text()
    assert register_page.username.edit.hasFocus()  # the first problem gets the focus


def test_a_fixed_field_loses_its_complaint_as_the_user_types(
    qtbot: QtBot, register_page: RegisterPage
) -> None:
    _type(qtbot, register_page.username.edit, "ab")
    register_page.submit()
    assert register_page.username.problem.isVisibleTo(register_page)
    qtbot.keyClicks(register_page.username.edit, "c")
    assert not register_page.username.problem.isVisibleTo(register_page)


def test_enter_submits_a_valid_registration(qtbot: QtBot, register_page: RegisterPage) -> None:
    _type(qtbot, register_page.username.edit, "ada")
    _type(qtbot, register_page.email.edit, "ada@example.com")
    _type(qtbot, register_page.password.edit, "correct horse")
    with qtbot.waitSignal(register_page.register_requested) as sent:
        qtbot.keyClick(register_page.password.edit, Qt.Key.Key_Enter)
    assert sent.args == ["ada", "ada@example.com", "correct horse"]


def test_register_tab_order_follows_the_form(qtbot: QtBot, register_page: RegisterPage) -> None:
    page = register_page
    page.username.edit.setFocus()
    order = [page.email.edit, page.password.edit, page.submit_button, page.to_login]
    for expected in order:
        qtbot.keyClick(page.focusWidget(), Qt.Key.Key_Tab)
        assert page.focusWidget() is expected


# --- log in ---------------------------------------------------------------------------------------
def test_login_accepts_a_name_or_an_email_and_remember_me(qtbot: QtBot) -> None:
    page = LoginPage()
    qtbot.addWidget(page)
    page.show()
    _type(qtbot, page.login.edit, "ada@example.com")
    _type(qtbot, page.password.edit, "whatever1")
    page.remember.setChecked(True)
    with qtbot.waitSignal(page.login_requested) as sent:
        qtbot.keyClick(page.password.edit, Qt.Key.Key_Return)
    assert sent.args == ["ada@example.com", "whatever1", True]


def test_login_refuses_empty_fields_inline(qtbot: QtBot) -> None:
    page = LoginPage()
    qtbot.addWidget(page)
    page.show()
    with qtbot.assertNotEmitted(page.login_requested):
        page.submit_button.click()
    assert page.login.problem.text() == "Enter your username or e-mail."


def test_enter_on_the_link_follows_it_instead_of_submitting(qtbot: QtBot) -> None:
    page = LoginPage()
    qtbot.addWidget(page)
    page.show()
    page.to_register.setFocus()
    with qtbot.waitSignal(page.register_wanted), qtbot.assertNotEmitted(page.login_requested):
        qtbot.keyClick(page.to_register, Qt.Key.Key_Return)


# --- shelves and tiles ---------------------------------------------------------------------------
@pytest.fixture
def shelves(qtbot: QtBot, recording: Recording) -> ShelvesView:
    view = ShelvesView()
    qtbot.addWidget(view)
    view.show_shelves(recording.shelves())
    view.show()
    return view


def test_shelves_show_every_recorded_track(shelves: ShelvesView, recording: Recording) -> None:
    recorded = recording.shelves()
    assert [row.genre for row in shelves.rows] == [shelf.genre for shelf in recorded]
    first = recorded[0].tracks[0]
    tile = shelves.tiles()[0]
    assert tile.title.full_text() == first.name
    assert tile.artists.full_text() == ", ".join(first.artists)
    minutes, seconds = divmod(first.duration_ms // 1000, 60)
    assert tile.duration.text() == f"{minutes}:{seconds:02d}"


def test_space_on_a_focused_tile_toggles_it(qtbot: QtBot, shelves: ShelvesView) -> None:
    tile = shelves.tiles()[3]
    tile.setFocus()
    with qtbot.waitSignal(shelves.tile_toggled) as toggled:
        qtbot.keyClick(tile, Qt.Key.Key_Space)
    assert toggled.args == [tile.track, tile.genre]


def test_tiles_are_reached_with_tab(qtbot: QtBot, shelves: ShelvesView) -> None:
    first, second = shelves.tiles()[:2]
    first.setFocus()
    qtbot.keyClick(first, Qt.Key.Key_Tab)
    assert second.hasFocus()


def test_only_the_playing_track_is_marked(shelves: ShelvesView) -> None:
    tiles = shelves.tiles()
    shelves.mark_playing(tiles[5].track.track_id)
    assert [t for t in tiles if t.playing] == [
        t for t in tiles if t.track.track_id == tiles[5].track.track_id
    ]
    assert tiles[5].button.text() == "■"
    shelves.mark_playing(None)
    assert not any(t.playing for t in tiles)


# --- player bar -----------------------------------------------------------------------------------
def test_player_bar_shows_elapsed_and_remaining_time(qtbot: QtBot, recording: Recording) -> None:
    bar = PlayerBar()
    qtbot.addWidget(bar)
    track = recording.shelves()[0].tracks[0].model_copy(update={"duration_ms": 200_000})
    bar.show_track(track, "goth")
    bar.show_progress(50_000, 200_000)
    assert (bar.elapsed.text(), bar.remaining.text()) == ("0:50", "-2:30")
    assert bar.progress.value() == 250
    assert bar.stop_button.isEnabled()
    bar.show_idle()
    assert bar.title.full_text() == "Nothing playing"
    assert not bar.stop_button.isEnabled()


# --- chart panel ----------------------------------------------------------------------------------
@pytest.fixture
def chart_panel(qtbot: QtBot) -> ChartPanel:
    panel = ChartPanel()
    qtbot.addWidget(panel)
    panel.show()
    return panel


def test_chart_panel_waits_for_the_first_chart(chart_panel: ChartPanel) -> None:
    assert chart_panel.placeholder.text() == "Waiting for the first chart…"
    assert chart_panel.genres_shown() == []


def test_chart_panel_shows_the_ranking_chosen(
    qtbot: QtBot, chart_panel: ChartPanel, recording: Recording
) -> None:
    chart = recording.charts()[0]
    with qtbot.waitSignal(chart_panel.chart_shown):
        chart_panel.show_chart(chart)
    assert chart_panel.genres_shown() == [e.genre for e in chart.now.entries]
    qtbot.mouseClick(chart_panel.buttons.buttons()[2], Qt.MouseButton.LeftButton)
    assert chart_panel.ranking == "all_time"
    assert chart_panel.genres_shown() == [e.genre for e in chart.all_time.entries]
    series = chart_panel.view.chart().series()[0]
    assert isinstance(series, QHorizontalBarSeries)
    counts = [series.barSets()[0].at(i) for i in range(5)]
    assert counts == [float(e.count) for e in reversed(chart.all_time.entries)]  # top on top
    assert chart.computed_at.astimezone().strftime("%H:%M:%S") in chart_panel.caption.text()


def test_a_new_chart_replaces_the_old_one(
    qtbot: QtBot, chart_panel: ChartPanel, recording: Recording
) -> None:
    first, second = recording.charts()
    chart_panel.show_chart(first)
    chart_panel.show_chart(second)
    assert chart_panel.genres_shown() == [e.genre for e in second.now.entries]
    assert chart_panel.genres_shown() != [e.genre for e in first.now.entries]


def test_an_empty_ranking_says_so(chart_panel: ChartPanel, recording: Recording) -> None:
    quiet = recording.charts()[0].model_copy(update={"now": Ranking(entries=[])})
    chart_panel.show_chart(quiet)
    assert chart_panel.placeholder.text() == "Nobody is listening right now."


# --- the window -----------------------------------------------------------------------------------
def test_the_window_is_a_normal_resizable_one(qtbot: QtBot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert not window.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert window.minimumSize() == MINIMUM_SIZE
    window.resize(MINIMUM_SIZE)
    assert window.size() == MINIMUM_SIZE
    window.resize(1800, 1000)
    assert window.width() == 1800


def test_f5_asks_for_new_shelves(qtbot: QtBot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.show_page(window.main_page)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts fire in the active window only
    with qtbot.waitSignal(window.main_page.refresh_requested):
        qtbot.keyClick(window.main_page, Qt.Key.Key_F5)


def test_main_page_tab_order_reads_sidebar_tiles_chart_player(
    qtbot: QtBot, recording: Recording
) -> None:
    page = MainPage()
    qtbot.addWidget(page)
    page.show()
    page.shelves.show_shelves(recording.shelves())
    page.shelves_loaded(20, 200)
    tiles = page.shelves.tiles()
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow)
    page.logout_button.setFocus()
    qtbot.keyClick(page.logout_button, Qt.Key.Key_Tab)
    assert tiles[0].hasFocus()
    tiles[-1].setFocus()
    qtbot.keyClick(tiles[-1], Qt.Key.Key_Tab)
    assert page.chart.buttons.buttons()[0].hasFocus()
