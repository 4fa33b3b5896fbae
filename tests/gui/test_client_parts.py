"""The client's parts on their own: session store, simulated player, wording, languages."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale
from pytestqt.qtbot import QtBot

from bluetrack.client import wording
from bluetrack.client.exceptions import FailureKind, GatewayError
from bluetrack.client.i18n import choose_language
from bluetrack.client.player import Player, PlayIntent
from bluetrack.client.recorded import Recording
from bluetrack.client.session_store import SessionStore
from bluetrack.client.views.style import genre_label
from bluetrack.protocol.errors import ErrorCode, ErrorInfo
from bluetrack.protocol.messages import TrackSummary

pytestmark = pytest.mark.gui


def _track(track_id: str = "t1", duration_ms: int = 3_000) -> TrackSummary:
    return TrackSummary(
        track_id=track_id, name="Song", artists=["A"], album="B", duration_ms=duration_ms
    )


# --- remember me ------------------------------------------------------------------------------
def test_session_file_is_private_to_its_owner(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "cfg" / "bluetrack")
    store.save('{"token": "secret"}')
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.config_dir.stat().st_mode) == 0o700
    assert store.load() == '{"token": "secret"}'


def test_an_existing_loose_config_dir_is_tightened(tmp_path: Path) -> None:
    loose = tmp_path / "cfg"
    loose.mkdir(mode=0o755)
    SessionStore(loose).save("{}")
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_clearing_forgets_the_session(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.save("{}")
    store.clear()
    store.clear()  # twice is harmless
    assert store.load() is None


# --- the simulated player -------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _intents(player: Player) -> list[PlayIntent]:
    seen: list[PlayIntent] = []
    player.intent.connect(seen.append)
    return seen


def test_starting_a_second_track_stops_the_first(qtbot: QtBot) -> None:
    player = Player(monotonic=_Clock())
    seen = _intents(player)
    first, second = _track("first"), _track("second")
    player.play(first, "rock")
    player.play(second, "jazz")
    assert [(i.operation, i.track.track_id, i.genre) for i in seen] == [
        ("start", "first", "rock"),
        ("stop", "first", "rock"),
        ("start", "second", "jazz"),
    ]
    assert player.current == second


def test_a_stop_carries_the_start_time_of_its_play(qtbot: QtBot) -> None:
    times = iter([datetime(2026, 1, 1, 12, 0, tzinfo=UTC), datetime(2026, 1, 1, 12, 1, tzinfo=UTC)])
    player = Player(clock=lambda: next(times), monotonic=_Clock())
    seen = _intents(player)
    player.play(_track(), "rock")
    player.stop()
    start, stop = seen
    assert stop.start_time == start.start_time == start.event_time
    assert stop.event_time > stop.start_time
    assert stop.event_id != start.event_id


def test_the_player_ends_the_play_by_itself_at_the_track_duration(qtbot: QtBot) -> None:
    clock = _Clock()
    player = Player(monotonic=clock)
    seen = _intents(player)
    player.play(_track(duration_ms=3_000), "rock")
    clock.now += 3.5
    with qtbot.waitSignal(player.stopped, timeout=2_000):
        pass  # the next tick sees the track is over
    assert [i.operation for i in seen] == ["start", "end"]
    assert player.current is None


def test_progress_never_runs_past_the_duration(qtbot: QtBot) -> None:
    clock = _Clock()
    player = Player(monotonic=clock)
    player.play(_track(duration_ms=10_000), "rock")
    clock.now += 4
    assert player.elapsed_ms() == 4_000
    clock.now += 60
    assert player.elapsed_ms() == 10_000


# --- wording ----------------------------------------------------------------------------------
def test_every_error_code_has_plain_words(qtbot: QtBot) -> None:
    generic = wording.server_error(ErrorInfo(code=ErrorCode.INVALID_MESSAGE, message="x"))
    worded = {
        code: wording.server_error(ErrorInfo(code=code, message="internal detail"))
        for code in ErrorCode
    }
    assert all("internal detail" not in text for text in worded.values())
    # Only the malformed-input codes (a client bug, not the user's doing) share the generic text.
    assert {c for c, t in worded.items() if t == generic} <= {
        ErrorCode.INVALID_MESSAGE,
        ErrorCode.UNSUPPORTED_VERSION,
        ErrorCode.UNKNOWN_TYPE,
        ErrorCode.MESSAGE_TOO_LARGE,
    }


@pytest.mark.usefixtures("english")
def test_a_throttled_login_says_how_long_to_wait(recording: Recording) -> None:
    error = recording.error("login_user_response.throttled")
    assert wording.failure(error).endswith("Try again in 30 seconds.")


def test_transport_failures_are_worded_by_kind(qtbot: QtBot) -> None:
    timeout = GatewayError(FailureKind.TIMEOUT, "no reply within 10s")
    down = GatewayError(FailureKind.UNAVAILABLE, "Kafka is not reachable")
    assert "didn't answer in time" in wording.failure(timeout)
    assert "message broker" in wording.failure(down)
    assert "Retrying" in wording.connection_status(down)
    assert "Retrying" not in wording.connection_status(timeout, retrying=False)


# --- language ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("configured", "locale", "expected"),
    [
        ("pl", "en_US", "pl"),
        ("pl_PL", "en_US", "pl"),
        ("de", "pl_PL", "en"),
        (None, "pl_PL", "pl"),
        (None, "fr_FR", "en"),
    ],
)
def test_language_comes_from_settings_then_locale(
    configured: str | None, locale: str, expected: str
) -> None:
    assert choose_language(configured, QLocale(locale)) == expected


@pytest.mark.parametrize(
    ("slug", "label"),
    [("drum-and-bass", "Drum and Bass"), ("edm", "EDM"), ("r-n-b", "R&B"), ("k-pop", "K-Pop")],
)
def test_genres_are_shown_as_people_write_them(slug: str, label: str) -> None:
    assert genre_label(slug) == label
