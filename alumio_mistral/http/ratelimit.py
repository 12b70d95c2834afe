"""A smooth, thread-safe rate limit: at most N requests per second from one client, never a burst.

The outgoing engine shares one client per name across worker threads, so the limit must
hold across threads. Each request is given its own moment to leave, ``1/rate`` after the one
before (a virtual schedule, also called GCRA): in any window of ``T`` seconds at most
``rate * T + 1`` requests go out, whatever the number of threads. A bucket that first hands
out ``rate`` tokens at once lets twice the limit through in the first second, which a server
counting per second answers with 429s. Retries of one request take their own moment too (see
:class:`~alumio_mistral.http.retry.CappedRetry`): each is a request the server counts.
"""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """Hands out one moment every ``1/rate`` seconds to whoever asks next."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"rate_limit must be positive, got {rate}")
        self.rate = rate
        self._interval = 1.0 / rate
        #: the earliest moment the next request may leave
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for this caller's moment; returns the seconds waited.

        Moments are handed out under the lock and waited for outside it, so callers queue in
        order and a waiting thread never holds up the others' bookkeeping.
        """
        with self._lock:
            now = time.monotonic()
            moment = max(now, self._next)
            self._next = moment + self._interval
        wait = moment - now
        if wait > 0:
            time.sleep(wait)
        return wait
