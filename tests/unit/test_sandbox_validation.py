"""Validation by default: query, path, JSON and multipart input checked before any handler or state."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from test_sandbox_app import AUTH, UNKNOWN_ID, Answer, call

from alumio_mistral.catalog import Catalog
from alumio_mistral.sandbox.app import SandboxApp
from alumio_mistral.sandbox.relaxations import RELAXATIONS, relax
from alumio_mistral.sandbox.validation import Schemas

CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def app() -> SandboxApp:
    return SandboxApp()


def upload(app: SandboxApp, path: str, fields: dict[str, str], filename: str | None = "a.txt") -> Answer:
    parts = [f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n' for name, value in fields.items()]
    if filename is not None:
        parts.append(f'--b\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                     "Content-Type: text/plain\r\n\r\nhello\r\n")
    data = ("".join(parts) + "--b--\r\n").encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_LENGTH": str(len(data)),
               "CONTENT_TYPE": "multipart/form-data; boundary=b", "wsgi.input": io.BytesIO(data), **AUTH}
    seen: list[Any] = []
    chunks = app(environ, lambda status, headers: seen.extend([status, headers]))
    return Answer(seen[0], seen[1], b"".join(chunks))


def detail(answer: Answer) -> list[dict[str, Any]]:
    assert answer.status == 422, answer.body
    return answer.json()["detail"]


def test_a_body_of_the_wrong_json_kind_is_a_422_even_with_validation_off() -> None:
    for app in (SandboxApp(), SandboxApp(validate=False)):
        for body in ([None, None], "AAA", 3):
            for path in ("/v1/chat/completions", "/v1/agents", "/v1/libraries", "/v1/batch/jobs", "/v1/conversations"):
                assert detail(call(app, "POST", path, body))[0]["loc"] == ["body"], (path, body)
    assert call(SandboxApp(validate=False), "POST", "/v1/admin/users", {"email": "x"}).status == 422  # a list is due


def test_invalid_input_never_reaches_state(app: SandboxApp) -> None:
    assert detail(call(app, "POST", "/v1/agents", {"model": "m", "name": [None, None]}))[0]["loc"] == ["body", "name"]
    assert call(app, "GET", "/v1/agents", query="search=a").json() == []
    assert call(app, "GET", "/v1/agents/pages").status == 200
    assert call(app, "GET", "/v1/libraries", query="search=").status == 200


@pytest.mark.parametrize("query, loc, kind", [
    ("page_size=abc", ["query", "page_size"], "type"),
    ("page_size=", ["query", "page_size"], "type"),
    ("page_size=0", ["query", "page_size"], "minimum"),
    ("page_size=1001", ["query", "page_size"], "maximum"),
])
def test_query_parameters_are_checked_against_their_schemas(app: SandboxApp, query: str, loc: list[str], kind: str) -> None:
    found = detail(call(app, "GET", "/v1/agents", query=query))[0]
    assert (found["loc"], found["type"]) == (loc, kind)
    assert call(app, "GET", "/v1/agents", query="page=0&page_size=5").status == 200


def test_enums_formats_and_path_parameters_are_enforced(app: SandboxApp) -> None:
    problems = detail(call(app, "GET", "/v1/files/not-a-uuid"))
    assert problems == [{"loc": ["path", "file_id"], "msg": "'not-a-uuid' is not a 'uuid'", "type": "format"}]
    assert call(app, "GET", f"/v1/files/{UNKNOWN_ID}").status == 404
    assert detail(call(app, "GET", "/v1/batch/jobs", query="status=NOPE"))[0]["loc"][:2] == ["query", "status"]
    assert detail(call(app, "GET", "/v1/batch/jobs", query="created_after=yesterday"))[0]["type"] == "anyOf"
    assert call(app, "GET", "/v1/batch/jobs", query="created_after=2026-01-01T00:00:00Z&status=QUEUED").status == 200


def test_empty_strings_and_lists_are_values_not_absent_fields(app: SandboxApp) -> None:
    problems = detail(call(app, "POST", "/v1/chat/completions", {"model": "", "messages": ""}))
    assert [p["loc"] for p in problems] == [["body", "messages"]]
    assert problems[0]["msg"] == "'' is not of type 'array'"
    problems = detail(call(app, "POST", "/v1/embeddings", {"model": [], "input": "x"}))
    assert problems == [{"loc": ["body", "model"], "msg": "[] is not of type 'string'", "type": "type"}]
    too_short = {"loc": ["body", "name"], "msg": "String should have at least 1 character", "type": "string_too_short"}
    assert detail(call(app, "POST", "/v1/agents", {"model": "m", "name": ""})) == [too_short]
    assert detail(call(app, "POST", "/v1/libraries", {"name": ""})) == [too_short]
    no_inputs = detail(call(app, "POST", "/v1/conversations", {"model": "m", "inputs": []}))
    assert no_inputs == [{"loc": ["body", "inputs"], "msg": "List should have at least 1 item", "type": "too_short"}]


def test_embeddings_with_a_non_integer_vector_size_is_a_422(app: SandboxApp) -> None:
    problems = detail(call(app, "POST", "/v1/embeddings", {"model": "m", "input": "x", "output_dimension": 1.5}))
    assert problems[0]["loc"] == ["body", "output_dimension"]
    assert call(app, "POST", "/v1/embeddings", {"model": "m", "input": "x", "output_dimension": 8}).status == 200


def test_multipart_bodies_are_validated(app: SandboxApp) -> None:
    missing = detail(upload(app, "/v1/files", {"purpose": "batch"}, filename=None))
    assert missing == [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]
    assert detail(upload(app, "/v1/files", {"expiry": "soon"}))[0]["loc"] == ["body", "expiry"]
    assert upload(app, "/v1/files", {"purpose": "batch", "expiry": "24"}).status == 200


def test_validation_off_lets_the_handlers_decide_but_never_stores_a_wrong_type() -> None:
    app = SandboxApp(validate=False)
    assert call(app, "POST", "/v1/chat/completions", {**CHAT, "temperature": 3, "max_tokens": -5}).status == 200
    assert call(SandboxApp(), "POST", "/v1/chat/completions", {**CHAT, "max_tokens": -5}).status == 422
    problems = detail(call(app, "POST", "/v1/agents", {"model": "m", "name": [None, None]}))
    assert problems == [{"loc": ["body", "name"], "msg": "[None, None] is not of type 'string'", "type": "type"}]
    assert call(app, "GET", "/v1/agents", query="search=a").json() == []


# -- relaxations: each one named, explained, and shown to hold ---------------------------------


def test_relaxations_are_named_explained_and_leave_the_input_alone() -> None:
    assert len({r.name for r in RELAXATIONS}) == len(RELAXATIONS)
    assert all(len(r.reason) > 40 for r in RELAXATIONS)
    spec = {"paths": {}, "components": {"schemas": {"FilePurpose": {"type": "string", "enum": ["batch"]}}}}
    assert relax(spec)["components"]["schemas"]["FilePurpose"] == {"type": "string"}
    assert spec["components"]["schemas"]["FilePurpose"]["enum"] == ["batch"]


def test_file_purposes_the_spec_does_not_list_are_accepted(app: SandboxApp) -> None:
    answer = upload(app, "/v1/files", {"purpose": "audio"})
    assert answer.status == 200 and answer.json()["purpose"] == "audio"


def test_skill_asset_content_takes_the_fields_its_one_of_declares() -> None:
    validator = Schemas.shipped().schema_validator({"$ref": "#/definitions/SkillAssetContent"})
    assert validator.problems({"textContent": "echo hi", "isExecutable": True}, []) == []
    assert validator.problems({"rawContent": "aGk="}, []) == []
    assert validator.problems({"textContent": "x", "other": 1}, [])[0]["type"] == "additionalProperties"


def test_chat_answers_need_no_undeclared_data_field(app: SandboxApp) -> None:
    entity = Catalog.default().get("chat.complete")
    answer = call(app, "POST", "/v1/chat/completions", CHAT).json()
    assert "data" not in answer
    assert app.schemas.validator(entity, "response").problems(answer, []) == []


def test_nullable_fields_take_null() -> None:
    title = Schemas.shipped().definitions["CreatePromptRequest"]["properties"]["title"]
    assert title == {"anyOf": [{"type": "string"}, {"type": "null"}]}


def test_live_errors_are_documented_for_every_operation() -> None:
    spec = relax({"paths": {"/v1/x": {"get": {"responses": {"200": {"description": ""}}}}}})
    assert set(spec["paths"]["/v1/x"]["get"]["responses"]) == {"200", "400", "401", "403", "404", "409", "410"}


def test_stream_events_carry_json_text_as_data() -> None:
    event = {"type": "object", "properties": {"data": {"type": "object"}}}
    spec = relax({"paths": {"/v1/s": {"post": {"responses": {"200": {"content": {"text/event-stream": {"schema": event}}}}}}}})
    data = spec["paths"]["/v1/s"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]["properties"]["data"]
    assert data == {"anyOf": [{"type": "object"}, {"type": "string"}]}


def test_judge_schemas_read_their_exponent_bounds_as_numbers() -> None:
    bound = Schemas.shipped().definitions["JudgeRegressionOutput"]["properties"]["max"]
    assert bound["exclusiveMaximum"] == 1e9
    assert json.dumps(bound).count('"1e+09"') == 0


def test_errors_take_the_shape_their_operation_documents(app: SandboxApp) -> None:
    answer = call(app, "GET", "/v1/observability/campaigns", query="page_size=-1")
    assert answer.status == 422
    assert answer.json()["detail"]["message"] == "query.page_size: -1 is less than the minimum of 0"
    assert isinstance(call(app, "GET", "/v1/files", query="page_size=x").json()["detail"], list)


def test_integer_formats_bound_their_values_and_durations_are_checked(app: SandboxApp) -> None:
    assert detail(call(app, "GET", "/v2/prompts", query="pageSize=2147483648"))[0]["type"] == "maximum"
    check = Schemas.shipped().schema_validator({"type": "string", "format": "duration"})
    assert check.problems("PT1H30M", []) == [] and check.problems("P2W", []) == []
    assert check.problems("AAA", [])[0]["type"] == "format"


def test_operations_without_a_handler_answer_from_their_schemas(app: SandboxApp) -> None:
    sample = call(app, "GET", "/v1/audio/voices/voice-1/sample")
    assert sample.status == 200 and sample.headers["Content-Type"] == "audio/wav" and sample.body[:4] == b"RIFF"
    entity, _ = app.catalog.match("GET", "/v1/workflows/deployments")
    answer = call(app, "GET", "/v1/workflows/deployments").json()
    assert app.schemas.validator(entity, "response").problems(answer, []) == []
    assert answer["deployments"][0]["created_at"] == "2026-01-01T00:00:00Z" and answer["next_cursor"] is None
    assert call(SandboxApp(), "GET", "/v1/workflows/deployments").json() == answer, "the same for the same seed"
    assert call(SandboxApp(seed=1), "GET", "/v1/workflows/deployments").json()["deployments"][0]["id"] != \
        answer["deployments"][0]["id"]
