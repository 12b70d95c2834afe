"""Batch jobs: created from JSONL files or inline requests, advanced per poll or as time passes.

By default each ``batch_jobs.get`` moves a job one step (QUEUED -> RUNNING -> SUCCESS or
FAILED; CANCELLATION_REQUESTED -> CANCELLED), so flows that poll see every state, in order,
without waiting. With ``step_seconds`` jobs move one step per that many seconds instead, seen
by ``get`` and ``list`` alike. On completion every line is answered by the same code the live
endpoint runs.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from alumio_mistral.sandbox.state import Context, Handler, created_after, page_of
from alumio_mistral.sandbox.state.files import Files
from alumio_mistral.sandbox.wire import HttpError, Request, absent, error_body, lookup

#: (endpoint, body) -> (status code, response body), as the live endpoint answers
Answer = Callable[[str, dict[str, Any]], tuple[int, Any]]
FINAL = ("SUCCESS", "FAILED", "CANCELLED", "TIMEOUT_EXCEEDED")


def sort_requests(items: list[Any], where: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The items that are requests (an object with a ``body`` object), and a message per other one."""
    requests: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, dict) and isinstance(item.get("body"), dict):
            requests.append(item)
        else:
            problem = "no 'body' object" if item is not None else "not valid JSON"
            problems.append(f"{where} {number}: {problem}")
    return requests, problems


def parse_lines(data: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    r"""Requests of a batch input file, and one message per line that is not a request.

    Lines end at ``\n`` alone: ``str.splitlines`` also breaks at U+2028 and U+2029, which JSON
    holds unescaped inside a text (``orjson`` writes them so), and cut such a request in two."""
    items: list[Any] = []
    for line in data.decode("utf-8", "replace").split("\n"):
        if line.strip():
            try:
                items.append(json.loads(line))
            except ValueError:
                items.append(None)
    return sort_requests(items, "line")


class Batches:
    def __init__(self, ctx: Context, files: Files, answer: Answer, step_seconds: float | None = None) -> None:
        self.ctx = ctx
        self.files = files
        self.answer = answer
        self.step_seconds = step_seconds
        #: job id -> clock time of its last step (time-based progress only)
        self.stepped: dict[str, float] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}
        self.outputs: dict[str, list[dict[str, Any]]] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "batch_jobs.create": self.create, "batch_jobs.list": self.list, "batch_jobs.get": self.get,
            "batch_jobs.cancel": self.cancel, "batch_jobs.delete": self.delete,
        }

    def create(self, request: Request) -> Any:
        body = request.json() or {}
        endpoint = body.get("endpoint")
        if not endpoint:
            raise absent(endpoint, "body", "endpoint")
        input_files = [str(f) for f in body.get("input_files") or []]
        requests, problems = sort_requests(list(body.get("requests") or []), "request")
        for file_id in input_files:
            parsed, bad = parse_lines(self.files.content(file_id))
            requests += parsed
            problems += [f"file {file_id} {p}" for p in bad]
        if not requests and not problems:
            raise HttpError(400, error_body("A batch job needs input_files or requests with at least one line"))
        model = body.get("model")
        for item in requests:
            if model and "model" not in item["body"]:
                item["body"] = {**item["body"], "model": model}
            if body.get("agent_id") and "agent_id" not in item["body"]:
                item["body"] = {**item["body"], "agent_id": body["agent_id"]}
        job = {
            "id": self.ctx.uuid(), "object": "batch", "input_files": input_files, "metadata": body.get("metadata"),
            "endpoint": endpoint, "model": model, "agent_id": body.get("agent_id"), "output_file": None,
            "error_file": None, "errors": [], "outputs": None, "status": "QUEUED", "created_at": self.ctx.now(),
            "total_requests": len(requests) + len(problems), "completed_requests": 0, "succeeded_requests": 0,
            "failed_requests": 0, "started_at": None, "completed_at": None,
        }
        with self.ctx.lock:
            self.jobs[job["id"]] = job
            self.pending[job["id"]] = (requests, problems)
            self.stepped[job["id"]] = self.ctx.clock.time()
        return dict(job)

    def _job(self, job_id: str) -> dict[str, Any]:
        return lookup(self.jobs, "Batch job", job_id)

    def _advance(self, job: dict[str, Any]) -> None:
        status = job["status"]
        if status == "QUEUED":
            job["status"], job["started_at"] = "RUNNING", self.ctx.now()
        elif status == "RUNNING":
            self._run(job)
        elif status == "CANCELLATION_REQUESTED":
            job["status"], job["completed_at"] = "CANCELLED", self.ctx.now()

    def _catch_up(self, job: dict[str, Any], step: float) -> None:
        """Take every step the time since the last one allows."""
        now = self.ctx.clock.time()
        while job["status"] not in FINAL and now - self.stepped[job["id"]] >= step:
            self._advance(job)
            self.stepped[job["id"]] += step

    def _run(self, job: dict[str, Any]) -> None:
        """Answer every line, write the output (and error) files, and finish the job."""
        requests, problems = self.pending.pop(job["id"], ([], []))
        results, failures = [], []
        for index, item in enumerate(requests):
            custom_id = item.get("custom_id") or str(index)
            status, answer = self.answer(job["endpoint"], item["body"])
            line = {"id": f"batch-{job['id'][:8]}-{index}", "custom_id": custom_id,
                    "response": {"status_code": status, "body": answer}, "error": None}
            (results if status < 400 else failures).append(line)
        failures += [{"custom_id": None, "response": None, "error": {"message": p, "code": 400}} for p in problems]
        if results:
            job["output_file"] = self._write(job, "output", results, "batch_result")
        if failures:
            job["error_file"] = self._write(job, "error", failures, "batch_error")
            job["errors"] = [{"message": f"{len(failures)} request(s) failed", "count": len(failures)}]
        self.outputs[job["id"]] = results + failures
        job.update(
            status="SUCCESS" if results else "FAILED", completed_at=self.ctx.now(),
            completed_requests=len(results) + len(failures), succeeded_requests=len(results),
            failed_requests=len(failures),
        )

    def _write(self, job: dict[str, Any], kind: str, lines: list[dict[str, Any]], sample_type: str) -> str:
        data = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines).encode()
        record = self.files.add(f"{job['id']}_{kind}.jsonl", data, "batch", sample_type, source="mistral",
                                mimetype="application/jsonl")
        return str(record["id"])

    def _view(self, job: dict[str, Any], inline: bool) -> dict[str, Any]:
        view = dict(job)
        if inline and job["status"] in FINAL:
            view["outputs"] = self.outputs.get(job["id"], [])
        return view

    def get(self, request: Request) -> Any:
        with self.ctx.lock:
            job = self._job(request.path_params["job_id"])
            if self.step_seconds is None:
                self._advance(job)
            else:
                self._catch_up(job, self.step_seconds)
            return self._view(job, (request.arg("inline") or "").lower() == "true")

    def list(self, request: Request) -> Any:
        with self.ctx.lock:
            if self.step_seconds is not None:
                for job in self.jobs.values():
                    self._catch_up(job, self.step_seconds)
            jobs = list(self.jobs.values())
        statuses = request.query.get("status")
        if statuses:
            jobs = [j for j in jobs if j["status"] in statuses]
        for name in ("model", "agent_id"):
            if request.arg(name):
                jobs = [j for j in jobs if j[name] == request.arg(name)]
        after = created_after(request)
        if after is not None:
            jobs = [j for j in jobs if j["created_at"] >= after]
        jobs.sort(key=lambda j: j["created_at"], reverse=request.arg("order_by", "-created") == "-created")
        return {"object": "list", "data": [dict(j) for j in page_of(jobs, request)], "total": len(jobs)}

    def cancel(self, request: Request) -> Any:
        with self.ctx.lock:
            job = self._job(request.path_params["job_id"])
            if job["status"] not in FINAL:
                job["status"] = "CANCELLATION_REQUESTED"
                self.pending.pop(job["id"], None)
            return dict(job)

    def delete(self, request: Request) -> Any:
        job_id = request.path_params["job_id"]
        with self.ctx.lock:
            self._job(job_id)
            del self.jobs[job_id]
            self.pending.pop(job_id, None)
            self.stepped.pop(job_id, None)
            self.outputs.pop(job_id, None)
        return {"id": job_id, "object": "batch", "deleted": True}
