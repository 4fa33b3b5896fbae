"""The chart rules, one worked example each (the same as docs/charts.md).

Every example runs against both the pure-Python reference and the vectorised engine.
Times are event times on 2026-01-01 written as "12:00:30"; tracks last 200 s unless said.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import count

import pytest

from bluetrack.core.charts import ChartSnapshot, PlayRecord, ReferenceCharts, rank_genres
from bluetrack.core.rules import Rules
from bluetrack.processor.engine import ChartEngine, frame_of
from bluetrack.protocol.charts import TOP_N
from bluetrack.protocol.plays import AcceptedPlay

Charts = Callable[[Sequence[PlayRecord]], ChartSnapshot]
NOON_MS = int(datetime(2026, 1, 1, 12, tzinfo=UTC).timestamp() * 1000)
_ids = count()


def at(clock: str) -> int:
    """'12:00:30' or '12:00:30.250' -> epoch ms."""
    hours, minutes, seconds = clock.split(":")
    offset_s = (int(hours) - 12) * 3600 + int(minutes) * 60 + float(seconds)
    return NOON_MS + round(offset_s * 1000)


def play(
    user: str, op: str, clock: str, genre: str = "rock", duration_s: float = 200
) -> PlayRecord:
    return event(user, op, at(clock), genre, duration_s)


def event(
    user: str, op: str, time_ms: int, genre: str = "rock", duration_s: float = 200
) -> PlayRecord:
    return PlayRecord(
        event_id=f"event-{next(_ids):06d}",
        user_id=user,
        track_id=f"track-{genre}",
        operation_type=op,
        start_time_ms=time_ms,
        event_time_ms=time_ms,
        duration_ms=round(duration_s * 1000),
        genre=genre,
    )


@pytest.fixture(params=["reference", "engine"])
def new_charts(request: pytest.FixtureRequest) -> Callable[..., Charts]:
    """A factory of chart steppers: one batch per call, batch ids counted."""

    def make(rules: Rules | None = None) -> Charts:
        batch_ids = count()
        if request.param == "reference":
            reference = ReferenceCharts(rules)
            return lambda events: reference.step(events, next(batch_ids))
        engine = ChartEngine(rules)
        return lambda events: engine.step(frame_of(events), next(batch_ids))

    return make


@pytest.fixture
def charts(new_charts: Callable[..., Charts]) -> Charts:
    return new_charts()


# --- section 1: one user's plays ------------------------------------------------------------


def test_example_1_a_play_ends_on_its_own_timer(charts: Charts) -> None:
    first = charts([play("ana", "start", "12:00:00"), play("ben", "start", "12:00:05", "jazz", 60)])
    assert first.now == (("jazz", 1), ("rock", 1))
    assert first.chart_time_ms == at("12:00:05")

    later = charts([play("cai", "start", "12:01:10", "pop")])
    assert later.now == (("pop", 1), ("rock", 1))  # ben's 60 s ended at 12:01:05


def test_example_2_a_start_ends_the_previous_play(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00", "rock"), play("ana", "start", "12:00:20", "pop")])
    chart = charts([play("ben", "start", "12:02:00", "jazz")])
    assert chart.now == (("jazz", 1), ("pop", 1))
    assert chart.all_time == (("pop", 1),)  # rock lasted 20 s


def test_example_3_pause_freezes_the_play_and_resume_continues_it(charts: Charts) -> None:
    paused = charts([play("ana", "start", "12:00:00"), play("ana", "pause", "12:00:20")])
    assert paused.now == ()
    resumed = charts([play("ana", "resume", "12:01:00")])
    assert resumed.now == (("rock", 1),)

    # chart time 12:01:40: horizon 12:01:10, the instant the play reached 30 s of listening
    qualified = charts([play("ben", "start", "12:01:40", "jazz")])
    assert qualified.all_time == (("rock", 1),)
    # 200 s of listening + 40 s paused: over at 12:04:00, by itself
    assert charts([play("ben", "stop", "12:03:59")]).now == (("rock", 1),)
    assert charts([play("ben", "stop", "12:04:00")]).now == ()


def test_a_pause_that_comes_too_soon_keeps_the_play_unqualified(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00"), play("ana", "pause", "12:00:20")])
    chart = charts([play("ben", "start", "12:05:00", "jazz")])
    assert chart.all_time == ()  # 20 s of listening, still paused
    assert chart.now == (("jazz", 1),)


def test_stop_end_and_logout_each_end_the_play(charts: Charts) -> None:
    charts(
        [
            play("ana", "start", "12:00:00", "rock"),
            play("ben", "start", "12:00:00", "jazz"),
            play("cai", "start", "12:00:00", "pop"),
            play("ana", "stop", "12:00:10"),
            play("ben", "end", "12:00:10", ""),
            play("cai", "logout", "12:00:10", ""),
        ]
    )
    chart = charts([play("dan", "start", "12:02:00", "soul")])
    assert chart.now == (("soul", 1),)
    assert chart.all_time == ()


def test_a_resume_with_nothing_paused_opens_nothing(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00"), play("ana", "stop", "12:00:10")])
    assert charts([play("ana", "resume", "12:00:20")]).now == ()


def test_an_empty_track_ends_as_it_starts(charts: Charts) -> None:
    chart = charts([play("ana", "start", "12:00:00", duration_s=0)])
    assert chart.now == ()


def test_stop_and_start_in_one_millisecond_leave_the_new_track_playing(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00", "rock")])
    chart = charts([play("ana", "start", "12:00:10", "pop"), play("ana", "stop", "12:00:10")])
    assert chart.now == (("pop", 1),)


def test_of_simultaneous_starts_the_greatest_genre_name_wins(charts: Charts) -> None:
    chart = charts(
        [play("ana", "start", "12:00:00", "rock"), play("ana", "start", "12:00:00", "pop")]
    )
    assert chart.now == (("rock", 1),)
    chart = charts(
        [play("ben", "start", "12:00:01", "ska"), play("ben", "start", "12:00:01", "pop")]
    )
    assert chart.now == (("rock", 1), ("ska", 1))


# --- section 2: qualified plays -------------------------------------------------------------


def _qualified_after(charts: Charts, duration_s: float, played_s: float) -> bool:
    start = play("ana", "start", "12:00:00", duration_s=duration_s)
    stop = event("ana", "stop", start.event_time_ms + round(played_s * 1000))
    charts([start, stop])
    return charts([play("ben", "start", "13:00:00", "jazz")]).all_time == (("rock", 1),)


@pytest.mark.parametrize(
    ("duration_s", "played_s", "qualifies"),
    [
        (200, 29.999, False),
        (200, 30, True),  # ending exactly at the threshold qualifies
        (10, 9.999, False),
        (10, 10, True),  # shorter than 30 s: the whole track
        (10, 50, True),  # the track ended by itself at 10 s
    ],
)
def test_example_4_spotify_thresholds(
    new_charts: Callable[..., Charts], duration_s: float, played_s: float, qualifies: bool
) -> None:
    assert _qualified_after(new_charts(Rules()), duration_s, played_s) is qualifies


@pytest.mark.parametrize(
    ("duration_s", "played_s", "qualifies"),
    [
        (200, 99.999, False),
        (200, 100, True),  # half the track
        (600, 239.999, False),
        (600, 240, True),  # 4 minutes
        (30, 30, False),  # not longer than 30 s: never
        (30.001, 20, True),  # just longer: half of it, 15.0005 s
    ],
)
def test_example_4_lastfm_thresholds(
    new_charts: Callable[..., Charts], duration_s: float, played_s: float, qualifies: bool
) -> None:
    rules = Rules(qualify_rule="lastfm")
    assert _qualified_after(new_charts(rules), duration_s, played_s) is qualifies


@pytest.mark.parametrize(
    ("rule", "duration_ms", "threshold_ms"),
    [
        ("spotify", 200_000, 30_000),
        ("spotify", 10_000, 10_000),
        ("spotify", 0, None),
        ("lastfm", 30_000, None),
        ("lastfm", 30_001, 15_000),
        ("lastfm", 200_000, 100_000),
        ("lastfm", 600_000, 240_000),
    ],
)
def test_threshold_table(rule: str, duration_ms: int, threshold_ms: int | None) -> None:
    rules = Rules(qualify_rule=rule)  # type: ignore[arg-type]
    assert rules.threshold_ms(duration_ms) == threshold_ms


@pytest.mark.parametrize("bad", [{"window_s": 0}, {"watermark_s": -1}, {"qualify_rule": "youtube"}])
def test_rules_refuse_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Rules(**bad)  # type: ignore[arg-type]


# --- section 3: event time, watermark, horizon ----------------------------------------------


def test_example_5_a_qualification_is_counted_once_final(charts: Charts) -> None:
    first = charts([play("ana", "start", "12:00:00"), play("ben", "start", "12:00:05", "jazz", 60)])
    assert first.all_time == () and first.trending == ()
    assert first.watermark_ms == at("11:59:35")

    chart = charts([play("cai", "start", "12:01:10", "pop")])
    assert chart.watermark_ms == at("12:00:40")
    assert chart.window_end_ms == at("12:00:40")
    assert chart.window_start_ms == at("11:45:40")
    assert chart.all_time == (("jazz", 1), ("rock", 1))
    assert chart.trending == (("jazz", 1), ("rock", 1))


def test_the_horizon_is_the_watermark_rounded_down_to_the_second(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00")])
    # watermark 12:00:30.999 -> horizon 12:00:30: ana's 12:00:30 qualification is final
    chart = charts([play("ben", "start", "12:01:00.999", "jazz")])
    assert chart.watermark_ms == at("12:00:30.999")
    assert chart.window_end_ms == at("12:00:30")
    assert chart.all_time == (("rock", 1),)


def test_a_qualification_just_after_the_horizon_waits(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00.001")])  # qualifies at 12:00:30.001
    assert charts([play("ben", "start", "12:01:00.999", "jazz")]).all_time == ()
    assert charts([play("ben", "start", "12:01:01", "jazz")]).all_time == (("rock", 1),)


def test_example_6_an_out_of_order_stop_inside_the_watermark_is_placed(charts: Charts) -> None:
    first = charts([play("ana", "start", "12:00:00"), play("ben", "start", "12:00:40", "jazz")])
    assert first.now == (("jazz", 1), ("rock", 1))
    assert first.all_time == ()  # 12:00:30 is after the horizon 12:00:10

    second = charts([play("ana", "stop", "12:00:25")])
    assert second.late_dropped == 0
    assert second.now == (("jazz", 1),)
    later = charts([play("cai", "start", "12:05:00", "pop")])
    assert later.all_time == (("jazz", 1),)  # ana's play lasted 25 s


def test_example_6_without_the_stop_the_play_counts_at_chart_time_12_01_00(
    charts: Charts,
) -> None:
    charts([play("ana", "start", "12:00:00"), play("ben", "start", "12:00:40", "jazz")])
    assert charts([play("cai", "start", "12:00:59.999", "pop")]).all_time == ()
    assert charts([play("cai", "start", "12:01:00", "pop")]).all_time == (("rock", 1),)


def test_example_7_an_event_older_than_the_watermark_is_dropped(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00"), play("ben", "start", "12:00:40", "jazz")])
    second = charts([play("ana", "stop", "12:00:05")])
    assert second.late_dropped == 1
    assert second.input_rows == 1
    assert second.now == (("jazz", 1), ("rock", 1))
    assert charts([play("cai", "start", "12:05:00", "pop")]).all_time == (("jazz", 1), ("rock", 1))


def test_lateness_is_judged_by_the_watermark_at_the_start_of_the_batch(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00")])  # watermark 11:59:30
    # In one batch: an event at 12:05:00 and one at 11:59:40: the second is not late yet.
    chart = charts([play("ben", "start", "12:05:00", "jazz"), play("cai", "start", "11:59:40")])
    assert chart.late_dropped == 0
    assert chart.all_time == (("rock", 2),)


def test_example_8_the_trending_window_slides_past_a_play(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00"), play("ana", "stop", "12:00:40")])
    inside = charts([play("ben", "stop", "12:16:00")])  # horizon 12:15:30: window (12:00:30, ..]
    assert inside.trending == ()
    assert inside.all_time == (("rock", 1),)


def test_example_8_the_play_is_trending_until_the_window_passes_it(charts: Charts) -> None:
    charts([play("ana", "start", "12:00:00"), play("ana", "stop", "12:00:40")])
    assert charts([play("ben", "stop", "12:15:59")]).trending == (("rock", 1),)  # horizon 12:15:29


# --- section 4: rankings and the message ----------------------------------------------------


def test_rankings_order_by_count_then_genre_and_leave_out_zero() -> None:
    counts = {"rock": 2, "jazz": 2, "ska": 5, "pop": 0, "blues": 1}
    assert rank_genres(counts) == (("ska", 5), ("jazz", 2), ("rock", 2), ("blues", 1))


def test_the_message_carries_the_top_five_and_the_window(charts: Charts) -> None:
    genres = ["a", "b", "c", "d", "e", "f", "g"]
    chart = charts([play(f"user-{g}", "start", "12:00:00", g) for g in genres])
    computed_at = datetime(2026, 1, 1, 12, 0, 6, tzinfo=UTC)
    message = chart.to_message(7, computed_at, "spotify")
    assert [e.genre for e in message.now.entries] == genres[:TOP_N]
    assert message.batch_id == 7 and message.input_rows == len(genres)
    assert message.chart_time == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert message.trending.window_end == datetime(2026, 1, 1, 11, 59, 30, tzinfo=UTC)
    assert message.trending.window_start == datetime(2026, 1, 1, 11, 44, 30, tzinfo=UTC)


def test_before_any_event_the_chart_is_empty_and_timed_by_the_computation(
    charts: Charts,
) -> None:
    chart = charts([])
    assert chart.chart_time_ms is None and chart.now == () and chart.all_time == ()
    computed_at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    message = chart.to_message(0, computed_at, "lastfm")
    assert message.chart_time == computed_at and message.watermark is None


# --- section 5: exactly once ----------------------------------------------------------------


def test_a_repeated_event_counts_once(charts: Charts) -> None:
    start, stop = play("ana", "start", "12:00:00"), play("ana", "stop", "12:00:40")
    charts([start, start])  # twice in one batch
    charts([stop, start])  # redelivered in a later batch, inside the watermark
    charts([stop, play("ben", "stop", "12:00:50")])
    late = charts([start, play("ben", "stop", "12:02:00")])  # now older than the watermark
    assert late.late_dropped == 1
    assert late.all_time == (("rock", 1),)
    assert late.trending == (("rock", 1),)


def test_a_copy_of_a_start_does_not_restart_the_play(charts: Charts) -> None:
    start = play("ana", "start", "12:00:00")
    charts([start, play("ana", "pause", "12:00:20")])
    # a copy of the start re-applied after the pause would make ana a listener again
    assert charts([start]).now == ()


def test_an_event_a_millisecond_before_the_latest_one_is_still_placed_before_it(
    charts: Charts,
) -> None:
    charts([play("ana", "start", "12:00:00", "rock")])
    charts([play("ana", "start", "12:00:10", "pop")])
    chart = charts([play("ana", "stop", "12:00:09.999")])  # ends rock, not pop
    assert chart.now == (("pop", 1),)


def test_an_accepted_play_becomes_a_record_in_epoch_milliseconds() -> None:
    when = datetime(2026, 1, 1, 12, 0, 30, 250_000, tzinfo=UTC)
    accepted = AcceptedPlay(
        event_id="event-0001",
        user_id="user-0001",
        track_id="track-1",
        operation_type="start",
        start_time=when,
        event_time=when,
        duration_ms=200_000,
        genre="rock",
        accepted_at=when,
    )
    record = PlayRecord.from_accepted(accepted)
    assert record.event_time_ms == record.start_time_ms == at("12:00:30.250")
    assert (record.user_id, record.operation_type, record.genre) == ("user-0001", "start", "rock")
