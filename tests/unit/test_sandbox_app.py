"""The sandbox WSGI app called directly (no sockets): contract, state rules, control routes."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from jsonschema import Draft7Validator

from alumio_mistral.catalog import Catalog
from alumio_mistral.sandbox.app import SandboxApp
from alumio_mistral.sandbox.clock import ManualClock
from alumio_mistral.sandbox.responses import Builder

AUTH = {"HTTP_AUTHORIZATION": "Bearer k"}
#: a well-formed id nothing has (a malformed one is a 422, as on the live API)
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = int(status.split()[0])
        self.headers = dict(headers)
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def call(app: SandboxApp, method: str, path: str, body: Any = None, *, query: str = "",
         headers: dict[str, str] | None = None) -> Answer:
    data = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "CONTENT_LENGTH": str(len(data)),
               "CONTENT_TYPE": "application/json" if data else "", "wsgi.input": io.BytesIO(data),
               **(AUTH if headers is None else headers)}
    seen: list[Any] = []
    chunks = app(environ, lambda status, hdrs: seen.extend([status, hdrs]))
    return Answer(seen[0], seen[1], b"".join(chunks))


@pytest.fixture
def app() -> SandboxApp:
    return SandboxApp()


def test_missing_credentials_get_401_in_mistral_error_shape(app: SandboxApp) -> None:
    answer = call(app, "GET", "/v1/models", headers={})
    assert answer.status == 401
    assert answer.json()["object"] == "error" and "Authorization: Bearer" in answer.json()["message"]
    assert call(app, "GET", "/v1/models", headers={"HTTP_AUTHORIZATION": "Bearer "}).status == 401
    assert call(app, "GET", "/v1/models", headers={"HTTP_AUTHORIZATION": "Basic abc"}).status == 401
    header_routes = [e for e in Catalog.default() if e.auth == "api_key_header"]
    assert header_routes
    route = header_routes[0]
    path = route.path.replace("{", "").replace("}", "")
    assert call(app, route.method, path, {} if route.body == "json" else None).status == 401
    assert call(app, route.method, path, {} if route.body == "json" else None,
                headers={"HTTP_X_API_KEY": "k"}).status < 400


def test_unknown_paths_404_and_retired_routes_410(app: SandboxApp) -> None:
    assert call(app, "GET", "/v1/unknown").status == 404
    gone = call(app, "POST", "/v1/fine_tuning/jobs", {"model": "m"})
    assert gone.status == 410 and "retired" in gone.json()["message"]


def test_counters_per_route_entity_and_status_and_reset(app: SandboxApp) -> None:
    call(app, "GET", "/v1/models")
    call(app, "GET", f"/v1/files/{UNKNOWN_ID}")
    counts = call(app, "GET", "/_sandbox/requests", headers={}).json()
    assert counts == {"GET /v1/models": 1, "models.list": 1, "GET /v1/files/{file_id}": 1, "files.retrieve": 1,
                      "status 200": 1, "status 404": 1}
    assert call(app, "POST", "/_sandbox/reset", headers={}).json() == {"reset": True}
    assert call(app, "GET", "/_sandbox/requests").json() == {}
    assert call(app, "GET", "/_sandbox/nothing").status == 404


def test_base_models_cannot_be_changed_fine_tuned_ones_can(app: SandboxApp) -> None:
    models = call(app, "GET", "/v1/models").json()["data"]
    tuned = next(m["id"] for m in models if m["id"].startswith("ft:"))
    assert call(app, "DELETE", "/v1/models/mistral-small-latest").status == 403
    assert call(app, "PATCH", "/v1/fine_tuning/models/mistral-small-latest", {"name": "x"}).status == 403
    assert call(app, "PATCH", f"/v1/fine_tuning/models/{tuned}", {"name": "mine"}).json()["name"] == "mine"
    assert call(app, "POST", f"/v1/fine_tuning/models/{tuned}/archive").json()["archived"] is True
    assert call(app, "GET", f"/v1/models/{tuned}").json()["archived"] is True
    assert call(app, "DELETE", f"/v1/fine_tuning/models/{tuned}/archive").json()["archived"] is False
    assert call(app, "DELETE", f"/v1/models/{tuned}").json() == {"id": tuned, "object": "model", "deleted": True}
    assert call(app, "GET", f"/v1/models/{tuned}").status == 404


def test_chat_stream_sends_chunks_then_done(app: SandboxApp) -> None:
    answer = call(app, "POST", "/v1/chat/completions",
                  {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True})
    assert answer.headers["Content-Type"] == "text/event-stream"
    events = answer.body.decode().strip().split("\n\n")
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2][len("data: "):])["usage"]["total_tokens"] > 0


def test_with_validation_off_bodies_reach_the_handlers_unchecked() -> None:
    app = SandboxApp(validate=False)
    assert call(app, "POST", "/v1/chat/completions", {"anything": 1}).status == 200
    assert call(app, "GET", "/v1/files", query="page_size=abc").status == 422  # the handler's own check
    assert call(app, "POST", "/v1/agents", {"name": "a"}).json()["detail"][0]["loc"] == ["body", "model"]
    unparsable = app(
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/chat/completions", "CONTENT_LENGTH": "3",
         "CONTENT_TYPE": "application/json", "wsgi.input": io.BytesIO(b"{x}"), **AUTH},
        lambda status, headers: None,
    )
    assert json.loads(b"".join(unparsable))["detail"][0]["type"] == "json_invalid"


def test_invalid_bodies_get_422_with_loc_msg_type_by_default(app: SandboxApp) -> None:
    answer = call(app, "POST", "/v1/chat/completions", {"model": 3, "messages": []})
    assert answer.status == 422
    detail = answer.json()["detail"]
    assert {"loc": ["body", "model"], "msg": "3 is not of type 'string'", "type": "type"} in detail
    missing = call(app, "POST", "/v1/embeddings", {"input": "x"}).json()["detail"]
    assert missing == [{"loc": ["body", "model"], "msg": "Field required", "type": "missing"}]
    assert call(app, "POST", "/v1/embeddings").json()["detail"][0]["loc"] == ["body"]


def test_generic_answers_are_valid_instances_of_their_response_schemas(app: SandboxApp) -> None:
    builder = Builder(app.schemas, seed=3)
    checked = 0
    for entity in Catalog.default():
        response = app.schemas.operation(entity).get("response", {})
        validator = app.schemas.validator(entity, "response")
        if validator is None or response.get("media") != "application/json":
            continue
        value = builder.build(response["schema"], entity.operation_id)
        # jsonschema rather than the compiled check: compiling 250 validators takes seconds
        assert list(Draft7Validator(validator.root).iter_errors(value)) == [], entity.name
        assert builder.build(response["schema"], entity.operation_id) == value, "deterministic"
        checked += 1
    assert checked > 200


def test_batch_job_with_only_bad_lines_fails_with_an_error_file(app: SandboxApp) -> None:
    job = call(app, "POST", "/v1/batch/jobs", {"endpoint": "/v1/embeddings", "requests": [{"custom_id": "a", "body": {}}]})
    assert job.status == 200
    job_id = job.json()["id"]
    statuses = [call(app, "GET", f"/v1/batch/jobs/{job_id}").json()["status"] for _ in range(3)]
    assert statuses == ["RUNNING", "FAILED", "FAILED"]
    assert call(app, "POST", "/v1/batch/jobs", {"endpoint": "/v1/embeddings", "requests": []}).status == 400


def test_unknown_libraries_and_documents_are_404(app: SandboxApp) -> None:
    library = call(app, "POST", "/v1/libraries", {"name": "docs"}).json()
    assert call(app, "GET", f"/v1/libraries/{library['id']}/documents/{UNKNOWN_ID}/status").status == 404
    assert call(app, "GET", f"/v1/libraries/{UNKNOWN_ID}").status == 404


def test_agent_updates_make_versions_and_aliases_follow_them(app: SandboxApp) -> None:
    agent = call(app, "POST", "/v1/agents", {"model": "m", "name": "a"}).json()
    base = f"/v1/agents/{agent['id']}"
    updated = call(app, "PATCH", base, {"instructions": "short"}).json()
    assert (updated["version"], updated["versions"]) == (1, [0, 1])
    assert call(app, "GET", base, query="agent_version=0").json()["instructions"] is None
    assert call(app, "PUT", base + "/aliases", query="alias=prod&version=0").json()["version"] == 0
    assert call(app, "GET", base, query="agent_version=prod").json()["version"] == 0
    assert call(app, "PATCH", base + "/version", query="version=0").json()["version"] == 0
    assert call(app, "GET", base).json()["version"] == 0
    assert call(app, "GET", base + "/versions/9").status == 404
    assert call(app, "DELETE", base).status == 204


def test_batch_jobs_can_advance_with_time_instead_of_polls() -> None:
    clock = ManualClock()
    app = SandboxApp(clock=clock, batch_step=10)
    requests = [{"custom_id": "a", "body": {"input": "x"}}]
    job = {"endpoint": "/v1/embeddings", "model": "mistral-embed", "requests": requests}
    job_id = call(app, "POST", "/v1/batch/jobs", job).json()["id"]
    assert [call(app, "GET", f"/v1/batch/jobs/{job_id}").json()["status"] for _ in range(3)] == ["QUEUED"] * 3
    clock.advance(10)
    assert call(app, "GET", "/v1/batch/jobs").json()["data"][0]["status"] == "RUNNING"
    clock.advance(25)
    done = call(app, "GET", f"/v1/batch/jobs/{job_id}").json()
    assert done["status"] == "SUCCESS" and done["succeeded_requests"] == 1
