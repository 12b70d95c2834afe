"""Publishing the tasks of one outgoing configuration.

Each task goes: claim -> entity transformers -> publisher -> response transformers -> optional
``then`` target -> finish (``processed``, ``failed``, ``skipped`` or ``review``). Workers run in
a thread pool; a client's ``rate_limit`` is enforced by the client itself, so every worker using
that client shares it.

Never twice, never lost: a claim is a lease that a heartbeat renews while the pass runs, so a
task whose worker died (whatever its host or pid) lapses and is picked up by the next pass.
Before a request that is not safe to repeat goes out, the task is marked as *sent* in a
storage, with what :mod:`alumio_mistral.reconcile` needs to look for it later. A lapsed task is
put back to ``new`` when nothing unsafe was sent for it (or the outgoing is safe to repeat);
otherwise it goes to ``review``: the server may have acted on it, and only a person (or
``tasks reconcile``) can tell. The same holds for a request that fails after it may have
reached the server (a dropped connection, a read timeout, a 500, a broken 2xx body), and for
any failure after an unsafe request succeeded: ``failed`` is kept for tasks that are safe to
replay. File and stdout targets are safe to repeat: at worst a crash repeats a few records.

A file target writes a batch, makes it durable, then records its tasks in one transaction
(:class:`_Outcomes`), noting first where the batch goes: after a crash, a batch that reached
the file has its tasks finished, one that did not is written again, so a crash repeats no
record that was whole in the file. Its tasks are claimed a batch ahead too. Other targets
claim ``concurrency`` tasks once the last claimed one has a worker, and record each as it ends.

``run`` goes further for such a target (:meth:`Outgoing.write_ahead`): it writes the records of
each batch an incoming reads, syncs them, and the store then keeps the batch's tasks already
finished, in the transaction that stores the batch; no claim and no finish per task. A crash
between the two repeats that batch's records when the source is read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from alumio_mistral import reconcile
from alumio_mistral.errors import AlumioError
from alumio_mistral.http import Client
from alumio_mistral.http.retry import LOGGED_WAIT
from alumio_mistral.http.errors import (
    ApiError,
    BrokenResponseError,
    CircuitOpenError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from alumio_mistral.publishers import PlannedCall, Publisher, build_publisher
from alumio_mistral.publishers.files import PendingWrite, landed
from alumio_mistral.reconify.interactions import Call, InteractionLog, now_ms
from alumio_mistral.secrets import redact, redact_value
from alumio_mistral.publishers.actions import action_operation
from alumio_mistral.subscribers.triggers import emits, emitted_events
from alumio_mistral.tasks import (
    DEFAULT_LEASE_SECONDS,
    LeaseHeldError,
    Settled,
    Task,
    TaskOutcome,
    TaskStore,
    TaskStoreError,
    worker_id,
)
from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.errors import TransformError
from alumio_mistral.transformers.patterns import clone
from alumio_mistral.transformers.pipeline import Pipeline, compile_pipeline

#: storage namespace of "a request that is not safe to repeat has left for this task"
SENT_NAMESPACE = "outgoing.sent"
#: storage namespace (``outgoing.written:NAME``) of "this batch is being written to the file target"
WRITTEN_NAMESPACE = "outgoing.written"
#: key under which response transformers find the task the response belongs to
TASK_KEY = "_task"
#: the longest single wait between task-level retries, whatever the backoff says
MAX_BACKOFF = 60.0
#: failures worth another try (where the request is safe to repeat, or the server cannot have acted)
TRANSIENT_ERRORS = (RateLimitedError, ServerError, TransportError, BrokenResponseError)
#: outcomes of a file target recorded per transaction at most (its own sync batch when smaller)
FINISH_BATCH = 1000
#: the longest a written record's task waits to be recorded (it stays leased meanwhile)
FINISH_DELAY = 1.0
#: what a person does with a task in ``review``, said in every review record
NEXT_STEP = "Check the target, then `tasks reconcile`, `tasks resolve` or `tasks retry --force` (which may send it twice)"

log = logging.getLogger("alumio_mistral.outgoing")

#: the outcomes of a task written ahead that ended with neither result nor error (one each)
_PROCESSED, _SKIPPED = Settled("processed"), Settled("skipped")


@dataclass
class PublishCounts:
    """The task counters of publishing: one outgoing's pass has them, and a run their sums."""

    processed: int = 0
    failed: int = 0
    skipped: int = 0
    review: int = 0
    #: stale tasks of a dead run put back to ``new``
    resumed: int = 0
    #: tasks another worker holds under a live lease (left alone)
    leased: int = 0
    #: claimed tasks given back to ``new`` unsent because a client's circuit breaker is open
    deferred: int = 0

    def add(self, status: str, amount: int = 1) -> None:
        setattr(self, status, getattr(self, status) + amount)

    def add_counts(self, other: PublishCounts) -> None:
        for counter in fields(PublishCounts):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


@dataclass
class OutgoingStats(PublishCounts):
    """What one outgoing did in one publish pass."""

    #: why the pass stopped claiming early (an open circuit breaker), for the run summary
    stopped: str | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)


class _Outcome(NamedTuple):
    """How one task ended (a tuple: one is made per task, for a fifth of a frozen dataclass's cost)."""

    #: a final status, or ``new``: nothing was sent, give the task back (circuit open)
    status: str
    result: Any = None
    error: dict[str, Any] | None = None
    #: outbox messages written with the outcome (the interactions ``log:`` keeps)
    outbox: tuple[tuple[str, Any], ...] = ()


class _Sends:
    """What one task's requests that are not safe to repeat may have done on the server so far."""

    def __init__(self) -> None:
        #: unsafe requests that were answered with success: the server did act
        self.landed: list[Any] = []
        #: the failure of an unsafe request after which the server may have acted
        self.uncertain: ApiError | None = None
        #: every call of the publisher, timed, for the outgoing's ``log:``
        self.calls: list[Call] = []


class _Heartbeat:
    """Renews the leases a publish pass holds, every third of the lease, from its own thread.

    While the process lives its tasks never look stale to another run; once it dies (or its
    host is gone) nothing renews them and they lapse, whatever host name or pid comes next.
    """

    def __init__(self, store: TaskStore, worker: str, lease_seconds: float) -> None:
        self._store, self._worker, self._lease = store, worker, lease_seconds
        self._held: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{worker}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def hold(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._held.update(ids)

    def drop(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._held.difference_update(ids)

    def _beat(self) -> None:
        while not self._stop.wait(self._lease / 3):
            with self._lock:
                held = list(self._held)
            try:
                self._store.renew(held, self._worker, self._lease)
            except TaskStoreError as error:  # a busy database: the next beat tries again
                log.warning("could not renew the leases of %d task(s): %s", len(held), error)


def error_record(error: BaseException) -> dict[str, Any]:
    """The redacted, JSON-safe record of why a task failed."""
    if isinstance(error, ApiError):
        return error.to_dict()
    return {"type": type(error).__name__, "message": redact(str(error))}


class Outgoing:
    """One outgoing configuration, compiled once and ready to publish tasks."""

    def __init__(
        self,
        project: Any,
        config: Any,
        clients: Mapping[str, Client],
        *,
        store: TaskStore | None = None,
        library: Library | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dry_run: bool = False,
    ) -> None:
        self.name: str = config.name
        self._sleep = sleep
        where = f"outgoing.{self.name}"
        self.publisher: Publisher = build_publisher(config.publisher, project, clients, where=f"{where}.publisher")
        self.then: Publisher | None = (
            build_publisher(config.then, project, clients, where=f"{where}.then") if config.then else None
        )
        library = library or Library.for_project(project.root, project.transformers, source=str(project.path))
        context = TransformContext(storages=store, clients=clients, dry_run=dry_run)
        source = str(project.path)
        self._entity_pipeline = compile_pipeline(
            config.entity_transformers, source=source, where=f"{where}.entity_transformers",
            library=library, context=context,
        )
        responses = compile_pipeline(
            config.response_transformers, source=source, where=f"{where}.response_transformers",
            library=library, context=context,
        )
        self._response_steps = [Pipeline(responses.name, [step]) for step in responses.steps]
        failure = config.failure or {}
        self._retry = failure.get("policy", "retry") == "retry"
        self._attempts = max(1, int(failure.get("attempts", 3)))
        self._backoff = float(failure.get("backoff", 1.0))
        self.concurrency = max(1, int(config.concurrency or 1))
        #: called with (outgoing, seconds) after each task is published, whatever its outcome
        #: (``serve`` feeds its publish latency histogram from here)
        self.latency_observers: list[Callable[[str, float], None]] = []
        store_config = getattr(project, "store", None)
        self.lease_seconds: float = float(getattr(store_config, "lease_seconds", DEFAULT_LEASE_SECONDS))
        #: the catalog operation and client of the publisher, recorded so a send can be looked for later
        self._operation: str | None = (
            config.publisher.get("entity") if config.publisher.get("type", "mistral") == "mistral" else None
        )
        #: the operation whose successful calls emit a trigger event (``chat.complete``...), actions included
        self._emits: str | None = emits(project, self._operation or action_operation(config.publisher))
        self._client_name = str(config.publisher.get("client", "mistral"))
        self._lookup = reconcile.lookup_for(self._operation, project.catalog) if self._operation else None
        self._log: InteractionLog | None = (
            InteractionLog.for_outgoing(self.name, self._operation, config.log) if config.log else None
        )
        #: are the publisher's calls read after a task (its ``log:``, the events it emits)? if
        #: not, they are neither timed nor kept
        self._keeps_calls = self._log is not None or bool(self._emits)
        if self.finish_batch > 1:
            self.publisher.hold_until_flushed()  # type: ignore[attr-defined]  # a file target

    @property
    def safe_to_repeat(self) -> bool:
        """May a task interrupted after sending be sent again (publisher and ``then`` alike)?"""
        return self.publisher.safe_to_repeat and (self.then is None or self.then.safe_to_repeat)

    # -- the run -----------------------------------------------------------------------------

    def recover(self, store: TaskStore) -> OutgoingStats:
        """Resume or hold for review the tasks whose lease lapsed (their worker died)."""
        stats = OutgoingStats()
        left_for_later = self._settle_writes(store, stats)
        for task in store.stale(self.name):
            if task.id in left_for_later:
                continue  # its lease lapsed since its batch's mark was left: a later pass settles it
            mark = store.get(SENT_NAMESPACE, str(task.id))
            if self.safe_to_repeat or mark is None:
                try:
                    stats.resumed += store.requeue([task.id], ["processing"])
                except LeaseHeldError:
                    pass  # another run recovered and claimed it since we looked
                continue
            error = review_record(
                "InterruptedPublish",
                f"outgoing {self.name!r}: the worker stopped (its lease lapsed) after sending this task's"
                f" request, which is not safe to repeat; the server may have acted on it. {NEXT_STEP}.",
                task.claimed_by, mark,
            )
            store.finish(task.id, "review", error=error)
            store.delete(SENT_NAMESPACE, str(task.id))
            stats.review += 1
            stats.failures.append({"task": task.id, **error})
        stats.leased = len(store.leased(self.name))
        return stats

    def _settle_writes(self, store: TaskStore, stats: OutgoingStats) -> set[int]:
        """Finish the tasks of the batches a dead run wrote whole to its file target but did not
        record (their records are there: writing them again would repeat them); a batch that
        did not reach the file is forgotten, and its tasks are resumed and written again.

        Returns the tasks of the marks left for later (a task still held under a live lease):
        should a lease lapse before this pass resumes the stale tasks, resuming those would
        write a batch again that may have reached the file."""
        marks = list(store.items(self.written_namespace))
        if not marks:
            return set()
        live = {task.id for task in store.leased(self.name)}
        stale = {task.id for task in store.stale(self.name)}
        left: set[int] = set()
        for key, mark in marks:
            outcomes = [TaskOutcome(*row) for row in mark["outcomes"]]
            if any(outcome.task_id in live for outcome in outcomes):
                left.update(outcome.task_id for outcome in outcomes)
                continue  # a run that is alive is writing this batch
            if landed(PendingWrite(**mark["write"])):
                done = [outcome for outcome in outcomes if outcome.task_id in stale]
                store.finish_many(done)
                for outcome in done:
                    stats.add(outcome.status)
            store.delete(self.written_namespace, key)
        return left

    def publish(
        self,
        store: TaskStore,
        *,
        on_finish: Callable[[str], None] | None = None,
        task_ids: Iterable[int] | None = None,
        stop: threading.Event | None = None,
    ) -> OutgoingStats:
        """Publish every ``new`` task of this outgoing (only those of ``task_ids`` when given),
        ``concurrency`` at a time, a free worker taking the next task at once; once ``stop`` is
        set nothing more is sent and the pass ends when the tasks in flight have finished (a
        graceful shutdown).

        Tasks are claimed ``concurrency`` at a time once every claimed one has a worker (a file
        target's a batch at a time): one claim per round of workers rather than one per task,
        yet a crash leaves few tasks in ``processing`` and one slow request never idles the others.
        """
        stats = self.recover(store)
        worker = worker_id(self.name)
        waiting = None if task_ids is None else deque(task_ids)
        ahead = max(self.finish_batch, self.concurrency)
        claimed: deque[Task] = deque()
        running: dict[Future[_Outcome], Task] = {}
        more = True
        # one at a time, the calling thread runs each task itself: handing a task to a worker
        # thread and back cost more than a file target's whole write
        pool = None if self.concurrency == 1 else ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix=f"out-{self.name}"
        )
        with _Heartbeat(store, worker, self.lease_seconds) as heartbeat, pool or nullcontext():
            outcomes = _Outcomes(self, store, stats, heartbeat, on_finish)
            try:
                while more or running or claimed:
                    if stop is not None and stop.is_set():
                        more = False
                    if not more and claimed:  # stopping: what no worker took goes back unsent
                        self._give_back(store, worker, claimed, heartbeat, stats)
                    if more and not claimed and len(running) < self.concurrency:
                        batch, more = self._claim(store, ahead, worker, waiting)
                        heartbeat.hold(task.id for task in batch)
                        claimed.extend(batch)
                    if pool is None:
                        more = self._run_here(store, claimed, outcomes, stats, stop) and more
                        continue
                    while claimed and len(running) < self.concurrency:
                        task = claimed.popleft()
                        running[pool.submit(self._process, store, task)] = task
                    if running:
                        done, _ = wait(running, timeout=outcomes.due_in(), return_when=FIRST_COMPLETED)
                        for future in done:
                            task, outcome = running.pop(future), future.result()
                            outcomes.add(task, outcome)
                            if outcome.status == "new":  # the in-flight ones finish
                                more = self._breaker_opened(stats, outcome) and more
                    outcomes.record_when_due()
            finally:
                try:
                    outcomes.record()
                finally:
                    self._let_go_of_files()
        return stats

    def _run_here(self, store: TaskStore, claimed: deque[Task], outcomes: _Outcomes, stats: OutgoingStats,
                  stop: threading.Event | None) -> bool:
        """Run the claimed tasks one after another in this thread; whether to go on claiming
        (not once ``stop`` is set or the breaker opened: what is left of ``claimed`` stays)."""
        while claimed:
            if stop is not None and stop.is_set():
                return False
            task = claimed.popleft()
            outcome = self._process(store, task)
            outcomes.add(task, outcome)
            outcomes.record_when_due()
            if outcome.status == "new":
                return self._breaker_opened(stats, outcome)
        return True

    def _breaker_opened(self, stats: OutgoingStats, outcome: _Outcome) -> bool:
        """A task came back unsent (its client's circuit breaker is open): send nothing more;
        always ``False``, what the pass's "go on claiming" becomes."""
        if stats.stopped is None:
            stats.stopped = (
                f"outgoing {self.name!r}: stopped claiming tasks: "
                f"{(outcome.error or {}).get('message', 'circuit breaker open')}; the tasks"
                " not sent stay new for a later run"
            )
        return False

    def sync_targets(self) -> None:
        """Make what the file targets among this outgoing's targets wrote durable, before the
        tasks it belongs to are recorded (other targets keep nothing back)."""
        self._on_file_targets("flush")

    def discard_unwritten(self) -> None:
        """Forget the records the file targets keep back (their batch could not be written)."""
        self._on_file_targets("discard")

    def _let_go_of_files(self) -> None:
        """Close the file targets between passes (the next pass opens them again), so a file
        rotated away while ``serve`` waits is not written to any more."""
        self._on_file_targets("close")

    def _on_file_targets(self, method: str) -> None:
        """Call ``method`` of each target that has it (file targets; a request target has none)."""
        for target in (self.publisher, self.then):
            call = getattr(target, method, None)
            if call is not None:
                call()

    @property
    def finish_batch(self) -> int:
        """Tasks recorded per transaction: a file target's sync batch (its records are durable
        only then); 1 for every other target (and a file target with ``then`` or ``log:``),
        whose tasks are recorded as they end."""
        if self.then is not None or self._log is not None or not self.safe_to_repeat:
            return 1
        return max(1, min(FINISH_BATCH, getattr(self.publisher, "batch_size", 1)))

    @property
    def writes_ahead(self) -> bool:
        """May ``run`` publish this outgoing's records as its incomings read them, storing
        the tasks already finished (see :meth:`write_ahead`)? Only a batched file target with
        nothing that needs a stored task: no ``then`` or ``log:`` (``finish_batch`` > 1),
        no response transformers (they may read the task's id), no trigger, no latency watcher."""
        return (self.finish_batch > 1 and not self._response_steps and not self._emits
                and not self.latency_observers)

    def write_ahead(self, entities: list[Any]) -> list[Settled]:
        """Publish a batch of entities whose tasks are not stored yet, syncing the target every
        ``batch_size`` records and at the end; returns each one's outcome, in order, for the
        store to keep with its task (``failed`` where the entity transformers or the target
        refuse it, as the publish loop would record it).

        For an outgoing that :attr:`writes_ahead`, whose publish loop would do exactly this
        per task. When the batch cannot be written (a full disk), nothing of it is kept back
        and the error is raised: the caller stores those tasks ``new`` instead.
        """
        outcomes: list[Settled] = []
        step = self.finish_batch  # the target's batch_size: records between two syncs
        pipeline = self._entity_pipeline
        # no step: the file target, which only reads a record, gets the entity itself; steps
        # work on a copy, as the entity is stored as it was read
        transform = pipeline.run if pipeline.steps else pipeline.run_owned
        try:
            for start in range(0, len(entities), step):
                outcomes += [self._written_ahead(transform, entity) for entity in entities[start:start + step]]
                self.sync_targets()
        except BaseException:
            self.discard_unwritten()
            raise
        return outcomes

    def _written_ahead(self, transform: Callable[[Any], list[Any]], entity: Any) -> Settled:
        """One entity's record published (a file target: nothing to retry), and how it ended."""
        try:
            requests = transform(entity)
            for request in requests:
                self.publisher.publish(request)
        except Exception as error:  # one entity's failure must not stop the others
            return Settled("failed", error=redact_value(error_record(error)))
        return _PROCESSED if requests else _SKIPPED

    @property
    def written_namespace(self) -> str:
        return f"{WRITTEN_NAMESPACE}:{self.name}"

    def _give_back(self, store: TaskStore, worker: str, claimed: deque[Task], heartbeat: _Heartbeat,
                   stats: OutgoingStats) -> None:
        """Release the claimed tasks no worker took (the pass is stopping): ``new`` again, unsent."""
        ids = [task.id for task in claimed]
        claimed.clear()
        store.release(ids, worker)
        heartbeat.drop(ids)
        if stats.stopped is not None:  # the breaker stopped the pass: these wait for it too
            stats.deferred += len(ids)

    def _claim(
        self, store: TaskStore, limit: int, worker: str, waiting: deque[int] | None
    ) -> tuple[list[Task], bool]:
        """The next tasks to publish and whether more may follow.

        Named tasks are tried ``limit`` ids at a time, each once: an id that is not a ``new``
        task of this outgoing simply yields nothing, and a long retry list stays linear.
        """
        lease = self.lease_seconds
        if waiting is None:
            claimed = store.claim(self.name, limit, worker, lease_seconds=lease)
            return claimed, bool(claimed)
        chosen = [waiting.popleft() for _ in range(min(limit, len(waiting)))]
        return store.claim(self.name, limit, worker, ids=chosen, lease_seconds=lease), bool(waiting)

    def requests_for(self, record: Any) -> list[Any]:
        """What the entity transformers make of ``record``: the requests it would send."""
        return self._entity_pipeline.run(record)

    def plan(self, record: Any) -> list[PlannedCall]:
        """The requests ``record`` would cause, without sending anything (for ``--dry-run``)."""
        return [self.publisher.plan(request) for request in self._entity_pipeline.run(record)]

    # -- one task ----------------------------------------------------------------------------

    def _process(self, store: TaskStore, task: Task) -> _Outcome:
        """Never raises: whatever goes wrong becomes the task's recorded error.

        ``failed`` only where replaying cannot repeat what the server did; ``review`` where an
        unsafe request may have landed (or did, and a later step failed).
        """
        sends = _Sends()
        started = time.monotonic() if self.latency_observers else 0.0
        outcome = self._outcome(store, task, sends)
        for observe in self.latency_observers:
            observe(self.name, time.monotonic() - started)
        logged = self._log.entries(task.entity, sends.calls) if self._log is not None and sends.calls else ()
        events = emitted_events(self._emits, [(call.request, call.response) for call in sends.calls]) \
            if outcome.status == "processed" and self._emits else ()
        if not logged and not events:
            return outcome
        return outcome._replace(outbox=logged + events)

    def _outcome(self, store: TaskStore, task: Task, sends: _Sends) -> _Outcome:
        try:
            requests = self._entity_pipeline.run(task.entity)
            if not requests:
                return _Outcome("skipped")
            results = [self._publish_one(store, task, request, sends) for request in requests]
        except Exception as error:  # one task's failure, bug or not, must not stop the others
            return self._failure(store, task, error, sends)
        kept = [item for result in results for item in result]
        return _Outcome("processed", result=kept[0] if len(kept) == 1 else (kept or None))

    def _failure(self, store: TaskStore, task: Task, error: Exception, sends: _Sends) -> _Outcome:
        if sends.uncertain is not None:
            return _Outcome("review", error=review_record(
                "UncertainPublish",
                f"outgoing {self.name!r}: {type(error).__name__} after the request may have reached the"
                f" server, and it is not safe to repeat: the server may have acted on it. {NEXT_STEP}.",
                task.claimed_by, store.get(SENT_NAMESPACE, str(task.id)), cause=error_record(error),
            ))
        if sends.landed:
            return _Outcome("review", result=sends.landed[0] if len(sends.landed) == 1 else sends.landed,
                            error=review_record(
                "PublishedThenFailed",
                f"outgoing {self.name!r}: a request that is not safe to repeat succeeded, then"
                f" {type(error).__name__}: replaying the task would send it again. {NEXT_STEP}.",
                task.claimed_by, store.get(SENT_NAMESPACE, str(task.id)), cause=error_record(error),
            ))
        if isinstance(error, CircuitOpenError):
            return _Outcome("new", error=error_record(error))
        return _Outcome("failed", error=error_record(error))

    def _publish_one(self, store: TaskStore, task: Task, request: Any, sends: _Sends) -> list[Any]:
        if not self.safe_to_repeat:
            store.set(SENT_NAMESPACE, str(task.id), self._sent_mark(task, request))
        keep = self._keeps_calls
        started = now_ms() if keep else 0
        try:
            response = self._send(self.publisher, request, sends)
        except CircuitOpenError:
            raise  # nothing was sent
        except Exception as error:
            if keep:
                sends.calls.append(Call(request, error_record(error), started, now_ms()))
            raise
        if keep:
            sends.calls.append(Call(request, response, started, now_ms()))
        return [] if response is None else self._deliver(task, request, response, sends)

    def answer_outcome(self, store: TaskStore, task: Task, request: Any, response: Any) -> _Outcome:
        """How a task ends for an answer that came another way (a batch job's output line):
        the response transformers and ``then`` target exactly as in direct mode."""
        sends = _Sends()
        try:
            kept = self._deliver(task, request, response, sends)
        except Exception as error:  # one task's failure must not stop the others
            return self._failure(store, task, error, sends)
        return _Outcome("processed", result=kept[0] if len(kept) == 1 else (kept or None))

    def _deliver(self, task: Task, request: Any, response: Any, sends: _Sends) -> list[Any]:
        """The response transformers, then the ``then`` target for each item kept."""
        kept = self._keep(task, request, response)
        if self.then is None:
            return kept
        results = []
        for item in kept:
            answer = self._send(self.then, item, sends)
            # a file target answers nothing; a request target's answer is kept beside what it was sent
            results.append(item if answer is None else {"result": item, "then": answer})
        return results

    def _sent_mark(self, task: Task, request: Any) -> dict[str, Any]:
        """The mark written before an unsafe request leaves: who sent it, when, and what
        ``tasks reconcile`` needs to look for it on the server."""
        look = None
        if self._operation is not None and self._lookup is not None:
            look = reconcile.facts(self._operation, self._lookup, self.publisher.plan(request), self._client_name)
        return redact_value({"worker": task.claimed_by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                             "look": look})

    def _send(self, publisher: Publisher, request: Any, sends: _Sends) -> Any:
        """Publish with the failure policy, noting what an unsafe request may have done."""
        try:
            answer = self._with_retry(publisher, request)
        except ApiError as error:
            if not publisher.safe_to_repeat and error.server_may_have_acted:
                sends.uncertain = error
            raise
        if not publisher.safe_to_repeat:
            sends.landed.append(answer)
        return answer

    def _keep(self, task: Task, request: Any, response: Any) -> list[Any]:
        """Run the response transformers; every step may read the task at ``_task``.

        The steps run one at a time with ``_task`` put back before each, so a step that
        rebuilds the whole document (``mistral/chat-answer``) does not hide the task from the
        next one; ``_task`` is dropped from what is kept.
        """
        if not self._response_steps:
            return [response]
        attached = {"id": task.id, "identity": task.identity, "entity": task.entity, "request": request}
        current = [clone(response)]
        for index, step in enumerate(self._response_steps):
            current = [{**item, TASK_KEY: clone(attached)} if isinstance(item, dict) else item for item in current]
            try:
                current = step.run_all(current)
            except TransformError as error:
                raise _renumbered(error, step.name, index) from error
            if not current:
                break
        return [{k: v for k, v in item.items() if k != TASK_KEY} if isinstance(item, dict) else item
                for item in current]

    def _with_retry(self, publisher: Publisher, request: Any) -> Any:
        """Publish, repeating transient failures as the failure policy allows."""
        attempt = 1
        while True:
            try:
                return publisher.publish(request)
            except ApiError as error:
                if not self._may_retry(error, publisher, attempt):
                    raise
                delay = min(MAX_BACKOFF, self._backoff * 2 ** (attempt - 1))
                if isinstance(error, RateLimitedError) and error.retry_after:
                    delay = max(delay, error.retry_after)
                if delay > LOGGED_WAIT:
                    log.info("outgoing %s: waiting %.1f s before attempt %d (%s)", self.name, delay, attempt + 1,
                             type(error).__name__, extra={"retry_wait": delay, "retry_reason": type(error).__name__})
                self._sleep(delay)
                attempt += 1

    def _may_retry(self, error: ApiError, publisher: Publisher, attempt: int) -> bool:
        """Transient errors only; a request not safe to repeat only where the server did not act.

        An open circuit breaker is never waited out here: the pass stops instead.
        """
        if not self._retry or attempt >= self._attempts or not isinstance(error, TRANSIENT_ERRORS):
            return False
        return publisher.safe_to_repeat or not error.server_may_have_acted


class _Outcomes:
    """The outcomes of one publish pass: counted as they come, recorded in the store in batches.

    A file target's task waits until ``finish_batch`` outcomes do (or ``FINISH_DELAY`` passed,
    or the pass ends); then the target writes and syncs the batch and the batch is recorded in
    one transaction, so a task is never processed before its record is durable. Every other
    task is recorded at once (after a file target among its targets synced its record), and
    its sent mark removed.
    """

    def __init__(self, outgoing: Outgoing, store: TaskStore, stats: OutgoingStats, heartbeat: _Heartbeat,
                 on_finish: Callable[[str], None] | None) -> None:
        self._outgoing, self._store, self._stats = outgoing, store, stats
        self._heartbeat, self._on_finish = heartbeat, on_finish
        self._batch = outgoing.finish_batch
        self._waiting: list[TaskOutcome] = []
        self._since: float | None = None

    def add(self, task: Task, outcome: _Outcome) -> None:
        store, stats = self._store, self._stats
        if outcome.status == "new":  # nothing was sent (the circuit breaker is open)
            store.release([task.id], task.claimed_by or "")
            self._heartbeat.drop([task.id])
            stats.deferred += 1
            return
        # every answer is recorded, and an answer may echo a secret (a webhook showing its headers)
        finished = TaskOutcome(task.id, outcome.status, result=redact_value(outcome.result),
                               error=redact_value(outcome.error), outbox=outcome.outbox)
        if self._batch == 1:
            self._outgoing.sync_targets()
            self._record([finished])
        else:
            self._waiting.append(finished)
            if self._since is None:
                self._since = time.monotonic()
        stats.add(outcome.status)
        if finished.error is not None:
            stats.failures.append({"task": task.id, **finished.error})
        if self._on_finish is not None:
            self._on_finish(outcome.status)

    def due_in(self) -> float | None:
        """Seconds until the waiting outcomes are due (``None``: none wait)."""
        return None if self._since is None else max(0.0, self._since + FINISH_DELAY - time.monotonic())

    def record_when_due(self) -> None:
        if len(self._waiting) >= self._batch or self.due_in() == 0.0:
            self.record()

    def record(self) -> None:
        """Write and sync the file target's batch, then record the waiting outcomes in one
        transaction. Where the batch goes is stored before it is written, so that a run that
        dies in between can be told apart from one whose batch never reached the file."""
        if not self._waiting:
            return
        waiting, self._waiting, self._since = self._waiting, [], None
        namespace, key = self._outgoing.written_namespace, str(waiting[0].task_id)
        marked = False

        def note(write: PendingWrite) -> None:
            nonlocal marked
            self._store.set(namespace, key, {
                "write": asdict(write),
                "outcomes": [[outcome.task_id, outcome.status, outcome.result, outcome.error] for outcome in waiting],
            })
            marked = True

        try:
            self._outgoing.publisher.flush(note)  # type: ignore[attr-defined]  # a file target (finish_batch > 1)
        except (AlumioError, OSError) as error:  # a full disk, a folder where the file goes
            waiting = self._unwritten(waiting, error)
        self._record(waiting)
        if marked:
            self._store.delete(namespace, key)

    def _unwritten(self, waiting: list[TaskOutcome], error: Exception) -> list[TaskOutcome]:
        """The batch did not reach the file: its tasks fail with the reason (they are safe to
        replay), counted again as failed, and nothing of it is kept back to be written later."""
        self._outgoing.discard_unwritten()
        failure = redact_value(error_record(error))
        for outcome in waiting:
            self._stats.add(outcome.status, -1)
            self._stats.add("failed")
            self._stats.failures.append({"task": outcome.task_id, **failure})
        return [TaskOutcome(outcome.task_id, "failed", error=failure) for outcome in waiting]

    def _record(self, outcomes: list[TaskOutcome]) -> None:
        self._store.finish_many(outcomes)
        if not self._outgoing.safe_to_repeat:
            for finished in outcomes:
                self._store.delete(SENT_NAMESPACE, str(finished.task_id))
        self._heartbeat.drop(finished.task_id for finished in outcomes)


def review_record(kind: str, message: str, worker: str | None, mark: Any,
                  cause: dict[str, Any] | None = None) -> dict[str, Any]:
    """Why a task waits for a person: one shape for a crash and for an uncertain answer.

    ``look`` (from the sent mark) is what ``tasks reconcile`` needs to find the request's
    effect on the server; ``cause`` the error that made the outcome uncertain.
    """
    record: dict[str, Any] = {"type": kind, "message": message, "worker": worker,
                              "look": mark.get("look") if isinstance(mark, dict) else None}
    if cause is not None:
        record["cause"] = cause
    return record


def _renumbered(error: TransformError, pipeline: str, index: int) -> TransformError:
    """A one-step run names step 0; give the error the step's real place in the pipeline."""
    if error.pipeline != pipeline or error.index != 0:
        return error  # raised inside a nested pipeline, which named itself
    return TransformError(error.reason, pipeline=pipeline, index=index, step_type=error.step_type,
                          pattern=error.pattern, unexpected=error.unexpected)
