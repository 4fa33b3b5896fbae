"""The simulator's smaller parts: accounts, the session file, rates, the displays, the demo."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from bluetrack.bus.session import Session
from bluetrack.cli import build_parser
from bluetrack.client.session_store import SessionStore
from bluetrack.config import Settings
from bluetrack.core.validation import check_email, check_password, check_username
from bluetrack.demo import (
    chart_line,
    chart_view,
    has_display,
    print_chart_line,
    sign_in_desktop_client,
    simulation_argv,
)
from bluetrack.protocol.charts import ChartMessage, GenreCount, Ranking
from bluetrack.protocol.envelope import utc_now
from bluetrack.simulate.accounts import SessionCache, credentials_for
from bluetrack.simulate.progress import Snapshot, Tally, _RateMeter, progress_table, summary_line


def _session(name: str, expires_at: datetime) -> Session:
    return Session(name, name, f"session-{name}", b"t" * 32, b"k" * 32, expires_at)


# --- accounts -----------------------------------------------------------------------------------
def test_simulated_accounts_pass_the_servers_rules_and_follow_the_seed() -> None:
    for seed, listener in [(0, 0), (42, 17), (2**32 - 1, 99_999)]:
        who = credentials_for(seed, listener)
        assert check_username(who.username) is None
        assert check_email(who.email) is None
        assert check_password(who.password) is None
        assert credentials_for(seed, listener) == who
    assert credentials_for(1, 0) != credentials_for(2, 0)
    assert credentials_for(1, 0).username != credentials_for(1, 1).username


def test_the_session_file_round_trips_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "sessions.json"
    cache = SessionCache(path)
    fresh = _session("alice", utc_now() + timedelta(hours=5))
    cache.put("alice", fresh)
    cache.save()
    assert path.stat().st_mode & 0o777 == 0o600
    assert SessionCache(path).get("alice") == fresh


def test_a_session_near_its_expiry_is_not_reused(tmp_path: Path) -> None:
    cache = SessionCache(tmp_path / "s.json")
    cache.put("bob", _session("bob", utc_now() + timedelta(minutes=2)))
    assert cache.get("bob") is None
    assert cache.get("nobody") is None


def test_without_a_file_nothing_is_saved(tmp_path: Path) -> None:
    cache = SessionCache(None)
    cache.put("carol", _session("carol", utc_now() + timedelta(hours=1)))
    cache.save()
    assert not cache.enabled
    assert list(tmp_path.iterdir()) == []


# --- progress -----------------------------------------------------------------------------------
def test_the_rate_is_over_the_last_seconds_only() -> None:
    meter = _RateMeter(window_s=5.0)
    assert meter.rate(0.0, 0) == 0.0
    rates = [meter.rate(float(t), 10 * t) for t in range(1, 21)]  # 10 events/s, sampled 1/s
    assert rates[-1] == pytest.approx(10.0)
    rates = [meter.rate(float(t), 200) for t in range(21, 28)]  # then nothing
    assert rates[0] > 0
    assert rates[-1] == 0.0


def test_the_tally_counts_and_settles() -> None:
    tally = Tally(3)
    for _ in range(4):
        tally.sent()
    tally.joined()
    tally.accepted()
    tally.accepted()
    tally.accepted()
    assert not tally.snapshot().settled
    tally.rejected("bad_event_time")
    snapshot = tally.snapshot()
    assert snapshot.settled
    assert (snapshot.sent, snapshot.accepted, snapshot.rejected) == (4, 3, 1)
    assert snapshot.rejected_by_code == {"bad_event_time": 1}


def test_the_displays_name_every_count() -> None:
    snapshot = Snapshot(12.0, 50, 48, 2, 10, 900, 880, 5, 30.5, 29.0, {"invalid_session": 5})
    line = summary_line(snapshot)
    for part in ("48/50 joined", "2 failed", "sent 900 (30.5/s)", "accepted 880", "rejected 5"):
        assert part in line
    out = io.StringIO()
    Console(file=out, width=100).print(progress_table(snapshot, "run"))
    assert "invalid_session" in out.getvalue()
    assert "880" in out.getvalue()


# --- commands and the demo ----------------------------------------------------------------------
def test_simulate_takes_the_documented_flags() -> None:
    args = build_parser().parse_args(
        [
            *("simulate", "--listeners", "7", "--rate", "2", "--duration", "30"),
            *("--seed", "5", "--speed", "10", "--sessions", "s.json"),
        ]
    )
    assert (args.listeners, args.rate, args.duration, args.seed, args.speed) == (7, 2, 30, 5, 10)
    assert args.sessions == Path("s.json")


def test_the_demo_passes_its_run_settings_to_the_background_simulation() -> None:
    args = build_parser().parse_args(["demo", "--listeners", "9", "--seed", "3"])
    argv = simulation_argv(args)
    assert argv[1:4] == ["-m", "bluetrack.simulate", "--plain"]
    assert argv[argv.index("--listeners") + 1] == "9"
    assert argv[argv.index("--seed") + 1] == "3"
    assert "--sessions" not in argv
    with_file = argparse.Namespace(**{**vars(args), "sessions": Path("x.json")})
    assert simulation_argv(with_file)[-2:] == ["--sessions", "x.json"]


def test_a_display_is_either_x11_or_wayland(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not has_display()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert has_display()


def test_the_terminal_chart_shows_the_three_rankings() -> None:
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    chart = ChartMessage(
        batch_id=4,
        computed_at=at,
        chart_time=at,
        now=Ranking(entries=[GenreCount(genre="jazz", count=3)]),
        trending=Ranking(entries=[GenreCount(genre="rock", count=9)]),
        all_time=Ranking(entries=[GenreCount(genre="pop", count=20)]),
    )
    assert chart_line(chart) == "batch 4: now [jazz 3]  trending [rock 9]  all time [pop 20]"
    out = io.StringIO()
    Console(file=out, width=120).print(chart_view(chart, window_s=900))
    text = out.getvalue()
    for expected in ("Listening now", "Trending (15 min)", "All time", "jazz", "rock", "pop"):
        assert expected in text
    plain = io.StringIO()
    print_chart_line(Console(file=plain, width=120), chart)
    assert plain.getvalue().strip() == chart_line(chart)  # rich must not eat "[jazz 3]"


def test_the_demo_never_replaces_a_session_the_client_remembers(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.save('{"remembered": true}')
    # No broker is needed: a remembered session means nothing is sent at all.
    message = sign_in_desktop_client(Settings(config_dir=tmp_path))
    assert "remembers" in message
    assert store.load() == '{"remembered": true}'
