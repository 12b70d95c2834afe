"""The retry policy: urllib3's ``Retry``, with a total-time cap, chosen per request.

urllib3 already does the hard parts (status lists, connect/read counters, exponential
backoff with jitter and a cap, ``Retry-After`` in seconds and as an HTTP-date), so the
connector uses it rather than a loop of its own. Two things urllib3 lacks are added here:

* a cap on the total time spent retrying (:class:`CappedRetry`), and
* a policy per request on one shared, pooled session (:class:`PolicyAdapter`), because a
  ``requests`` adapter holds one ``max_retries`` while ``files.upload`` and ``chat.complete``
  need different ones on the same client, from several threads at once.
"""

from __future__ import annotations

import contextvars
import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

log = logging.getLogger("alumio_mistral.http")

ALL_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
#: statuses retried for reads and stateless compute (chat, embeddings, OCR...)
SAFE_STATUSES = frozenset({429, 500, 502, 503, 504})
#: statuses where the server cannot have processed the request: retried for every request
UNPROCESSED_STATUSES = frozenset({429, 503})
#: waits longer than this (seconds) are logged at INFO with their reason: a person wonders why
LOGGED_WAIT = 1.0


class CappedRetry(Retry):
    """urllib3 ``Retry`` that waits inside :meth:`increment` and stops at a total-time cap.

    Why waiting moves from :meth:`sleep` to :meth:`increment`: urllib3 first calls
    ``increment`` (which decides whether to retry) and only then ``sleep``. The cap needs the
    length of the coming wait (``Retry-After`` or backoff) before that decision, so that a
    server asking for 10 minutes with a 2-minute cap gives up at once with the typed error,
    rather than sleeping and then failing. Doing the wait in ``increment`` also keeps the
    behaviour the same under ``responses`` (which runs ``increment`` but never ``sleep``), so
    the unit tests exercise the real waits with a fake clock.

    ``RETRY_AFTER_STATUS_CODES`` drops 413: a ``Retry-After`` on any status other than 429/503
    must not turn a refused upload into a retried one.

    ``before_retry`` runs after the wait, right before urllib3 sends again: the client's rate
    limiter takes a moment there, since a retry is one more request the server counts (retries
    of 429s that skipped the limiter collided again and again).
    """

    RETRY_AFTER_STATUS_CODES = UNPROCESSED_STATUSES

    def __init__(
        self,
        *args: Any,
        max_wait: float | None = None,
        started: float | None = None,
        before_retry: Callable[[], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.max_wait = max_wait
        self.before_retry = before_retry
        #: when the first attempt began: the cap counts attempts and waits alike
        self.started = time.monotonic() if started is None else started

    def new(self, **kw: Any) -> CappedRetry:
        kw.setdefault("max_wait", self.max_wait)
        kw.setdefault("started", self.started)
        kw.setdefault("before_retry", self.before_retry)
        return super().new(**kw)

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> CappedRetry:
        following = super().increment(method, url, response, error, _pool, _stacktrace)
        wait = following.wait_before_next(response)
        elapsed = time.monotonic() - self.started
        if self.max_wait is not None and elapsed + wait > self.max_wait:
            reason = error or ResponseError(
                f"retrying would exceed the total time cap of {self.max_wait:g} s "
                f"(spent {elapsed:.1f} s, next wait {wait:.1f} s)"
            )
            raise MaxRetryError(_pool, url, reason) from reason  # type: ignore[arg-type]
        if wait > 0:
            if wait > LOGGED_WAIT:
                reason = f"HTTP {response.status}" if response is not None else type(error).__name__
                log.info("waiting %.1f s before retrying %s %s (%s)", wait, method, url, reason,
                         extra={"retry_wait": wait, "retry_reason": reason})
            else:
                log.debug("retrying %s %s in %.2f s", method, url, wait)
            time.sleep(wait)
        if self.before_retry is not None:
            self.before_retry()
        return following

    def wait_before_next(self, response: BaseHTTPResponse | None) -> float:
        """What urllib3's ``sleep`` would wait: ``Retry-After`` if given, else the backoff.

        An unreadable ``Retry-After`` falls back to the backoff instead of failing the call.
        """
        if self.respect_retry_after_header and response is not None:
            try:
                retry_after = self.get_retry_after(response)
            except InvalidHeader:
                retry_after = None
            if retry_after:
                return retry_after
        return self.get_backoff_time()

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Already waited in :meth:`increment` (see the class docstring)."""


def retry_policy(
    *,
    safe_to_retry: bool,
    max_attempts: int,
    backoff_factor: float,
    backoff_max: float,
    max_retry_wait: float | None,
    before_retry: Callable[[], Any] | None = None,
) -> CappedRetry:
    """A fresh policy for one request (fresh, so the total-time clock starts now).

    ``safe_to_retry`` requests (reads, stateless compute) retry on connect and read errors
    and on 429/500/502/503/504. Others (creating or changing state) retry only where the
    server cannot have processed them: connect errors and 429/503, never after a read error.
    """
    retries = max(0, max_attempts - 1)
    return CappedRetry(
        total=retries,
        connect=retries,
        read=retries if safe_to_retry else 0,
        status=retries,
        other=0,
        allowed_methods=ALL_METHODS,
        status_forcelist=SAFE_STATUSES if safe_to_retry else UNPROCESSED_STATUSES,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        backoff_jitter=backoff_factor,
        respect_retry_after_header=True,
        raise_on_status=False,
        max_wait=max_retry_wait,
        before_retry=before_retry,
    )


_current_policy: contextvars.ContextVar[Retry | None] = contextvars.ContextVar(
    "alumio_mistral_retry_policy", default=None
)


class PolicyAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose ``max_retries`` is the policy of the request being sent.

    ``requests`` reads ``adapter.max_retries`` once per send. Making it a property backed by
    a context variable lets each call (each thread) carry its own policy through the one
    pooled adapter, with no lock and no second session.
    """

    @property  # type: ignore[override]
    def max_retries(self) -> Retry:
        return _current_policy.get() or self._default_retries

    @max_retries.setter
    def max_retries(self, value: Retry) -> None:
        self._default_retries = value


@contextmanager
def using_policy(policy: Retry) -> Iterator[None]:
    """Send the requests made inside this block with ``policy``."""
    token = _current_policy.set(policy)
    try:
        yield
    finally:
        _current_policy.reset(token)
