"""A circuit breaker per client: stop sending to a server that keeps failing, try again later.

Without it, an endpoint answering 500 to everything costs every task its full retry budget
(measured: 15 requests and about 25 s per task, two minutes for 20 tasks). After ``failures``
consecutive server failures (a 5xx or no answer at all, counted once per call after the
client's retries) the breaker *opens*: for ``cool_down`` seconds every call fails at once with
:class:`CircuitOpenError`, without touching the network. Then it is *half-open*: one trial call
goes through; its success closes the breaker, its failure opens it again. Any answer that is
not a server failure (a 2xx, a 4xx, a 429) proves the server is up and resets the count.

The outgoing engine shares one client between worker threads, so every change of state is
taken under one lock; the clock is injectable so tests need no sleeping.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Literal

from alumio_mistral.http.errors import CircuitOpenError

log = logging.getLogger("alumio_mistral.http")

BreakerState = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    """Counts consecutive server failures of one client and keeps calls back while open.

    ``failures`` of 0 turns the breaker off: it then never opens.
    """

    def __init__(
        self,
        client: str,
        *,
        failures: int,
        cool_down: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.failures = failures
        self.cool_down = cool_down
        self._clock = clock
        self._lock = threading.Lock()
        self._streak = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "open" if self._remaining(self._opened_at) > 0 else "half-open"

    def before_call(self, **where: Any) -> None:
        """Let a call go, or raise :class:`CircuitOpenError` while the breaker keeps calls back.

        After the cool-down exactly one caller gets through as the trial; the others are kept
        back until it reports. ``where`` (method, url, entity) goes into the error.
        """
        with self._lock:
            if self._opened_at is None:
                return
            remaining = self._remaining(self._opened_at)
            if remaining > 0:
                raise CircuitOpenError(
                    f"client {self.client!r}: {self._streak} consecutive server failures;"
                    f" not sending for {math.ceil(remaining)} s (circuit open)",
                    retry_in=remaining,
                    **where,
                )
            if self._trial_in_flight:
                raise CircuitOpenError(
                    f"client {self.client!r}: {self._streak} consecutive server failures; a trial"
                    " call is testing the server, not sending until it answers (circuit half-open)",
                    **where,
                )
            self._trial_in_flight = True

    def succeeded(self) -> None:
        """The server answered (anything but a server failure): close the breaker."""
        with self._lock:
            if self._opened_at is not None:
                log.info("client %r: the server answers again; circuit closed", self.client)
            self._streak = 0
            self._opened_at = None
            self._trial_in_flight = False

    def failed(self) -> None:
        """A server failure after the client's retries: count it, open at the threshold.

        Said once when the breaker opens: calls in flight when it opened and failed trials
        restart the cool-down without a word (one line per outage, not one per failure).
        """
        if self.failures <= 0:
            return
        with self._lock:
            self._streak += 1
            if self._trial_in_flight or self._streak >= self.failures:
                if self._opened_at is None:
                    log.warning(
                        "client %r: %d consecutive server failures; circuit open, not sending for %g s",
                        self.client, self._streak, self.cool_down,
                    )
                else:
                    log.debug("client %r: still failing (%d in a row); circuit open for another %g s",
                              self.client, self._streak, self.cool_down)
                self._opened_at = self._clock()
                self._trial_in_flight = False

    def abandoned(self) -> None:
        """The call ended without telling anything about the server (a local error): a trial
        it held goes to the next caller."""
        with self._lock:
            self._trial_in_flight = False

    def _remaining(self, opened_at: float) -> float:
        """Seconds left of the cool-down that began at ``opened_at``."""
        return opened_at + self.cool_down - self._clock()
