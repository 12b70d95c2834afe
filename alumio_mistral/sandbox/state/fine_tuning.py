"""Fine-tuning jobs, for a sandbox serving the older spec that still has their routes.

The live API retired these routes (410, which is what the sandbox answers by default); with
``--spec`` naming a spec that holds them, these handlers keep jobs so flows written against
them can be tested. Each ``get`` moves a job one step (QUEUED -> RUNNING -> SUCCESS; a job with
no training files ends FAILED_VALIDATION; CANCELLATION_REQUESTED -> CANCELLED), as batch jobs do.
"""

from __future__ import annotations

from typing import Any

from alumio_mistral.sandbox.state import Context, Handler, created_after, page_of
from alumio_mistral.sandbox.wire import Request, absent, lookup

FINAL = ("SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED")


class FineTuningJobs:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.jobs: dict[str, dict[str, Any]] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "fine_tuning.jobs.create": self.create, "fine_tuning.jobs.list": self.list,
            "fine_tuning.jobs.get": self.get, "fine_tuning.jobs.cancel": self.cancel,
            "fine_tuning.jobs.start": self.start,
        }

    def create(self, request: Request) -> Any:
        body = request.json() or {}
        if not body.get("model"):
            raise absent(body.get("model"), "body", "model")
        now = self.ctx.now()
        job = {
            "id": self.ctx.uuid(), "object": "job", "job_type": body.get("job_type") or "completion",
            "auto_start": body.get("auto_start", True), "model": body["model"],
            "status": "QUEUED", "created_at": now, "modified_at": now,
            "training_files": list(body.get("training_files") or []),
            "validation_files": list(body.get("validation_files") or []),
            "hyperparameters": body.get("hyperparameters") or {}, "suffix": body.get("suffix"),
            "integrations": body.get("integrations") or [], "fine_tuned_model": None,
            "trained_tokens": None, "metadata": None,
        }
        with self.ctx.lock:
            self.jobs[job["id"]] = job
        return dict(job)

    def _advance(self, job: dict[str, Any]) -> None:
        status = job["status"]
        if status == "QUEUED":
            job["status"] = "RUNNING" if job["training_files"] else "FAILED_VALIDATION"
        elif status == "RUNNING":
            job.update(status="SUCCESS", fine_tuned_model=f"ft:{job['model']}:{job['id'][:8]}", trained_tokens=1000)
        elif status == "CANCELLATION_REQUESTED":
            job["status"] = "CANCELLED"
        else:
            return
        job["modified_at"] = self.ctx.now()

    def get(self, request: Request) -> Any:
        with self.ctx.lock:
            job = lookup(self.jobs, "Fine-tuning job", request.path_params["job_id"])
            self._advance(job)
            return dict(job)

    def cancel(self, request: Request) -> Any:
        with self.ctx.lock:
            job = lookup(self.jobs, "Fine-tuning job", request.path_params["job_id"])
            if job["status"] not in FINAL:
                job["status"], job["modified_at"] = "CANCELLATION_REQUESTED", self.ctx.now()
            return dict(job)

    def start(self, request: Request) -> Any:
        with self.ctx.lock:
            return dict(lookup(self.jobs, "Fine-tuning job", request.path_params["job_id"]))

    def list(self, request: Request) -> Any:
        with self.ctx.lock:
            jobs = [dict(job) for job in self.jobs.values()]
        for name in ("model", "status"):
            if request.arg(name):
                jobs = [job for job in jobs if job[name] == request.arg(name)]
        after = created_after(request)
        if after is not None:
            jobs = [job for job in jobs if job["created_at"] >= after]
        jobs.sort(key=lambda job: job["created_at"], reverse=True)
        return {"object": "list", "data": page_of(jobs, request), "total": len(jobs)}
