"""The client's rate limit: smooth across threads, and retries of a 429 wait their turn too."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import responses

from alumio_mistral.config.schemas import MAX_CONCURRENCY
from alumio_mistral.http.client import POOL_SIZE
from alumio_mistral.http.ratelimit import TokenBucket
from test_http_retry import BASE, FakeClock, clock, make_client

__all__ = ["clock"]  # fixture defined beside the retry tests


def test_threads_never_get_a_burst_above_the_rate() -> None:
    """40 moments at 200/s from 8 threads: never more than 3 in any 10 ms, and 39 intervals long."""
    bucket = TokenBucket(rate=200.0)
    moments: list[float] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: (bucket.acquire(), moments.append(time.monotonic())), range(40)))
    assert time.monotonic() - started >= 39 / 200
    moments.sort()
    # a burst would show as many moments close together; sleeping may only make them later
    assert max(sum(1 for other in moments if first <= other < first + 0.010) for first in moments) <= 3


def test_an_idle_spell_earns_no_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=2.0)
    bucket.acquire()
    clock.now += 60  # a minute of nothing
    for _ in range(3):
        bucket.acquire()
    assert clock.sleeps == [0.5, 0.5]


@responses.activate
def test_a_retried_429_takes_its_own_moment(clock: FakeClock) -> None:
    """urllib3 repeats the request itself: without a moment of its own it collides again."""
    responses.get(BASE + "/v1/models", status=429)
    responses.get(BASE + "/v1/models", json={})
    client = make_client(rate_limit=2.0, backoff_factor=0)
    client.request("GET", "/v1/models")
    assert len(responses.calls) == 2
    assert clock.sleeps == [0.5]


def test_the_connection_pool_holds_a_connection_per_worker() -> None:
    """A pool smaller than the concurrency discards connections ("pool is full") and reopens them."""
    assert POOL_SIZE >= MAX_CONCURRENCY
