"""Prometheus metrics of a running ``serve``: what the store holds and what the clients did.

Counts that live in the store (tasks by outgoing and status) are read from it at scrape time
by a collector, so ``/metrics`` and ``tasks list`` can never disagree; what only the process
sees (requests, retries, 429s, publish latency) is counted as it happens. Each ``Metrics``
has its own registry: two services in one process (tests) never mix their figures.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: breaker states as numbers, for alerting rules (``alumio_breaker_state > 0``)
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}

TaskCounts = Callable[[], Mapping[tuple[str, str], int]]
BreakerStates = Callable[[], Mapping[str, str]]
ScheduleLags = Callable[[], Mapping[str, float]]


class _StateCollector(Collector):
    """Reads the current state at each scrape (tasks, breakers, schedule lag)."""

    def __init__(self, tasks: TaskCounts, breakers: BreakerStates, lags: ScheduleLags) -> None:
        self._tasks, self._breakers, self._lags = tasks, breakers, lags

    def collect(self) -> Iterator[GaugeMetricFamily]:
        tasks = GaugeMetricFamily("alumio_tasks", "Tasks in the store by outgoing and status.",
                                  labels=["outgoing", "status"])
        for (outgoing, status), count in sorted(self._tasks().items()):
            tasks.add_metric([outgoing, status], count)
        yield tasks
        breakers = GaugeMetricFamily("alumio_breaker_state",
                                     "Circuit breaker of each client: 0 closed, 1 half-open, 2 open.",
                                     labels=["client"])
        for client, state in sorted(self._breakers().items()):
            breakers.add_metric([client], BREAKER_STATES.get(state, 0))
        yield breakers
        lags = GaugeMetricFamily("alumio_schedule_lag_seconds",
                                 "How late each schedule's last run started after its tick.", labels=["job"])
        for job, lag in sorted(self._lags().items()):
            lags.add_metric([job], lag)
        yield lags


class Metrics:
    """The figures ``/metrics`` serves; the runtime feeds the counters as work happens."""

    def __init__(self, *, tasks: TaskCounts, breakers: BreakerStates, lags: ScheduleLags) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("alumio_http_requests", "HTTP requests answered, by client and status.",
                                ["client", "status"], registry=self.registry)
        self.retries = Counter("alumio_http_retries", "Requests sent again after a transient failure, by client.",
                               ["client"], registry=self.registry)
        self.rate_limited = Counter("alumio_http_rate_limited", "Answers 429 (too many requests), by client.",
                                    ["client"], registry=self.registry)
        self.publish_seconds = Histogram("alumio_publish_seconds", "Time to publish one task, by outgoing.",
                                         ["outgoing"], registry=self.registry,
                                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
        self.registry.register(_StateCollector(tasks, breakers, lags))

    def observe_response(self, client: str, status: int | str) -> None:
        self.requests.labels(client=client, status=str(status)).inc()
        if str(status) == "429":
            self.rate_limited.labels(client=client).inc()

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
