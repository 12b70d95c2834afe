"""When scheduled work is due: a cron expression in a time zone, or a fixed interval.

Pure time arithmetic, no threads (the :mod:`~alumio_mistral.scheduler` runs the jobs).

Every schedule is a sequence of *ticks*, instants that every process computes the same way:
cron ticks are the expression's times; interval ticks are the multiples of the interval
since the Unix epoch (``every: 30s`` ticks at :00 and :30 of each minute). Because a tick is
the same instant in every process, several ``serve`` processes can agree on "who runs the
09:00 tick" through the store, and a tick is its own identity in the schedule log.

Missed ticks coalesce: :meth:`Schedule.due_tick` answers only the *latest* tick at or before
now that is newer than the last one run, so a process paused for an hour on ``every: 1m``
runs once when it wakes, not sixty times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from alumio_mistral.durations import DurationError, parse_duration
from alumio_mistral.errors import AlumioError

UTC = timezone.utc
#: the shortest interval: a schedule is for polling and draining, not a busy loop
SHORTEST_INTERVAL = 1.0


class ScheduleError(AlumioError, ValueError):
    """A schedule that cannot be understood (bad cron expression, unknown time zone...)."""


@dataclass(frozen=True)
class Schedule:
    """``every`` seconds, or a five-field ``cron`` expression read in ``timezone``."""

    every: float | None = None
    cron: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ScheduleError("a schedule has either `every` (an interval) or `cron` (an expression)")
        if self.every is not None and self.every < SHORTEST_INTERVAL:
            raise ScheduleError(f"every: {self.every:g}s is shorter than the shortest interval ({SHORTEST_INTERVAL:g}s)")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ScheduleError(f"cron: {self.cron!r} is not a cron expression (like '*/5 * * * *')")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ScheduleError(f"timezone: unknown time zone {self.timezone!r}") from error

    @classmethod
    def from_config(cls, value: str | Mapping[str, Any]) -> Schedule:
        """``{every: 30s}``, ``{cron: "0 * * * *", timezone: Europe/Amsterdam}``, or a bare
        string: a duration (``"30s"``) or a cron expression (``"*/5 * * * *"``)."""
        if isinstance(value, str):
            try:
                return cls(every=parse_duration(value))
            except DurationError:
                return cls(cron=value)
        if not isinstance(value, Mapping):
            raise ScheduleError("a schedule is a duration, a cron expression, or {every: ...} / {cron: ...}")
        unknown = set(value) - {"every", "cron", "timezone"}
        if unknown:
            raise ScheduleError(f"unknown schedule key(s): {', '.join(sorted(map(str, unknown)))} "
                                "(known: every, cron, timezone)")
        every = value.get("every")
        try:
            seconds = None if every is None else parse_duration(every)
        except DurationError as error:
            raise ScheduleError(f"every: {error}") from error
        cron = value.get("cron")
        if cron is not None and not isinstance(cron, str):
            raise ScheduleError("cron: a cron expression is a string, like '*/5 * * * *'")
        zone = value.get("timezone", "UTC")
        if not isinstance(zone, str):
            raise ScheduleError("timezone: a time zone name, like UTC or Europe/Amsterdam")
        return cls(every=seconds, cron=cron, timezone=zone)

    def describe(self) -> str:
        if self.every is not None:
            return f"every {self.every:g}s"
        return f"cron {self.cron!r} ({self.timezone})"

    # -- ticks ---------------------------------------------------------------------------------

    def next_tick(self, after: datetime) -> datetime:
        """The first tick strictly after ``after`` (an aware datetime), in UTC."""
        after = _aware(after)
        if self.every is not None:
            seconds = after.timestamp()
            return datetime.fromtimestamp((math.floor(seconds / self.every) + 1) * self.every, UTC)
        local = after.astimezone(ZoneInfo(self.timezone))
        try:
            found: datetime = croniter(self.cron, local).get_next(datetime)
        except (CroniterBadCronError, CroniterBadDateError) as error:
            raise ScheduleError(f"cron: {self.cron!r}: {error}") from error
        return found.astimezone(UTC)

    def latest_tick(self, at_or_before: datetime) -> datetime:
        """The last tick at or before the given moment, in UTC."""
        moment = _aware(at_or_before)
        if self.every is not None:
            return datetime.fromtimestamp(math.floor(moment.timestamp() / self.every) * self.every, UTC)
        local = (moment + timedelta(microseconds=1)).astimezone(ZoneInfo(self.timezone))
        found: datetime = croniter(self.cron, local).get_prev(datetime)
        return found.astimezone(UTC)

    def due_tick(self, last_run: datetime | None, now: datetime, started: datetime | None = None) -> datetime | None:
        """The tick to run now, if any: the latest one at or before ``now`` newer than
        ``last_run`` (missed ticks coalesce into it).

        Never run yet: an interval is due at once (a poller should poll when it starts); a
        cron expression waits for its first tick after ``started`` (a nightly job started at
        noon runs tonight, not at noon).
        """
        reference = last_run if last_run is not None else (None if self.every is not None else started)
        tick = self.latest_tick(now)
        if reference is not None and tick <= _aware(reference):
            return None
        return tick


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (the store keeps UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
