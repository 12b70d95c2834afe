"""Wait for one batch job to finish, then read it: the job, and its result lines one by one.

``batch_jobs.get`` is polled every ``every`` seconds until the job is in a final status or the
``deadline`` passes (an error naming the job and its last status). With ``results`` the output
and error files are downloaded as streams and read a line at a time, so a job of a million
lines never sits in memory whole.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator

from alumio_mistral.subscribers.base import Record
from alumio_mistral.subscribers.mistral import SubscriberError

#: the statuses a batch job never leaves
FINAL_STATUSES = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")


def result_entity(line: dict[str, Any]) -> dict[str, Any]:
    """One result line as an entity: its custom id, and the answer's status and body, or its error."""
    response = line.get("response") or {}
    entity: dict[str, Any] = {"custom_id": line.get("custom_id"), "status_code": response.get("status_code")}
    if line.get("error"):
        entity["error"] = line["error"]
    else:
        entity["body"] = response.get("body")
    return entity


class BatchJobSubscriber:
    """Polls one batch job to a final status; yields it, then (``results``) each result line."""

    def __init__(self, client: Any, job_id: str, *, every: float = 10.0, deadline: float = 86400.0,
                 results: bool = False, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.job_id = job_id
        self.every = every
        self.deadline = deadline
        self.results = results
        self._sleep = sleep
        self._clock = clock

    def wait(self) -> dict[str, Any]:
        """The job once its status is final; :class:`SubscriberError` when the deadline comes first."""
        give_up = self._clock() + self.deadline
        while True:
            job = self.client.call_json("batch_jobs.get", path_params={"job_id": self.job_id})
            if job.get("status") in FINAL_STATUSES:
                return job
            if self._clock() + self.every > give_up:
                raise SubscriberError(
                    f"batch job {self.job_id}: still {job.get('status')} when its deadline of "
                    f"{self.deadline:g}s passed (raise `deadline`, or poll it again later)"
                )
            self._sleep(self.every)

    def _lines(self, file_id: str) -> Iterator[Record]:
        response = self.client.call("files.download", path_params={"file_id": file_id}, stream=True)
        with response:
            for number, raw in enumerate(response.iter_lines(), start=1):
                if not raw.strip():
                    continue
                origin = f"batch job {self.job_id} file {file_id}:{number}"
                try:
                    line = json.loads(raw)
                except ValueError as error:
                    yield Record(None, origin, f"not JSON: {error}")
                    continue
                yield Record(result_entity(line), origin)

    def result_records(self, job: dict[str, Any]) -> Iterator[Record]:
        """One record per line of the finished ``job``'s output, then error, file, streamed
        (the ``batch-results`` action reads a job through this too)."""
        for key in ("output_file", "error_file"):
            if job.get(key):
                yield from self._lines(str(job[key]))

    def records(self) -> Iterator[Record]:
        job = self.wait()
        yield Record(job, f"batch job {self.job_id}")
        if self.results:
            yield from self.result_records(job)
