"""A small thread-safe token bucket: at most N requests per second from one client.

The outgoing engine shares one client per name across worker threads, so the limit must
hold across threads; a lock around a monotonic-clock bucket is all it takes.
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """Hands out ``rate`` tokens per second, with bursts of at most ``burst`` tokens."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate_limit must be positive, got {rate}")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping until one is free; returns the seconds waited."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            # a negative balance is a debt: this caller waits it off, later callers queue behind
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)
        return wait
