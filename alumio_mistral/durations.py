"""Durations as people write them in project files: ``30s``, ``250ms``, ``5m``, ``1.5h``, ``2d``.

One parser for every setting that waits or repeats (schedules, cool-downs, leases), so
``every: 90s`` and ``cool_down: 1.5m`` read the same way everywhere. A bare number is seconds.
"""

from __future__ import annotations

import math
import re

from alumio_mistral.errors import AlumioError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
#: longer than any schedule or wait a connector needs; keeps arithmetic on datetimes safe
LONGEST = 366 * 86400.0


class DurationError(AlumioError, ValueError):
    """A text that is not a duration, or one that is negative, zero where that makes no sense, or too long."""


def parse_duration(value: str | int | float, *, allow_zero: bool = False) -> float:
    """Seconds in ``value`` (``"30s"``, ``"250ms"``, ``"5m"``, ``"1h"``, ``"2d"`` or a number)."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration (like 30s, 5m or 1h)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(str(value))
        if match is None:
            raise DurationError(f"{value!r} is not a duration (like 250ms, 30s, 5m, 1h or 2d)")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not math.isfinite(seconds) or seconds < 0 or seconds > LONGEST:
        raise DurationError(f"{value!r} is out of range (0 to 366 days)")
    if seconds == 0 and not allow_zero:
        raise DurationError(f"{value!r}: a duration here must be longer than zero")
    return seconds
