"""``mode: batch``: an outgoing's pending tasks published as Mistral Batch API jobs.

A pass claims tasks (with leases, as the direct mode does), runs each through the entity
transformers to the body it would send, and writes ``{custom_id: <task id>, body: ...}`` JSONL
lines to a temporary file, cut into jobs by ``max_requests`` and ``max_bytes``. Each job's file
is uploaded with purpose ``batch`` (or, below ``inline_below`` requests, its lines go inline)
and one job is created. Then the jobs are polled to a terminal status and their output and
error files are read line by line; each line finishes its task through the outgoing's response
transformers and ``then`` target, as an answer in direct mode would.

Crash safety rests on one record per job in the ``outgoing.batch`` storage, written before
anything leaves: the outgoing, the batch key (also put in the job's ``metadata``), the task ids,
then the input file and job ids as soon as they are known. A later pass resumes each record:
it takes back the record's unfinished tasks and, where no job id was recorded, looks for a job
carrying the batch key before creating one, so a crash between the create and its record makes
no second job. Reading results again finishes only the tasks still unfinished.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from alumio_mistral import reconcile
from alumio_mistral.errors import AlumioError
from alumio_mistral.http import Client
from alumio_mistral.http.errors import ApiError
from alumio_mistral.outgoing import Outgoing, OutgoingStats, _Heartbeat, error_record
from alumio_mistral.secrets import redact_value
from alumio_mistral.tasks import LeaseHeldError, Task, TaskStore, worker_id
from alumio_mistral.tasks.store import TaskOutcome

#: storage namespace of the open batch jobs: batch key -> record (see the module docstring)
BATCH_NAMESPACE = "outgoing.batch"
#: the job metadata key that carries the batch key (how a job created just before a crash is found)
METADATA_KEY = "alumio_batch"
#: statuses after which a job changes no more
TERMINAL = frozenset({"SUCCESS", "FAILED", "CANCELLED", "TIMEOUT_EXCEEDED"})
#: finished tasks written per store transaction while reading results
FINISH_CHUNK = 500

log = logging.getLogger("alumio_mistral.batch")
Report = Callable[[str], None]


class BatchError(AlumioError):
    """A batch job could not be created, found or cancelled."""


@dataclass
class _Line:
    """One task's request: what the entity transformers made, and its JSONL line."""

    task: Task
    request: Any
    body: dict[str, Any]
    line: bytes


@dataclass
class _Job:
    """One open job of this pass: its record and the tasks this pass holds for it."""

    record: dict[str, Any]
    #: the worker id the tasks are claimed under
    worker: str
    tasks: dict[int, Task]
    requests: dict[int, Any] = field(default_factory=dict)
    last_status: str | None = None
    #: taken over from a record a previous run left
    resumed: bool = False


class BatchPublisher:
    """Publishes one outgoing in ``mode: batch`` (the engine calls it instead of the direct loop)."""

    def __init__(self, outgoing: Outgoing, config: Any, client: Client, *,
                 sleep: Callable[[float], None] = time.sleep, report: Report | None = None) -> None:
        self.outgoing = outgoing
        self.name: str = outgoing.name
        self.client = client
        self.settings: Mapping[str, Any] = config.batch
        self.endpoint: str = client.entity(config.publisher["entity"]).path
        self._sleep = sleep
        self._report = report or (lambda line: log.info("%s", line))

    # -- the pass ---------------------------------------------------------------------------

    def publish(self, store: TaskStore, *, task_ids: Iterable[int] | None = None,
                on_finish: Callable[[str], None] | None = None,
                stop: threading.Event | None = None) -> OutgoingStats:
        """Resume this outgoing's open jobs, send its ``new`` tasks (those of ``task_ids`` when
        given) as new jobs, and finish every task whose job ended within ``max_wait``; once
        ``stop`` is set no more tasks are claimed (the jobs already created are still waited for)."""
        stats = OutgoingStats()
        worker = worker_id(self.name)
        with _Heartbeat(store, worker, self.outgoing.lease_seconds) as heartbeat:
            jobs = self._resume(store, worker, heartbeat, stats, on_finish)
            recovered = self.outgoing.recover(store)  # stale tasks of no job: nothing was sent for them
            stats.resumed += recovered.resumed
            stats.review += recovered.review
            stats.failures += recovered.failures
            waiting = None if task_ids is None else [int(i) for i in task_ids]
            while not (stop is not None and stop.is_set()) and stats.stopped is None:
                claimed = self._claim(store, worker, waiting)
                if not claimed:
                    break
                heartbeat.hold(task.id for task in claimed)
                for lines in self._split(store, claimed, stats, on_finish):
                    if stats.stopped is not None:  # a create went unanswered: send nothing more
                        stats.deferred += store.release([line.task.id for line in lines], worker)
                        continue
                    job = self._start(store, worker, lines)
                    if self._launch(store, job, lines, stats, on_finish):
                        jobs.append(job)
            self._wait(store, jobs, stats, on_finish)
            stats.leased = len(store.leased(self.name))
        return stats

    def _claim(self, store: TaskStore, worker: str, waiting: list[int] | None) -> list[Task]:
        limit = int(self.settings["max_requests"])
        lease = self.outgoing.lease_seconds
        if waiting is None:
            return store.claim(self.name, limit, worker, lease_seconds=lease)
        chosen, waiting[:] = waiting[:limit], waiting[limit:]
        return store.claim(self.name, limit, worker, ids=chosen, lease_seconds=lease) if chosen else []

    # -- building the jobs --------------------------------------------------------------------

    def _split(self, store: TaskStore, tasks: list[Task], stats: OutgoingStats,
               on_finish: Callable[[str], None] | None) -> Iterator[list[_Line]]:
        """The claimed tasks' lines, cut at ``max_requests`` and ``max_bytes``; a task whose
        transformers fail, make no request or a line over ``max_bytes`` ends here alone."""
        max_requests, max_bytes = int(self.settings["max_requests"]), int(self.settings["max_bytes"])
        current: list[_Line] = []
        size = 0
        for task in tasks:
            try:
                line = self._line(task)
            except Exception as error:  # one task's bad entity must not stop the others
                self._settle(store, [TaskOutcome(task.id, "failed", error=error_record(error))], stats, on_finish)
                continue
            if line is None:
                self._settle(store, [TaskOutcome(task.id, "skipped")], stats, on_finish)
                continue
            if len(line.line) > max_bytes:
                error = {"type": "BatchLineTooLarge", "message": f"outgoing {self.name!r}: task {task.id}'s"
                         f" batch line is {len(line.line)} bytes, over batch.max_bytes ({max_bytes})"}
                self._settle(store, [TaskOutcome(task.id, "failed", error=error)], stats, on_finish)
                continue
            if current and (len(current) >= max_requests or size + len(line.line) > max_bytes):
                yield current
                current, size = [], 0
            current.append(line)
            size += len(line.line)
        if current:
            yield current

    def _line(self, task: Task) -> _Line | None:
        """The JSONL line of ``task``: the JSON body its one request would send."""
        requests = self.outgoing.requests_for(task.entity)
        if not requests:
            return None
        if len(requests) > 1:
            raise BatchError(f"outgoing {self.name!r}: task {task.id}: the entity transformers made"
                             f" {len(requests)} requests; batch mode sends one request per task")
        body = self.outgoing.publisher.plan(requests[0]).request.json
        if not isinstance(body, dict):
            raise BatchError(f"outgoing {self.name!r}: task {task.id}: batch mode sends JSON object bodies")
        body = {key: value for key, value in body.items() if key != "stream"}
        line = json.dumps({"custom_id": str(task.id), "body": body}, separators=(",", ":"), ensure_ascii=False)
        return _Line(task, requests[0], body, line.encode() + b"\n")

    def _start(self, store: TaskStore, worker: str, lines: list[_Line]) -> _Job:
        """Record the job's tasks before anything leaves."""
        key = uuid.uuid4().hex
        record: dict[str, Any] = {"outgoing": self.name, "client": self.client.name, "key": key,
                                  "tasks": [line.task.id for line in lines], "size": len(lines), "input_file": None, "job": None, "status": None,
                                  "created": time.time()}
        store.set(BATCH_NAMESPACE, key, record)
        return _Job(record, worker, {line.task.id: line.task for line in lines},
                    {line.task.id: line.request for line in lines})

    def _launch(self, store: TaskStore, job: _Job, lines: list[_Line], stats: OutgoingStats,
                on_finish: Callable[[str], None] | None) -> bool:
        """Upload and create the recorded job; False when it could not be.

        A refusal the server did not act on fails the job's tasks (and forgets the job); a
        failure after which it may have acted leaves the record, so the next run looks for the
        job by its batch key, and this pass creates no more jobs.
        """
        # a recorded job without an id may have been created just before a crash: look first
        found = self._find(job.record["key"]) if job.resumed else None
        try:
            self._create(store, job, lines, found)
        except ApiError as error:
            if error.server_may_have_acted:
                stats.stopped = (f"outgoing {self.name!r}: batch {job.record['key']}: {error}; the next run"
                                 " looks for its job before creating one")
                return False
            failed = error_record(error)
            self._settle(store, [TaskOutcome(task_id, "failed", error=failed) for task_id in job.tasks],
                         stats, on_finish)
            store.delete(BATCH_NAMESPACE, job.record["key"])
            return False
        return True

    def _create(self, store: TaskStore, job: _Job, lines: list[_Line], found: dict[str, Any] | None) -> None:
        """Upload and create, unless the server already has this batch key's job (``found``)."""
        record = job.record
        if found is None:
            inline = len(lines) < int(self.settings["inline_below"])
            if not inline and record["input_file"] is None:
                record["input_file"] = self._upload(record["key"], lines)
                store.set(BATCH_NAMESPACE, record["key"], record)
            found = self._call("batch_jobs.create", json=self._job_body(record, lines, inline))
        record.update(job=found["id"], status=found.get("status"))
        store.set(BATCH_NAMESPACE, record["key"], record)
        self._report(f"batch job {found['id']} ({self.name}): {record['size']} requests, {found.get('status')}")

    def _job_body(self, record: Mapping[str, Any], lines: list[_Line], inline: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "endpoint": self.endpoint, "timeout_hours": int(self.settings["timeout_hours"]),
            "metadata": self._metadata(record["key"]),
        }
        models = {line.body.get("model") for line in lines}
        if len(models) == 1 and None not in models:
            body["model"] = models.pop()
        if inline:
            body["requests"] = [{"custom_id": str(line.task.id), "body": line.body} for line in lines]
        else:
            body["input_files"] = [record["input_file"]]
        return body

    def _metadata(self, key: str) -> dict[str, str]:
        return {**self.settings.get("metadata", {}), METADATA_KEY: key}

    def _upload(self, key: str, lines: list[_Line]) -> str:
        """Stream the lines to a temporary file and upload it with purpose ``batch``."""
        with tempfile.TemporaryFile() as spool:
            for line in lines:
                spool.write(line.line)
            spool.seek(0)
            uploaded = self._call("files.upload", data={"purpose": "batch"},
                                  files={"file": (f"{self.name}-{key}.jsonl", spool, "application/jsonl")})
        return str(uploaded["id"])

    def _find(self, key: str) -> dict[str, Any] | None:
        """The job created for batch ``key`` before a crash, if the server has one."""
        finding = reconcile.BatchJobByFields().look(self.client, {"metadata": self._metadata(key)}, None)
        if finding.verdict == reconcile.UNKNOWN:
            raise BatchError(f"outgoing {self.name!r}: batch {key}: {finding.note}")
        return finding.found if finding.verdict == reconcile.LANDED else None

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.client.call_json(operation, **kwargs)
        return answer

    # -- resuming ------------------------------------------------------------------------------

    def _resume(self, store: TaskStore, worker: str, heartbeat: _Heartbeat, stats: OutgoingStats,
                on_finish: Callable[[str], None] | None) -> list[_Job]:
        """Take back the unfinished tasks of this outgoing's recorded jobs (those no live run holds)."""
        jobs = []
        for key, record in list(store.items(BATCH_NAMESPACE)):
            if not isinstance(record, dict) or record.get("outgoing") != self.name:
                continue
            try:
                stats.resumed += store.requeue(record["tasks"], ["processing"])
            except LeaseHeldError:
                continue  # a live run works on this job
            tasks = store.claim(self.name, len(record["tasks"]), worker, ids=record["tasks"],
                                lease_seconds=self.outgoing.lease_seconds)
            if not tasks:
                store.delete(BATCH_NAMESPACE, key)  # every task of it finished
                continue
            heartbeat.hold(task.id for task in tasks)
            job = _Job(record, worker, {task.id: task for task in tasks}, resumed=True)
            if record["job"] is None:
                lines = [line for part in self._split(store, tasks, stats, on_finish) for line in part]
                job.tasks = {line.task.id: line.task for line in lines}
                job.requests = {line.task.id: line.request for line in lines}
                if not lines:
                    store.delete(BATCH_NAMESPACE, key)
                    continue
                if not self._launch(store, job, lines, stats, on_finish):
                    continue
            jobs.append(job)
        return jobs

    # -- results -------------------------------------------------------------------------------

    def _wait(self, store: TaskStore, jobs: list[_Job], stats: OutgoingStats,
              on_finish: Callable[[str], None] | None) -> None:
        """Poll the jobs until each ends (then finish its tasks) or ``max_wait`` is over."""
        deadline = time.monotonic() + float(self.settings["max_wait"])
        interval = float(self.settings["poll_interval"])
        open_jobs = list(jobs)
        while open_jobs:
            for job in list(open_jobs):
                state = self._call("batch_jobs.get", path_params={"job_id": job.record["job"]})
                self._progress(job, state)
                if state["status"] in TERMINAL:
                    self._read_results(store, job, state, stats, on_finish)
                    store.delete(BATCH_NAMESPACE, job.record["key"])
                    open_jobs.remove(job)
            if open_jobs and time.monotonic() >= deadline:
                stats.stopped = stats.stopped or (f"outgoing {self.name!r}: {len(open_jobs)} batch job(s) still"
                                                  " running after batch.max_wait; the next run resumes them")
                return
            if open_jobs:
                self._sleep(interval)

    def _progress(self, job: _Job, state: Mapping[str, Any]) -> None:
        if state["status"] != job.last_status:
            job.last_status = state["status"]
            self._report(f"batch job {state['id']} ({self.name}): {state['status']}"
                         f" {state.get('succeeded_requests', 0)}/{state.get('total_requests', job.record['size'])}")

    def _read_results(self, store: TaskStore, job: _Job, state: Mapping[str, Any], stats: OutgoingStats,
                      on_finish: Callable[[str], None] | None) -> None:
        """Finish each held task from its output or error line; the rest fail (or go back to
        ``new`` when the job was cancelled)."""
        if not job.requests:
            job.requests = {task_id: self._request_of(task) for task_id, task in job.tasks.items()}
        pending: list[TaskOutcome] = []
        for file_id in (state.get("output_file"), state.get("error_file")):
            for line in self._lines(file_id):
                task = job.tasks.pop(_task_id(line), None)
                if task is None:
                    continue  # finished before a crash, or not ours
                pending.append(self._outcome(store, task, job.requests.get(task.id), line, state["id"]))
                if len(pending) >= FINISH_CHUNK:
                    self._settle(store, pending, stats, on_finish)
                    pending = []
        self._settle(store, pending, stats, on_finish)
        if state["status"] == "CANCELLED":
            stats.deferred += store.release(list(job.tasks), job.worker)
            return
        missing = {"type": "BatchResultMissing", "message": f"no result in batch job {state['id']}",
                   "status": state["status"]}
        self._settle(store, [TaskOutcome(task_id, "failed", error=missing) for task_id in job.tasks], stats, on_finish)

    def _request_of(self, task: Task) -> Any:
        """The request a resumed task sent (made again: a run that created the job kept it),
        shown to the response transformers at ``_task.request``; ``None`` if it cannot be made."""
        try:
            requests = self.outgoing.requests_for(task.entity)
        except Exception as error:  # the answer is still the task's: only the echo of its request is lost
            log.warning("outgoing %s: task %d: its request could not be made again: %s", self.name, task.id, error)
            return None
        return requests[0] if requests else None

    def _lines(self, file_id: str | None) -> Iterator[dict[str, Any]]:
        """A result file's lines, streamed."""
        if not file_id:
            return
        response = self.client.call("files.download", path_params={"file_id": file_id}, stream=True)
        try:
            for number, raw in enumerate(response.iter_lines(), start=1):
                if not raw.strip():
                    continue
                try:
                    yield json.loads(raw)
                except ValueError:  # its task, if any, ends with "no result in batch job J"
                    log.warning("outgoing %s: line %d of batch result file %s is not JSON", self.name, number, file_id)
        finally:
            response.close()

    def _outcome(self, store: TaskStore, task: Task, request: Any, line: Mapping[str, Any], job_id: str) -> TaskOutcome:
        response = line.get("response") or {}
        status = response.get("status_code")
        if isinstance(status, int) and 200 <= status < 300:
            outcome = self.outgoing.answer_outcome(store, task, request, response.get("body"))
            # every answer is recorded, and an answer may echo a secret
            return TaskOutcome(task.id, outcome.status, result=redact_value(outcome.result),
                               error=redact_value(outcome.error))
        return TaskOutcome(task.id, "failed", error=redact_value(line_error(line, job_id)))

    def _settle(self, store: TaskStore, outcomes: list[TaskOutcome], stats: OutgoingStats,
                on_finish: Callable[[str], None] | None) -> None:
        self.outgoing.sync_targets()  # a ``then`` file target's records are durable before their tasks end
        store.finish_many(outcomes)
        for outcome in outcomes:
            stats.add(outcome.status)
            if outcome.error is not None:
                stats.failures.append({"task": outcome.task_id, **outcome.error})
            if on_finish is not None:
                on_finish(outcome.status)


def _task_id(line: Mapping[str, Any]) -> int | None:
    try:
        return int(line.get("custom_id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def line_error(line: Mapping[str, Any], job_id: str) -> dict[str, Any]:
    """The task error of a line the job did not answer with success: its status and message."""
    response = line.get("response") or {}
    body = response.get("body")
    message = None
    if isinstance(body, dict):
        message = body.get("message")
        if message is None and isinstance(body.get("detail"), list):
            message = "; ".join(f"{'.'.join(map(str, item.get('loc', [])))}: {item.get('msg', '')}"
                                for item in body["detail"] if isinstance(item, dict))
    error = line.get("error")
    if message is None and isinstance(error, dict):
        message = error.get("message")
    return {"type": "BatchLineError", "status": response.get("status_code"),
            "message": f"batch job {job_id}: {message or json.dumps(body if body is not None else error)}"}


# -- for other commands ----------------------------------------------------------------------

def open_batch_jobs(store: TaskStore) -> list[dict[str, Any]]:
    """The batch jobs recorded as open (created or being created, results not yet read), for
    ``status``: outgoing, job id, batch key, size, input file, last known status."""
    return [{"outgoing": record.get("outgoing"), "job": record.get("job"), "key": key, "size": record.get("size"),
             "input_file": record.get("input_file"), "status": record.get("status"), "created": record.get("created")}
            for key, record in store.items(BATCH_NAMESPACE) if isinstance(record, dict)]


def cancel_batch(store: TaskStore, clients: Mapping[str, Client], job_id: str) -> dict[str, Any]:
    """Cancel ``job_id`` on the server and give its unfinished tasks back to ``new``.

    Tasks a live run still holds are left to it: it sees the job cancelled and releases them.
    """
    entry = next(((key, record) for key, record in store.items(BATCH_NAMESPACE)
                  if isinstance(record, dict) and record.get("job") == job_id), None)
    if entry is None:
        raise BatchError(f"no open batch job {job_id!r} in this project's store")
    key, record = entry
    client = clients[record["client"]]
    try:
        state = client.call_json("batch_jobs.cancel", path_params={"job_id": job_id})
    except ApiError as error:
        raise BatchError(f"batch job {job_id}: the cancel failed: {error}") from error
    try:
        returned = store.requeue(record["tasks"], ["processing"])
    except LeaseHeldError:
        return {"job": job_id, "status": state.get("status"), "returned": 0, "held": True}
    store.delete(BATCH_NAMESPACE, key)
    return {"job": job_id, "status": state.get("status"), "returned": returned, "held": False}
