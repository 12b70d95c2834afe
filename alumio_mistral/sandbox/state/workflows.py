"""Workflows and their executions (runs): list, get, update, archive, execute, poll, signal, cancel.

Workflows are registered by deploying worker code, which the sandbox cannot run, so it comes
with built-in ones: ``echo`` (the result is the input) and ``fail`` (always fails, for error
paths). An execution starts ``RUNNING`` and finishes on the next poll of ``executions.get`` or
``runs.get`` (like batch jobs), so an SDK ``execute_workflow_and_wait`` returns at once;
``wait_for_result`` finishes it before answering.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from alumio_mistral.sandbox.state import Context, Handler, token_page
from alumio_mistral.sandbox.wire import HttpError, Reply, Request, error_body, lookup, missing, not_found

SANDBOX_USER = "00000000-0000-4000-8000-000000000001"
SANDBOX_WORKSPACE = "00000000-0000-4000-8000-000000000002"
#: name -> description of the built-in workflows
BUILT_IN = {"echo": "Returns its input as its result.", "fail": "Always fails: for testing error paths."}
FINAL = ("COMPLETED", "FAILED", "CANCELED", "TERMINATED", "TIMED_OUT")
_NO_CONTENT = Reply(204)


class Workflows:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.workflows: dict[str, dict[str, Any]] = {}
        for name, description in BUILT_IN.items():
            workflow_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-workflow:{name}"))
            self.workflows[workflow_id] = {
                "id": workflow_id, "name": name, "display_name": name.title(), "type": "code",
                "description": description, "customer_id": SANDBOX_USER, "workspace_id": SANDBOX_WORKSPACE,
                "shared_namespace": None, "available_in_chat_assistant": False, "is_technical": False,
                "archived": False, "tags": [],
            }
        self.executions: dict[str, dict[str, Any]] = {}
        #: execution id -> its input, and its history events
        self.inputs: dict[str, Any] = {}
        self.history: dict[str, list[dict[str, Any]]] = {}
        #: run id -> execution id (a reset starts a new run; earlier run ids still find the execution)
        self.runs: dict[str, str] = {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "workflows.list": self.list, "workflows.get": self.get, "workflows.update": self.update,
            "workflows.archive": self.archive, "workflows.unarchive": self.unarchive,
            "workflows.execute": self.execute, "workflows.executions.get": self.get_execution,
            "workflows.executions.get_history": self.get_history, "workflows.executions.cancel": self.cancel,
            "workflows.executions.terminate": self.terminate, "workflows.executions.signal": self.signal,
            "workflows.executions.query": self.query, "workflows.executions.update": self.update_execution,
            "workflows.executions.reset": self.reset, "workflows.runs.list": self.list_runs,
            "workflows.runs.get": self.get_run, "workflows.runs.get_history": self.get_run_history,
        }

    # -- workflows ----------------------------------------------------------------------------

    def _workflow(self, identifier: str) -> dict[str, Any]:
        """A workflow by id or by name; 404 when unknown."""
        found = next((w for w in self.workflows.values() if w["name"] == identifier), None)
        return found or lookup(self.workflows, "Workflow", identifier)

    def list(self, request: Request) -> Any:
        archived = request.arg("archived")
        search = (request.arg("search") or "").lower()
        tags = request.query.get("tags")
        with self.ctx.lock:
            found = [w for w in self.workflows.values()
                     if (archived in (None, "") or str(w["archived"]).lower() == archived.lower())
                     and search in (w["name"] + " " + w["display_name"]).lower()
                     and (not tags or set(tags) & set(w["tags"]))]
            basics = [{k: w[k] for k in ("id", "name", "display_name", "description", "archived", "tags")}
                      | {"metadata": {"shared_namespace": w["shared_namespace"]}} for w in found]
        page, cursor = token_page(basics, request, 50, token_name="cursor", size_name="limit")
        return {"workflows": page, "next_cursor": cursor}

    def get(self, request: Request) -> Any:
        with self.ctx.lock:
            return {"workflow": {**self._workflow(request.path_params["workflow_identifier"]), "active": True}}

    def update(self, request: Request) -> Any:
        body = request.json()
        body = body if isinstance(body, dict) else {}
        with self.ctx.lock:
            workflow = self._workflow(request.path_params["workflow_identifier"])
            for key in ("display_name", "description", "available_in_chat_assistant", "tags"):
                if body.get(key) is not None:
                    workflow[key] = body[key]
            return {"workflow": dict(workflow)}

    def _set_archived(self, request: Request, archived: bool) -> Any:
        with self.ctx.lock:
            workflow = self._workflow(request.path_params["workflow_identifier"])
            workflow["archived"] = archived
            return {"workflow": dict(workflow)}

    def archive(self, request: Request) -> Any:
        return self._set_archived(request, True)

    def unarchive(self, request: Request) -> Any:
        return self._set_archived(request, False)

    # -- executions ---------------------------------------------------------------------------

    def execute(self, request: Request) -> Any:
        body = request.json()
        body = body if isinstance(body, dict) else {}
        now = self.ctx.iso_now()
        with self.ctx.lock:
            workflow = self._workflow(request.path_params["workflow_identifier"])
            if workflow["archived"]:
                raise HttpError(409, error_body(f"Workflow {workflow['name']!r} is archived", "conflict"))
            execution_id = str(body.get("execution_id") or self.ctx.uuid())
            if execution_id in self.executions and self.executions[execution_id]["status"] not in FINAL:
                raise HttpError(409, error_body(f"Execution {execution_id!r} is already running", "conflict"))
            execution = {
                "workflow_name": workflow["name"], "workflow_id": workflow["id"],
                "deployment_name": body.get("deployment_name"), "execution_id": execution_id,
                "parent_execution_id": None, "root_execution_id": execution_id, "run_id": self.ctx.uuid(),
                "user_id": SANDBOX_USER, "status": "RUNNING", "start_time": now, "end_time": None,
                "total_duration_ms": None, "result": None,
            }
            self.executions[execution_id] = execution
            self.runs[execution["run_id"]] = execution_id
            self.inputs[execution_id] = body.get("input")
            self.history[execution_id] = []
            self._event(execution_id, "WorkflowExecutionStarted", {"input": body.get("input")})
            if body.get("wait_for_result"):
                self._finish(execution)
                return {"workflow_name": workflow["name"], "execution_id": execution_id,
                        "result": execution["result"]}
            return dict(execution)

    def _event(self, execution_id: str, kind: str, attributes: dict[str, Any]) -> None:
        events = self.history[execution_id]
        events.append({"event_id": len(events) + 1, "event_type": kind, "event_time": self.ctx.iso_now(),
                       "attributes": attributes})

    def _finish(self, execution: dict[str, Any]) -> None:
        """Run a ``RUNNING`` execution to its end: ``echo`` completes with its input, ``fail`` fails."""
        if execution["status"] != "RUNNING":
            return
        execution_id = execution["execution_id"]
        if execution["workflow_name"] == "fail":
            execution["status"] = "FAILED"
            self._event(execution_id, "WorkflowExecutionFailed", {"failure": "the fail workflow always fails"})
        else:
            execution.update(status="COMPLETED", result=self.inputs.get(execution_id))
            self._event(execution_id, "WorkflowExecutionCompleted", {"result": execution["result"]})
        self._end(execution)

    def _end(self, execution: dict[str, Any]) -> None:
        execution["end_time"] = self.ctx.iso_now()
        started = datetime.fromisoformat(execution["start_time"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(execution["end_time"].replace("Z", "+00:00"))
        execution["total_duration_ms"] = int((ended - started).total_seconds() * 1000)

    def _execution(self, execution_id: str) -> dict[str, Any]:
        return lookup(self.executions, "Workflow execution", execution_id)

    def _by_run(self, run_id: str) -> dict[str, Any]:
        execution_id = self.runs.get(run_id)
        if execution_id not in self.executions:
            raise not_found("Workflow run", run_id)
        return self.executions[execution_id]

    def get_execution(self, request: Request) -> Any:
        with self.ctx.lock:
            execution = self._execution(request.path_params["execution_id"])
            self._finish(execution)
            return dict(execution)

    def get_run(self, request: Request) -> Any:
        with self.ctx.lock:
            execution = self._by_run(request.path_params["run_id"])
            self._finish(execution)
            return dict(execution)

    def get_history(self, request: Request) -> Any:
        with self.ctx.lock:
            execution = self._execution(request.path_params["execution_id"])
            return {"events": list(self.history[execution["execution_id"]])}

    def get_run_history(self, request: Request) -> Any:
        with self.ctx.lock:
            execution = self._by_run(request.path_params["run_id"])
            return {"events": list(self.history[execution["execution_id"]])}

    def _stop(self, request: Request, status: str) -> Reply:
        with self.ctx.lock:
            execution = self._execution(request.path_params["execution_id"])
            if execution["status"] == "RUNNING":
                execution["status"] = status
                self._event(execution["execution_id"], f"WorkflowExecution{status.title()}", {})
                self._end(execution)
        return _NO_CONTENT

    def cancel(self, request: Request) -> Any:
        return self._stop(request, "CANCELED")

    def terminate(self, request: Request) -> Any:
        return self._stop(request, "TERMINATED")

    def _invocation(self, request: Request, kind: str) -> tuple[dict[str, Any], str]:
        """The execution and the name of a signal, query or update (recorded in the history)."""
        body = request.json()
        if not isinstance(body, dict) or not body.get("name"):
            raise missing("body", "name")
        execution = self._execution(request.path_params["execution_id"])
        self._event(execution["execution_id"], kind, {"name": body["name"], "input": body.get("input")})
        return execution, str(body["name"])

    def signal(self, request: Request) -> Any:
        with self.ctx.lock:
            execution, name = self._invocation(request, "WorkflowExecutionSignaled")
            if execution["status"] in FINAL:
                raise HttpError(409, error_body(f"Execution {execution['execution_id']!r} has ended", "conflict"))
        return {"message": f"Signal {name!r} accepted"}

    def query(self, request: Request) -> Any:
        with self.ctx.lock:
            execution, name = self._invocation(request, "QueryAnswered")
            return {"query_name": name, "result": {"status": execution["status"]}}

    def update_execution(self, request: Request) -> Any:
        with self.ctx.lock:
            execution, name = self._invocation(request, "WorkflowExecutionUpdateAccepted")
            return {"update_name": name, "result": {"status": execution["status"]}}

    def reset(self, request: Request) -> Any:
        """Run the execution again from its start (its input kept)."""
        with self.ctx.lock:
            execution = self._execution(request.path_params["execution_id"])
            execution.update(status="RUNNING", end_time=None, total_duration_ms=None, result=None,
                             run_id=self.ctx.uuid())
            self.runs[execution["run_id"]] = execution["execution_id"]
            self._event(execution["execution_id"], "WorkflowExecutionReset", {})
        return _NO_CONTENT

    def list_runs(self, request: Request) -> Any:
        wanted = request.arg("workflow_identifier")
        statuses = request.query.get("status")
        with self.ctx.lock:
            runs = [{k: v for k, v in e.items() if k != "result"} for e in self.executions.values()
                    if (not wanted or wanted in (e["workflow_name"], e["workflow_id"]))
                    and (not statuses or e["status"] in statuses)]
        runs.sort(key=lambda run: run["start_time"], reverse=request.arg("order", "desc") != "asc")
        page, token = token_page(runs, request, 50, token_name="next_page_token")
        return {"executions": page, "next_page_token": token}
