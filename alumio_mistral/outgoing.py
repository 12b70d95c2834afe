"""Publishing the tasks of one outgoing configuration.

Each task goes: claim -> entity transformers -> publisher -> response transformers -> optional
``then`` target -> finish (``processed``, ``failed`` or ``skipped``). Workers run in a thread
pool; a client's ``rate_limit`` is enforced by the client itself, so every worker using that
client shares it.

Crash safety: before a request that is not safe to repeat goes out, the task is marked as
*sent* in a storage. A task a dead process left in ``processing`` is put back to ``new`` when
nothing unsafe was sent for it (or the outgoing is safe to repeat); otherwise it goes to
``review``: the server may have acted on it, and only a person can tell. File and stdout
targets are safe to repeat: at worst a crash between the write and the task's finish repeats
one record.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from alumio_mistral.http import Client
from alumio_mistral.http.errors import ApiError, RateLimitedError, ServerError, TransportError
from alumio_mistral.publishers import PlannedCall, Publisher, build_publisher
from alumio_mistral.secrets import redact
from alumio_mistral.tasks import Task, TaskStore, worker_id
from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.errors import TransformError
from alumio_mistral.transformers.patterns import clone
from alumio_mistral.transformers.pipeline import Pipeline, compile_pipeline

#: storage namespace of "a request that is not safe to repeat has left for this task"
SENT_NAMESPACE = "outgoing.sent"
#: key under which response transformers find the task the response belongs to
TASK_KEY = "_task"
#: the longest single wait between task-level retries, whatever the backoff says
MAX_BACKOFF = 60.0


@dataclass
class OutgoingStats:
    """What one outgoing did in one publish pass."""

    processed: int = 0
    failed: int = 0
    skipped: int = 0
    review: int = 0
    #: stale tasks of a dead run put back to ``new``
    resumed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


@dataclass(frozen=True)
class _Outcome:
    status: str
    result: Any = None
    error: dict[str, Any] | None = None


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

    @property
    def safe_to_repeat(self) -> bool:
        """May a task interrupted after sending be sent again (publisher and ``then`` alike)?"""
        return self.publisher.safe_to_repeat and (self.then is None or self.then.safe_to_repeat)

    # -- the run -----------------------------------------------------------------------------

    def recover(self, store: TaskStore) -> OutgoingStats:
        """Resume or hold for review the tasks a dead process left in ``processing``."""
        stats = OutgoingStats()
        for task in store.stale(self.name):
            if self.safe_to_repeat or store.get(SENT_NAMESPACE, str(task.id)) is None:
                store.requeue([task.id])
                stats.resumed += 1
                continue
            store.finish(task.id, "review", error={
                "type": "InterruptedPublish",
                "message": (
                    f"outgoing {self.name!r}: the process stopped after sending this task's request,"
                    " which is not safe to repeat; the server may have acted on it. Check the target,"
                    " then replay with `tasks retry --status review` or leave it."
                ),
                "worker": task.claimed_by,
            })
            store.delete(SENT_NAMESPACE, str(task.id))
            stats.review += 1
        return stats

    def publish(
        self,
        store: TaskStore,
        *,
        on_finish: Callable[[str], None] | None = None,
        task_ids: Iterable[int] | None = None,
    ) -> OutgoingStats:
        """Publish every ``new`` task of this outgoing (only those of ``task_ids`` when given),
        ``concurrency`` at a time.

        A task is claimed only when a worker is free for it, so a crash leaves at most
        ``concurrency`` tasks in ``processing`` and one slow request never idles the others.
        """
        stats = self.recover(store)
        worker = worker_id(self.name)
        waiting = None if task_ids is None else deque(task_ids)
        running: dict[Future[_Outcome], Task] = {}
        more = True
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"out-{self.name}") as pool:
            while more or running:
                if more and len(running) < self.concurrency:
                    claimed, more = self._claim(store, self.concurrency - len(running), worker, waiting)
                    running.update((pool.submit(self._process, store, task), task) for task in claimed)
                if running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._finish(store, running.pop(future), future.result(), stats, on_finish)
        return stats

    def _claim(
        self, store: TaskStore, limit: int, worker: str, waiting: deque[int] | None
    ) -> tuple[list[Task], bool]:
        """The next tasks to publish and whether more may follow.

        Named tasks are tried ``limit`` ids at a time, each once: an id that is not a ``new``
        task of this outgoing simply yields nothing, and a long retry list stays linear.
        """
        if waiting is None:
            claimed = store.claim(self.name, limit, worker)
            return claimed, bool(claimed)
        chosen = [waiting.popleft() for _ in range(min(limit, len(waiting)))]
        return store.claim(self.name, limit, worker, ids=chosen), bool(waiting)

    def _finish(self, store: TaskStore, task: Task, outcome: _Outcome, stats: OutgoingStats,
                on_finish: Callable[[str], None] | None) -> None:
        store.finish(task.id, outcome.status, result=outcome.result, error=outcome.error)
        if not self.safe_to_repeat:
            store.delete(SENT_NAMESPACE, str(task.id))
        stats.add(outcome.status)
        if outcome.error is not None:
            stats.failures.append({"task": task.id, **outcome.error})
        if on_finish is not None:
            on_finish(outcome.status)

    def plan(self, entity: Any) -> list[PlannedCall]:
        """The requests ``entity`` would cause, without sending anything (for ``--dry-run``)."""
        return [self.publisher.plan(request) for request in self._entity_pipeline.run(entity)]

    # -- one task ----------------------------------------------------------------------------

    def _process(self, store: TaskStore, task: Task) -> _Outcome:
        """Never raises: whatever goes wrong becomes the task's recorded error."""
        try:
            requests = self._entity_pipeline.run(task.entity)
            if not requests:
                return _Outcome("skipped")
            results = [self._publish_one(store, task, request) for request in requests]
        except Exception as error:  # one task's failure, bug or not, must not stop the others
            return _Outcome("failed", error=error_record(error))
        kept = [item for result in results for item in result]
        return _Outcome("processed", result=kept[0] if len(kept) == 1 else (kept or None))

    def _publish_one(self, store: TaskStore, task: Task, request: Any) -> list[Any]:
        if not self.safe_to_repeat:
            store.set(SENT_NAMESPACE, str(task.id), task.claimed_by)
        response = self._with_retry(self.publisher, request)
        if response is None:
            return []
        kept = self._keep(task, request, response)
        if self.then is None:
            return kept
        results = []
        for item in kept:
            answer = self._with_retry(self.then, item)
            # a file target answers nothing; a request target's answer is kept beside what it was sent
            results.append(item if answer is None else {"result": item, "then": answer})
        return results

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
                self._sleep(delay)
                attempt += 1

    def _may_retry(self, error: ApiError, publisher: Publisher, attempt: int) -> bool:
        """Transient errors only; a request not safe to repeat only where the server did not act."""
        if not self._retry or attempt >= self._attempts:
            return False
        if isinstance(error, RateLimitedError):
            return True
        if isinstance(error, ServerError):
            return publisher.safe_to_repeat or error.status == 503
        return isinstance(error, TransportError) and publisher.safe_to_repeat



def _renumbered(error: TransformError, pipeline: str, index: int) -> TransformError:
    """A one-step run names step 0; give the error the step's real place in the pipeline."""
    if error.pipeline != pipeline or error.index != 0:
        return error  # raised inside a nested pipeline, which named itself
    return TransformError(error.reason, pipeline=pipeline, index=index, step_type=error.step_type,
                          pattern=error.pattern, unexpected=error.unexpected)
