"""Run a project: every incoming, then every pending task through the outgoings its routes name.

Each step (:func:`run`, :func:`publish`) works on a :class:`~alumio_mistral.runtime.Runtime`
(the parts a process keeps) and is callable on its own, so a scheduler or ``tasks retry`` can
drive one step at a time; :func:`run` also takes a loaded project and opens a runtime for it.

``dry_run`` works on a throw-away view: the task store is copied to a temporary folder, local
sources (files, stdin) and Mistral sources whose operation is a GET are read into that copy, and
the request each pending task would cause is planned, not sent. A GET changes nothing on the
server, so a dry run can show which records a run would act on (the models a cleanup would
delete); a source read with another method only has its first request shown. Nothing is written
to the real store and nothing that creates, changes or deletes goes on the wire.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alumio_mistral.batch.publisher import BatchPublisher
from alumio_mistral.errors import AlumioError
from alumio_mistral.incoming import chosen_incomings, routed_outgoings
from alumio_mistral.outgoing import Outgoing, OutgoingStats, PublishCounts, error_record
from alumio_mistral.reconify.project import delivering
from alumio_mistral.runtime import Runtime
from alumio_mistral.secrets import redact_value
from alumio_mistral.subscribers import build_subscriber
from alumio_mistral.tasks import Settled, snapshot_store


@dataclass
class RunStats(PublishCounts):
    """What a run did, for the summary line and ``--json``: the publish counters summed over
    its outgoings, and what its incomings read."""

    read: int = 0
    created: int = 0
    #: why publishing stopped early, one line per outgoing (an open circuit breaker)
    stopped: list[str] = field(default_factory=list)
    #: records an incoming could not read or turn into tasks
    read_failed: int = 0
    duration: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    #: ``--dry-run`` only: the requests that would have been sent
    planned: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.read_failed == 0 and not self.stopped

    @property
    def needs_review(self) -> bool:
        """Did this run leave tasks only a person can settle (the server may have acted)?"""
        return self.review > 0

    def absorb(self, outgoing: str, stats: OutgoingStats) -> None:
        self.add_counts(stats)
        if stats.stopped:
            self.stopped.append(stats.stopped)
        self.failures.extend({"outgoing": outgoing, **failure} for failure in stats.failures)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _names(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    return names or None


def check_known(project: Any, kind: str, names: list[str] | None) -> None:
    """Every name must be an ``incoming`` or ``outgoing`` (``kind``) of the project; the error
    lists the known ones."""
    known = getattr(project, kind)
    for name in names or ():
        if name not in known:
            raise AlumioError(f"{project.path}: no {kind} named {name!r} (known: {', '.join(known) or 'none'})")


def _outgoings_for(project: Any, incoming: list[str] | None, outgoing: list[str] | None) -> list[str]:
    """The outgoings a run publishes: the named ones (even disabled: naming is deliberate), else
    the enabled ones routed from the named incomings, else every enabled one."""
    if outgoing:
        return outgoing
    if incoming:
        return list(dict.fromkeys(name for each in incoming for name in routed_outgoings(project, each) or ()))
    return _enabled_outgoings(project)


def _enabled_outgoings(project: Any) -> list[str]:
    return [name for name, config in project.outgoing.items() if not config.disabled]


def run(
    target: Any,
    *,
    incoming: str | Iterable[str] | None = None,
    outgoing: str | Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Any = None,
) -> RunStats:
    """Run the incoming configurations, then publish the pending tasks, with a
    :class:`~alumio_mistral.runtime.Runtime` or a loaded project (run in a runtime of its own).

    Disabled objects are skipped unless named: see :func:`~alumio_mistral.incoming.chosen_incomings`
    and :func:`~alumio_mistral.incoming.routed_outgoings`.
    """
    if not isinstance(target, Runtime):
        with Runtime(target) as runtime:
            return run(runtime, incoming=incoming, outgoing=outgoing, dry_run=dry_run, progress=progress)
    project = target.project
    incoming_names, outgoing_names = _names(incoming), _names(outgoing)
    check_known(project, "incoming", incoming_names)
    check_known(project, "outgoing", outgoing_names)
    chosen_outgoings = _outgoings_for(project, incoming_names, outgoing_names)
    if dry_run:
        return _dry_run(target, incoming_names, chosen_outgoings)
    started = time.monotonic()
    with delivering(project, target.store):
        ahead = _writing_ahead(target, chosen_outgoings, progress)
        incoming_stats = target.read(incoming_names, progress=progress, ahead=ahead)
        stats = publish(target, outgoing=chosen_outgoings, progress=progress)
        for name, writing in ahead.items():
            stats.absorb(name, writing.stats)
    stats.read, stats.created = incoming_stats.read, incoming_stats.created
    stats.read_failed = incoming_stats.failed
    stats.failures[:0] = [{"incoming": f.incoming, "origin": f.origin, "message": f.message}
                          for f in incoming_stats.failures]
    stats.duration = time.monotonic() - started
    return stats


@dataclass
class _WritingAhead:
    """An outgoing that writes its records while a run reads (see ``Outgoing.write_ahead``),
    and the counts of what it wrote, made once the tasks are stored."""

    outgoing: Outgoing
    on_finish: Callable[[str], None] | None
    stats: OutgoingStats = field(default_factory=OutgoingStats)

    def write_ahead(self, entities: list[Any]) -> list[Settled]:
        return self.outgoing.write_ahead(entities)

    def written(self, outcomes: list[Settled]) -> None:
        for status, count in Counter(outcome.status for outcome in outcomes).items():
            self.stats.add(status, count)
        self.stats.failures.extend(outcome.error for outcome in outcomes if outcome.error is not None)
        if self.on_finish is not None:
            for outcome in outcomes:
                self.on_finish(outcome.status)


def _writing_ahead(runtime: Runtime, names: list[str], progress: Any) -> dict[str, _WritingAhead]:
    """The outgoings among ``names`` that write ahead (batched file targets, see
    ``Outgoing.writes_ahead``): a run then needs no claim or finish for their tasks.

    Not one with tasks waiting from before (or a batch a dead run wrote and did not record):
    those are published first, through their tasks, so that the file keeps their order.
    """
    chosen = {}
    store = runtime.store
    for name in names:
        if runtime.project.outgoing[name].mode == "batch":
            continue
        outgoing = runtime.outgoing(name)
        if not outgoing.writes_ahead or any(store.list(outgoing=name, status=status, limit=1)
                                            for status in ("new", "processing")):
            continue
        if next(iter(store.items(outgoing.written_namespace)), None) is None:
            chosen[name] = _WritingAhead(outgoing, progress.finisher(name) if progress is not None else None)
    return chosen


def publish(
    runtime: Runtime,
    *,
    outgoing: str | Iterable[str] | None = None,
    task_ids: Iterable[int] | None = None,
    dry_run: bool = False,
    progress: Any = None,
    stop: threading.Event | None = None,
) -> RunStats:
    """Publish pending tasks; with ``task_ids``, only those tasks (other pending tasks of
    their outgoings stay ``new``). Once ``stop`` is set nothing more is claimed (``serve`` and
    ``worker`` on a signal): the tasks in flight finish, the others stay ``new``.

    ``tasks retry`` requeues tasks, then calls this with their ids.
    """
    started = time.monotonic()
    project, store = runtime.project, runtime.store
    names = _names(outgoing)
    check_known(project, "outgoing", names)
    owned: dict[str | None, list[int]] | None = None
    if task_ids is not None:
        owned = {}
        for task_id in task_ids:
            if (task := store.get(int(task_id))) is not None:
                owned.setdefault(task.outgoing, []).append(task.id)
        names = [name for name in (names or list(project.outgoing)) if name in owned]
    elif names is None:
        names = _enabled_outgoings(project)
    if dry_run:
        return _plan(runtime, names, RunStats(), only=owned)
    stats = RunStats()
    for name in names:
        if stop is not None and stop.is_set():
            break
        worker = _publisher(runtime, name, progress)
        stats.absorb(name, worker.publish(store, on_finish=progress.finisher(name) if progress is not None else None,
                                          task_ids=None if owned is None else owned[name], stop=stop))
    stats.duration = time.monotonic() - started
    return stats


def _publisher(runtime: Runtime, name: str, progress: Any) -> Any:
    """The outgoing's direct loop, or for ``mode: batch`` its Batch API publisher (which prints
    each job's progress where the run shows its own)."""
    outgoing = runtime.outgoing(name)
    config = runtime.project.outgoing[name]
    if config.mode != "batch":
        return outgoing
    report = None if progress is None else (lambda line: print(line, file=sys.stderr))
    return BatchPublisher(outgoing, config, runtime.clients[str(config.publisher.get("client", "mistral"))],
                          report=report)


def _dry_run(runtime: Runtime, incoming: list[str] | None, outgoing: list[str]) -> RunStats:
    started = time.monotonic()
    stats = RunStats()
    project = runtime.project
    chosen = [config.name for config in chosen_incomings(project, incoming)]
    readable = [name for name in chosen if _reads_only(project, project.incoming[name].subscriber)]
    for name in chosen:
        if name not in readable:
            stats.planned.append({"incoming": name, **_first_read(runtime, project.incoming[name].subscriber)})
    with tempfile.TemporaryDirectory(prefix="alumio-dry-run-") as folder:
        with snapshot_store(project, Path(folder)) as copy, Runtime(project, store=copy) as throwaway:
            if readable:
                incoming_stats = throwaway.read(readable, dry_run=True)
                stats.read, stats.created = incoming_stats.read, incoming_stats.created
                stats.read_failed = incoming_stats.failed
                stats.failures.extend({"incoming": f.incoming, "origin": f.origin, "message": f.message}
                                      for f in incoming_stats.failures)
            _plan(throwaway, outgoing, stats)
    stats.duration = time.monotonic() - started
    return stats


def _reads_only(project: Any, spec: Mapping[str, Any]) -> bool:
    """May a dry run read this source? Local ones always; a Mistral one when its operation is a GET."""
    if spec.get("type", "mistral") != "mistral":
        return True
    return project.catalog.get(spec["entity"]).method == "GET"


def _first_read(runtime: Runtime, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The first request a source read with another method than GET would make (its later pages
    depend on answers)."""
    subscriber: Any = build_subscriber(dict(spec), runtime.project, runtime.clients)
    url = subscriber.client.url_for(subscriber.entity, path_params=subscriber.path_params, query=subscriber.query)
    return redact_value({"method": subscriber.entity.method, "url": url, "body": subscriber.body,
                         "note": f"not read in a dry run: a {subscriber.entity.method} may change state"})


def _plan(runtime: Runtime, names: list[str], stats: RunStats,
          only: Mapping[str | None, list[int]] | None = None) -> RunStats:
    """Plan the request of every ``new`` task of the named outgoings (of ``only``'s ids per
    outgoing when given), without sending."""
    for name in names:
        worker = runtime.planner(name)
        wanted = None if only is None else set(only[name])
        for task in runtime.store.list(status="new", outgoing=name):
            if wanted is not None and task.id not in wanted:
                continue
            try:
                plans = worker.plan(task.entity)
            except AlumioError as error:
                stats.failed += 1
                stats.failures.append({"outgoing": name, "task": task.id, **error_record(error)})
                continue
            if not plans:
                stats.skipped += 1
            stats.planned.extend({"outgoing": name, "task": task.id, **plan.describe()} for plan in plans)
    return stats
