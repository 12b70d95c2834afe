"""Every catalog operation, called once through our client against one sandbox.

Stateful families get real ids (a file, a batch job, a conversation, an agent, a library and
a document are created first); everything else gets a body and parameters built from its
derived request schemas. Each answer must be 2xx with a body valid against its response schema,
or the documented error (410 for the retired fine-tuning job routes).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from alumio_mistral.catalog import Catalog
from alumio_mistral.catalog.entity import Entity
from alumio_mistral.http import ApiError, Client, ClientConfig, GoneError
from alumio_mistral.http.sse import iter_events
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.sandbox.responses import Builder

pytestmark = pytest.mark.e2e

#: bodies the stateful handlers need (beyond what the schema requires)
BODIES: dict[str, Any] = {
    "chat.complete": {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Hello"}]},
    "conversations.start": {"model": "mistral-small-latest", "inputs": "Hello"},
    "conversations.start_stream": {"model": "mistral-small-latest", "inputs": "Hello", "stream": True},
    "conversations.append": {"inputs": "And then?"},
    "conversations.append_stream": {"inputs": "And then?", "stream": True},
    "agents.create": {"model": "mistral-small-latest", "name": "helper"},
    "agents.update": {"instructions": "Be brief."},
    "libraries.create": {"name": "docs"},
    "libraries.update": {"name": "docs v2"},
    "libraries.replace": {"name": "docs v3"},
    "ocr.process": {"model": "mistral-ocr-latest",
                    "document": {"type": "document_url", "document_url": "data:text/plain,page one"}},
}
#: run first (they create what the others use) and last (they delete it), in this order
FIRST = ("files.upload", "batch_jobs.create", "conversations.start", "agents.create", "libraries.create",
         "libraries.documents.upload", "prompts.create", "skills.create", "workflows.execute")
LAST = ("libraries.documents.delete", "libraries.delete", "conversations.delete", "agents.delete_alias",
        "agents.delete", "batch_jobs.delete", "files.delete", "models.delete", "prompts.delete", "skills.delete")
#: versions of prompts and skills count from 1 (agent versions from 0)
_FROM_ONE = ("prompts.", "skills.")


def order(catalog: Catalog) -> list[Entity]:
    rank = {name: i for i, name in enumerate(FIRST)}
    last = {name: i for i, name in enumerate(LAST)}

    def key(entity: Entity) -> tuple[int, int, str]:
        if entity.name in rank:
            return 0, rank[entity.name], entity.name
        if entity.name in last:
            return 2, last[entity.name], entity.name
        return 1, 0, entity.name

    return sorted(catalog, key=key)


class Caller:
    """Calls entities with ids learnt from the answers that created them."""

    def __init__(self, sandbox: Sandbox, client: Client) -> None:
        self.schemas = sandbox.app.schemas
        self.builder = Builder(self.schemas)
        self.params_of = {entity.name: self.schemas.operation(entity).get("params", {}) for entity in sandbox.app.catalog}
        self.client = client
        self.ids: dict[str, str] = {"model_id": "", "version": "0", "workflow_identifier": "echo"}
        models = client.call("models.list").json()["data"]
        self.ids["model_id"] = next(m["id"] for m in models if m["id"].startswith("ft:"))

    def body(self, entity: Entity) -> Any:
        if entity.name in BODIES:
            return BODIES[entity.name]
        if entity.name == "batch_jobs.create":
            return {"endpoint": "/v1/chat/completions", "model": "mistral-small-latest",
                    "input_files": [self.ids["file_id"]]}
        if entity.name == "agents.complete":
            return {"agent_id": self.ids["agent_id"], "messages": [{"role": "user", "content": "Hello"}]}
        if entity.name in ("conversations.restart", "conversations.restart_stream"):
            body = {"inputs": "Again", "from_entry_id": self.ids["entry_id"]}
            return {**body, "stream": True} if entity.streams else body
        body = self.schemas.operation(entity).get("body")
        return self.builder.build(body["schema"], entity.operation_id) if body else {}

    def files(self, entity: Entity) -> Any:
        if entity.name == "files.upload":
            line = {"custom_id": "a", "body": {"messages": [{"role": "user", "content": "Hi"}]}}
            return {"file": ("in.jsonl", json.dumps(line) + "\n", "application/jsonl"), "purpose": (None, "batch")}
        fields = {"file": ("note.txt", b"sandbox text", "text/plain"), "model": (None, "voxtral-mini-latest")}
        return {**fields, "stream": (None, "true")} if entity.streams else fields

    def params(self, entity: Entity) -> tuple[dict[str, str], dict[str, str]]:
        derived = self.params_of[entity.name]
        path = {p.name: self.ids.get(p.name) or self.value(derived["path"][p.name]) for p in entity.path_params}
        if "version" in path and entity.name.startswith(_FROM_ONE):
            path["version"] = "1"
        query = {p.name: self.ids.get(p.name, _QUERY.get(p.name)) or self.value(derived["query"][p.name])
                 for p in entity.query_params if p.required}
        return path, query

    def value(self, param: dict[str, Any]) -> str:
        value = self.builder.build(param["schema"], "param")
        return json.dumps(value) if param.get("json") or not isinstance(value, str) else value

    def call(self, entity: Entity) -> Any:
        path, query = self.params(entity)
        kwargs: dict[str, Any] = {"path_params": path, "query": query}
        if entity.body == "json":
            kwargs["json"] = self.body(entity)
        elif entity.body == "multipart":
            kwargs["files"] = self.files(entity)
        return self.client.call(entity, **kwargs)

    def learn(self, entity: Entity, answer: Any) -> None:
        learnt = {"files.upload": "file_id", "batch_jobs.create": "job_id", "agents.create": "agent_id",
                  "libraries.create": "library_id", "libraries.documents.upload": "document_id",
                  "prompts.create": "prompt_id", "skills.create": "skill_id"}
        if entity.name in learnt:
            self.ids[learnt[entity.name]] = answer["id"]
        if entity.name == "conversations.start":
            self.ids["conversation_id"] = answer["conversation_id"]
            self.ids["entry_id"] = answer["outputs"][0]["id"]
        if entity.name == "workflows.execute":
            self.ids.update(execution_id=answer["execution_id"], run_id=answer["run_id"])


_QUERY = {"alias": "prod", "operator": "eq"}


def test_every_catalog_operation_answers_as_documented() -> None:
    catalog = Catalog.default()
    with Sandbox() as sandbox, Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k")) as client:
        client.config.max_attempts = 1
        caller = Caller(sandbox, client)
        problems: list[str] = []
        for entity in order(catalog):
            try:
                response = caller.call(entity)
            except GoneError:
                if not entity.retired:
                    problems.append(f"{entity.name}: 410 but not retired")
                continue
            except ApiError as error:
                problems.append(f"{entity.name}: {error.status} {error.message}")
                continue
            if entity.retired:
                problems.append(f"{entity.name}: retired but answered {response.status_code}")
                continue
            if response.status_code not in entity.success_codes:
                problems.append(f"{entity.name}: {response.status_code} not in {entity.success_codes}")
            if entity.streams:
                events = list(iter_events(response))
                if not events:
                    problems.append(f"{entity.name}: an empty event stream")
                continue
            validator = caller.schemas.validator(entity, "response")
            if validator is None or response.status_code == 204 or not response.headers["Content-Type"].endswith("json"):
                continue
            body = response.json()
            errors = [f"{p['loc']}: {p['msg'][:120]}" for p in validator.problems(body, [])]
            if errors:
                problems.append(f"{entity.name}: body does not match its schema: {errors[:3]}")
            caller.learn(entity, body)
        counts = sandbox.requests()
    assert problems == [], "\n".join(problems)
    called = {entity.name for entity in catalog}
    assert called <= set(counts), sorted(called - set(counts))
