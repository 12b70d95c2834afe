"""Schedules: ticks every process agrees on, coalesced missed runs, cron in a time zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alumio_mistral.durations import DurationError, parse_duration
from alumio_mistral.schedule import Schedule, ScheduleError

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("250ms", 0.25), ("5m", 300.0), ("1.5h", 5400.0), ("2d", 172800.0), ("45", 45.0), (12, 12.0)],
)
def test_durations_read_as_people_write_them(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5s", "1e300", "5 minutes", "400d", True, float("nan")])
def test_bad_durations_are_refused_with_the_value(text: object) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)  # type: ignore[arg-type]
    assert str(text) in str(caught.value) or repr(text) in str(caught.value)


def test_zero_only_where_allowed() -> None:
    with pytest.raises(DurationError):
        parse_duration("0s")
    assert parse_duration("0s", allow_zero=True) == 0.0


def test_interval_ticks_are_epoch_multiples_so_processes_agree() -> None:
    schedule = Schedule.from_config({"every": "30s"})
    assert schedule.latest_tick(at("2026-11-30T10:00:44")) == at("2026-11-30T10:00:30")
    assert schedule.next_tick(at("2026-11-30T10:00:30")) == at("2026-11-30T10:01:00")


def test_an_interval_runs_at_once_then_coalesces_missed_ticks() -> None:
    schedule = Schedule(every=60.0)
    now = at("2026-11-30T10:00:10")
    first = schedule.due_tick(None, now)
    assert first == at("2026-11-30T10:00:00")
    assert schedule.due_tick(first, now + timedelta(seconds=30)) is None
    # an hour asleep: one run (the latest tick), not sixty
    later = now + timedelta(hours=1)
    assert schedule.due_tick(first, later) == at("2026-11-30T11:00:00")


def test_cron_waits_for_its_first_tick_after_start() -> None:
    nightly = Schedule.from_config({"cron": "0 2 * * *"})
    started = at("2026-11-30T12:00:00")
    assert nightly.due_tick(None, started, started) is None
    assert nightly.due_tick(None, at("2026-12-01T02:00:05"), started) == at("2026-12-01T02:00:00")


def test_cron_reads_its_time_zone_across_daylight_saving() -> None:
    schedule = Schedule.from_config({"cron": "30 9 * * *", "timezone": "Europe/Amsterdam"})
    # 09:30 in Amsterdam is 08:30 UTC in winter and 07:30 UTC in summer
    assert schedule.next_tick(at("2026-11-30T00:00:00")) == at("2026-11-30T08:30:00")
    assert schedule.next_tick(at("2026-07-01T00:00:00")) == at("2026-07-01T07:30:00")


def test_bare_strings_are_an_interval_or_a_cron_expression() -> None:
    assert Schedule.from_config("90s") == Schedule(every=90.0)
    assert Schedule.from_config("*/5 * * * *") == Schedule(cron="*/5 * * * *")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"every": "30s", "cron": "* * * * *"}, "either"),
        ({}, "either"),
        ({"cron": "61 * * * *"}, "not a cron expression"),
        ({"every": "0.5s"}, "shortest interval"),
        ({"every": "soon"}, "every:"),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"every": "30s", "evry": 1}, "unknown schedule key"),
        ({"cron": ["* * * * *"]}, "is a string"),
        ("not a schedule", "not a cron expression"),
        (["30s"], "a schedule is"),
    ],
)
def test_bad_schedules_say_what_is_wrong(config: object, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        Schedule.from_config(config)  # type: ignore[arg-type]
