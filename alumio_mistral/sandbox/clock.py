"""Time as the sandbox sees it: real by default, or driven by a test.

Rate limits, latency and timestamps read this clock, so a test can give the sandbox a
:class:`ManualClock` and advance it from a patched ``sleep``: retry waits are then checked
exactly and no test sleeps for real.
"""

from __future__ import annotations

import threading
import time


class Clock:
    """Wall-clock time and real sleeping."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock(Clock):
    """A clock that moves only when told (``sleep`` advances it instantly)."""

    def __init__(self, start: float = 1767225600.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        #: every ``sleep``/``advance`` amount, in order, so tests can assert the waits
        self.sleeps: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    advance = sleep
