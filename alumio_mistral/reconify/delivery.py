"""Delivering the outbox: every queued event posted once its endpoint answers, never in the flow's way.

:func:`deliver_due` is one pass (``serve`` schedules it as a job); :class:`DeliveryLoop` runs
passes on a background thread during ``run`` and is flushed with a bounded wait at the end.
Events stay in the store until delivered: a process killed at any moment loses none, and the
next pass (in this process or another) sends what is left.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Mapping

from alumio_mistral.reconify.sinks import PermanentDelivery, Sink, TransientDelivery
from alumio_mistral.tasks.store import TaskStore, worker_id

log = logging.getLogger("alumio_mistral.reconify")

#: first retry delay, doubled per attempt up to :data:`MAX_RETRY_DELAY` (seconds)
RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 300.0


@dataclass
class DeliveryStats:
    """What one pass did."""

    delivered: int = 0
    retried: int = 0
    gave_up: int = 0


def retry_delay(attempts: int, base: float = RETRY_DELAY) -> float:
    """Exponential backoff after ``attempts`` failed tries."""
    return min(MAX_RETRY_DELAY, base * 2 ** max(0, attempts - 1))


def deliver_due(
    store: TaskStore,
    sinks: Mapping[str, Sink],
    *,
    worker: str | None = None,
    limit: int = 100,
    lease_seconds: float = 60.0,
    base_delay: float = RETRY_DELAY,
    stop: threading.Event | None = None,
    early: bool = False,
) -> DeliveryStats:
    """Send the due messages of the ``sinks``' topics (topic -> sink), one claimed batch at a time.

    The pass stops at the first failure worth retrying (the endpoint is down or struggling):
    the rest of the batch is given back with the same delay, untried, so a hanging endpoint
    costs one timeout per pass, not one per message. ``early``: try messages still waiting out
    a retry delay too (the first pass of a new process).
    """
    worker = worker or worker_id("outbox")
    stats = DeliveryStats()
    while not (stop is not None and stop.is_set()):
        batch = store.outbox_claim(list(sinks), limit, worker, lease_seconds=lease_seconds, early=early)
        if not batch:
            break
        for index, message in enumerate(batch):
            try:
                sinks[message.topic].send(message.payload)
            except TransientDelivery as error:
                delay = retry_delay(message.attempts, base_delay)
                for waiting in batch[index:]:
                    store.outbox_retry(waiting.id, worker, str(error), delay)
                stats.retried += 1
                log.warning("outbox message %s (%s): will retry in %.0fs: %s", message.id, message.topic, delay, error)
                return stats
            except PermanentDelivery as error:
                store.outbox_give_up(message.id, worker, str(error))
                stats.gave_up += 1
                log.error("outbox message %s (%s): refused, kept: %s", message.id, message.topic, error)
                continue
            store.outbox_delivered([message.id], worker)
            stats.delivered += 1
        early = False
    return stats


class DeliveryLoop:
    """Passes of :func:`deliver_due` on a daemon thread, every ``interval`` seconds.

    ``close(wait)`` stops it after one last pass bounded by ``wait`` seconds: the flow never
    waits longer than that for an endpoint, and whatever is left stays queued for the next run.
    """

    def __init__(self, store: TaskStore, sinks: Mapping[str, Sink], interval: float = 0.5,
                 base_delay: float = RETRY_DELAY) -> None:
        self._store, self.sinks, self.interval, self._base_delay = store, dict(sinks), interval, base_delay
        #: set by close(): one last pass, then the thread ends
        self._closing = threading.Event()
        #: set when close() stops waiting: the pass in flight ends after its current send
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-delivery", daemon=True)
        self._worker = worker_id("outbox")

    def start(self) -> DeliveryLoop:
        if self.sinks:
            self._thread.start()
        return self

    def _pass(self, early: bool = False) -> None:
        try:
            deliver_due(self._store, self.sinks, worker=self._worker, base_delay=self._base_delay,
                        stop=self._abort, early=early)
        except Exception:  # a store hiccup must not end delivery for the rest of the run
            log.exception("outbox delivery pass failed")

    def _run(self) -> None:
        self._pass(early=True)  # a new process tries its backlog at once: the endpoint may be back
        while not self._closing.wait(self.interval):
            self._pass()
        self._pass()

    def close(self, wait: float = 5.0) -> None:
        """One last pass (bounded by ``wait`` seconds), then stop."""
        if not self._thread.is_alive():
            return
        self._closing.set()
        self._thread.join(wait)
        if self._thread.is_alive():
            self._abort.set()
            log.warning("outbox delivery still waiting on an endpoint after %.1fs; the rest stays queued", wait)
