"""``serve`` and ``worker``: one runtime running a project's schedules, webhooks and drains.

:class:`Service` wires the parts built elsewhere: a :class:`~alumio_mistral.scheduler.Scheduler`
with a job per scheduled incoming (poll) and outgoing (drain) whose log is the task store (so
several ``serve`` processes on one store run each tick once), the WSGI
:class:`~alumio_mistral.service.app.ServiceApp` (webhooks, ``/healthz``, ``/metrics``) served by
a :class:`~alumio_mistral.wsgi_server.BackgroundServer`, and the metrics fed by every client.
:func:`drain` is ``worker``: publish until stopped, napping while there is nothing to do.
Both run under :func:`~alumio_mistral.service.lifecycle.run_until_signal`.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from alumio_mistral import engine
from alumio_mistral.incoming import EntityRejected, receiver
from alumio_mistral.runtime import Runtime
from alumio_mistral.schedule import Schedule
from alumio_mistral.scheduler import Job, JobRun, Scheduler
from alumio_mistral.reconify.delivery import DeliveryLoop
from alumio_mistral.reconify.project import project_sinks
from alumio_mistral.service.dashboard import dashboard_for
from alumio_mistral.service.app import Hook, Ingest, ServiceApp
from alumio_mistral.service.metrics import Metrics
from alumio_mistral.tasks import worker_id
from alumio_mistral.webhooks import WebhookRefused, WebhookSpec
from alumio_mistral.wsgi_server import BackgroundServer

log = logging.getLogger("alumio_mistral.serve")

UTC = timezone.utc
#: how long ``worker`` naps when it found nothing to publish (a new task waits at most this)
IDLE_NAP = 0.5


def job_name(kind: str, name: str) -> str:
    """The name of a scheduled job in the store's schedule log: ``incoming:NAME``, ``outgoing:NAME``."""
    return f"{kind}:{name}"


def scheduled(project: Any) -> dict[str, Schedule]:
    """Every enabled incoming and outgoing with a ``schedule``, by job name (webhooks are posted
    to, never polled)."""
    found: dict[str, Schedule] = {}
    for name, config in project.incoming.items():
        if config.schedule is not None and not config.disabled and config.subscriber.get("type") != "webhook":
            found[job_name("incoming", name)] = config.schedule
    for name, config in project.outgoing.items():
        if config.schedule is not None and not config.disabled:
            found[job_name("outgoing", name)] = config.schedule
    return found


class Service:
    """One project's schedules, webhooks, health and metrics, for the life of ``serve``."""

    def __init__(self, runtime: Runtime, stop: threading.Event, dashboard_token: str | None = None,
                 poll_seconds: float = 3.0) -> None:
        self.runtime = runtime
        self.stop = stop
        project = runtime.project
        # a scheduled run holds its job under the project's lease, like a task: renewed while it
        # runs, taken over by another process that long after its holder died
        self.scheduler = Scheduler(self._jobs(), runtime.store, worker_id("serve"),  # type: ignore[arg-type]
                                   lease_seconds=project.store.lease_seconds)
        self.metrics = Metrics(tasks=self._task_counts, breakers=self._breakers, lags=self._lags)
        for name in project.clients:
            runtime.clients[name].observers.append(self._observe)
        for name in project.outgoing:
            runtime.outgoing(name).latency_observers.append(self._observe_publish)
        dashboard = dashboard_for(runtime, token=dashboard_token, schedules=scheduled(project),
                                  breakers=self._breakers, poll_seconds=poll_seconds)
        self.app = ServiceApp(self._hooks(), health=self.health, metrics=self.metrics.render, dashboard=dashboard)
        self._scheduler_thread: threading.Thread | None = None

    # -- parts ---------------------------------------------------------------------------------

    def _jobs(self) -> list[Job]:
        runtime, stop = self.runtime, self.stop

        def poll(name: str) -> Callable[[], Any]:
            def action() -> Any:
                stats = runtime.read([name])
                return {"read": stats.read, "created": stats.created, "failed": stats.failed}
            return action

        def drain(name: str) -> Callable[[], Any]:
            def action() -> Any:
                stats = engine.publish(runtime, outgoing=[name], stop=stop)
                return {"processed": stats.processed, "failed": stats.failed, "review": stats.review,
                        "skipped": stats.skipped, "stopped": stats.stopped}
            return action

        jobs = []
        for job, schedule in scheduled(runtime.project).items():
            kind, name = job.split(":", 1)
            jobs.append(Job(job, schedule, poll(name) if kind == "incoming" else drain(name)))
        return jobs

    def _hooks(self) -> list[Hook]:
        runtime = self.runtime
        hooks = []
        for name, config in runtime.project.incoming.items():
            if config.subscriber.get("type") != "webhook" or config.disabled:
                continue
            store = receiver(runtime.project, runtime.store, name, clients=runtime.clients, library=runtime.library)
            hooks.append(Hook(name, WebhookSpec.from_config(config.subscriber), _refusing(store)))
        return hooks

    # -- figures -------------------------------------------------------------------------------

    def _observe(self, client: str, status: int | None, _elapsed: float, retried: tuple[int | None, ...]) -> None:
        self.metrics.observe_response(client, "none" if status is None else status)
        for earlier in retried:
            self.metrics.retries.labels(client=client).inc()
            if earlier == 429:
                self.metrics.rate_limited.labels(client=client).inc()

    def _observe_publish(self, outgoing: str, seconds: float) -> None:
        self.metrics.publish_seconds.labels(outgoing=outgoing).observe(seconds)

    def _task_counts(self) -> Mapping[tuple[str, str], int]:
        return {(outgoing or "", status): count
                for (outgoing, status), count in self.runtime.store.counts_by_outgoing().items()}

    def _breakers(self) -> Mapping[str, str]:
        return {name: self.runtime.clients[name].breaker_state for name in self.runtime.project.clients}

    def _lags(self) -> Mapping[str, float]:
        return {name: (run.started - run.tick).total_seconds() for name, run in self.scheduler.last_runs.items()}

    def health(self) -> tuple[bool, Mapping[str, Any]]:
        """Is the store answering (one keyed lookup), and is the scheduler loop alive?"""
        details: dict[str, Any] = {}
        try:
            self.runtime.store.get("serve", "health")
            details["store"] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means unhealthy, said in the answer
            details["store"] = f"unreachable: {type(error).__name__}"
        alive = self._scheduler_thread is not None and self._scheduler_thread.is_alive()
        details["scheduler"] = "running" if alive else "stopped"
        details["jobs"] = sorted(self.scheduler.jobs)
        return details["store"] == "ok" and (alive or self.stop.is_set()), details

    # -- running -------------------------------------------------------------------------------

    def run_once(self) -> list[JobRun]:
        """Every due schedule one time (``serve --once``)."""
        return self.scheduler.run_once()

    def start(self, host: str, port: int) -> Callable[[float], bool]:
        """Serve HTTP and run the schedules; returns what winds it all down within a grace period."""
        # the schedules first: once the address is printed, /healthz must already say "running"
        self._scheduler_thread = threading.Thread(target=self.scheduler.serve, name="scheduler", daemon=True)
        self._scheduler_thread.start()
        # logged interactions (``log:``) are delivered in the background for as long as serve runs
        delivery = DeliveryLoop(self.runtime.store, project_sinks(self.runtime.project)).start()
        server = BackgroundServer(self.app, host=host, port=port, ident="alumio-mistral serve").start()
        log.info("serving on %s (webhooks: %s; jobs: %s)", server.base_uri,
                 ", ".join(self.app.hooks) or "none", ", ".join(self.scheduler.jobs) or "none")
        print(f"serve: listening on {server.base_uri}", flush=True)

        def finish(grace: float) -> bool:
            self.scheduler.stop()
            finished = self.scheduler.close(grace)
            server.stop(timeout=min(grace, 5.0))
            delivery.close(min(grace, 5.0))
            return finished

        return finish


def _refusing(store: Callable[[list[Any]], Mapping[str, Any]]) -> Ingest:
    """``store`` with an entity its incoming refuses answered 422 (nothing of the post stored)."""
    def ingest(entities: list[Any]) -> Mapping[str, Any]:
        try:
            return store(entities)
        except EntityRejected as error:
            raise WebhookRefused(422, str(error)) from None
    return ingest


def drain(runtime: Runtime, outgoings: Iterable[str] | None, stop: threading.Event) -> Callable[[float], bool]:
    """``worker``: publish the chosen outgoings' tasks until ``stop``, from a background thread;
    returns what waits for the work in flight within a grace period."""
    names = list(outgoings) if outgoings else None

    def loop() -> None:
        while not stop.is_set():
            try:
                stats = engine.publish(runtime, outgoing=names, stop=stop)
            except Exception as error:  # noqa: BLE001 - a busy database must not end the worker
                log.error("worker: publishing failed, trying again: %s", error)
                stop.wait(IDLE_NAP)
                continue
            done = stats.processed + stats.failed + stats.skipped + stats.review + stats.resumed
            if not done or stats.stopped:
                stop.wait(IDLE_NAP)

    thread = threading.Thread(target=loop, name="worker", daemon=True)
    thread.start()

    def finish(grace: float) -> bool:
        thread.join(grace)
        return not thread.is_alive()

    return finish


def schedule_status(project: Any, store: Any, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each schedule's last run (from the store's log) and next tick, for ``status``."""
    moment = now or datetime.now(UTC)
    rows = []
    for job, schedule in scheduled(project).items():
        runs = store.schedule_runs(job, limit=1)
        last = runs[0] if runs else None
        rows.append({
            "job": job,
            "schedule": schedule.describe(),
            "last": None if last is None else {
                "tick": last.tick.isoformat(), "started": last.started.isoformat(), "duration": last.duration,
                "ok": last.ok, "error": last.error},
            "next": schedule.next_tick(moment).isoformat(),
        })
    return rows
