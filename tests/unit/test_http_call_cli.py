"""``alumio-mistral call``: params sorted by the entity, bodies, SSE lines, typed errors, no key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner
from responses import matchers

from alumio_mistral.cli import main
from test_http_retry import KEY, clock

__all__ = ["clock"]  # fixture defined beside the retry tests

BASE = "https://api.example.test"


@pytest.fixture(autouse=True)
def mistral_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    monkeypatch.setenv("MISTRAL_BASE_URI", BASE)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["call", *args])
    assert KEY not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


@responses.activate
def test_path_and_query_params_go_where_the_entity_says() -> None:
    responses.get(BASE + "/v1/models/mistral-small", json={"id": "mistral-small"})
    responses.get(BASE + "/v1/files", json={"data": [], "total": 0},
                  match=[matchers.query_string_matcher("page=2&purpose=batch&source=upload&source=api")])
    code, out, _ = run("models.retrieve", "-p", "model_id=mistral-small")
    assert code == 0 and json.loads(out) == {"id": "mistral-small"}
    code, out, _ = run("files.list", "-p", "page=2", "-p", "purpose=batch",
                       "-p", "source=upload", "-p", "source=api", "--json")
    assert code == 0
    assert json.loads(out) == {"entity": "files.list", "status": 200, "body": {"data": [], "total": 0},
                               "sandbox": False}
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


@responses.activate
def test_an_entity_may_be_called_by_its_title() -> None:
    responses.delete(BASE + "/v1/models/ft-old", json={"id": "ft-old", "deleted": True})
    code, out, _ = run("Delete Model", "-p", "model_id=ft-old", "--json")
    assert code == 0 and json.loads(out)["entity"] == "models.delete"
    code, _, err = run("update a library.", "-p", "library_id=l1")
    assert code == 1 and "ambiguous" in err and "libraries.update" in err


def test_unknown_param_lists_the_valid_ones() -> None:
    code, _, err = run("models.retrieve", "-p", "id=x")
    assert code == 1
    assert "models.retrieve has no parameter 'id' (valid: model_id)" in err


def test_unknown_entity_is_refused() -> None:
    code, _, err = run("models.lst")
    assert code == 1 and "models.list" in err


@responses.activate
def test_data_json_and_file(tmp_path: Path) -> None:
    responses.post(BASE + "/v1/chat/completions", json={"id": "c"},
                   match=[matchers.json_params_matcher({"model": "m", "messages": []})])
    body = tmp_path / "body.json"
    body.write_text('{"model": "m", "messages": []}')
    assert run("chat.complete", "--data", '{"model": "m", "messages": []}')[0] == 0
    assert run("chat.complete", "--data", f"@{body}")[0] == 0
    code, _, err = run("chat.complete", "--data", "{nope")
    assert code == 1 and "--data: not valid JSON" in err


@responses.activate
def test_multipart_upload_from_data(tmp_path: Path) -> None:
    upload = tmp_path / "batch.jsonl"
    upload.write_bytes(b'{"custom_id": "1"}\n')
    responses.post(BASE + "/v1/files", json={"id": "file-1"})
    code, out, _ = run("files.upload", "--data", json.dumps({"file": f"@{upload}", "purpose": "batch"}))
    assert code == 0 and json.loads(out) == {"id": "file-1"}
    sent = responses.calls[0].request
    assert sent.headers["Content-Type"].startswith("multipart/form-data")
    assert b'filename="batch.jsonl"' in sent.body and b'{"custom_id": "1"}' in sent.body
    assert b'name="purpose"\r\n\r\nbatch' in sent.body


@responses.activate
def test_sse_events_one_per_line() -> None:
    responses.post(BASE + "/v1/conversations", content_type="text/event-stream",
                   body=b'event: a\ndata: {"n": 1}\n\nevent: b\ndata: {"n": 2}\n\ndata: [DONE]\n\n',
                   match=[matchers.json_params_matcher({"inputs": "hi", "stream": True})])
    code, out, _ = run("conversations.start_stream", "--data", '{"inputs": "hi"}')
    assert code == 0 and out.splitlines() == ['{"n": 1}', '{"n": 2}']
    code, out, _ = run("conversations.start_stream", "--data", '{"inputs": "hi"}', "--json")
    assert [json.loads(line)["event"] for line in out.splitlines()] == ["a", "b"]
    assert responses.calls[0].request.headers["Accept"] == "text/event-stream"


@responses.activate
def test_failure_exits_non_zero_with_the_typed_message(clock: object) -> None:
    responses.get(BASE + "/v1/models/nope", status=404,
                  json={"detail": {"message": f"model nope not found (key {KEY})", "error_code": "1"}})
    code, _, err = run("models.retrieve", "-p", "model_id=nope")
    assert code == 1
    assert "HTTP 404" in err and "model nope not found (key ***)" in err
    code, out, _ = run("models.retrieve", "-p", "model_id=nope", "--json")
    assert code == 1
    assert json.loads(out)["error"]["type"] == "NotFoundError"


@responses.activate
def test_retired_fine_tuning_route_reports_410_plainly(clock: object) -> None:
    responses.get(BASE + "/v1/fine_tuning/jobs", status=410, body="Gone")
    code, _, err = run("fine_tuning.jobs.list")
    assert code == 1
    assert "fine-tuning jobs were retired by Mistral; the route now answers 410 Gone" in err


def test_project_client_selection(tmp_path: Path) -> None:
    project = tmp_path / "alumio.yaml"
    project.write_text("clients:\n  hook:\n    prototype: generic\n    base_uri: https://hooks.example.test\n")
    code, _, err = run("models.list", "--client", "other", "--project", str(project))
    assert code == 1 and "no client named 'other'" in err and "hook" in err
    code, _, err = run("models.list", "--client", "hook")
    assert code == 1 and "need --project" in err


@responses.activate
def test_project_client_is_used(tmp_path: Path) -> None:
    project = tmp_path / "alumio.yaml"
    project.write_text(
        "clients:\n  mine:\n    prototype: mistral\n    base_uri: https://other.example.test\n"
        "    api_key: sk-other-0000111\n"
    )
    responses.get("https://other.example.test/v1/models", json={"data": []})
    code, out, _ = run("models.list", "--client", "mine", "--project", str(project))
    assert code == 0 and json.loads(out) == {"data": []}
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk-other-0000111"


@responses.activate
def test_binary_download_is_written_as_is() -> None:
    payload = bytes(range(256))
    responses.get(BASE + "/v1/files/f1/content", body=payload, content_type="application/octet-stream")
    result = CliRunner().invoke(main, ["call", "files.download", "-p", "file_id=f1"])
    assert result.exit_code == 0 and result.stdout_bytes == payload
    code, out, _ = run("files.download", "-p", "file_id=f1", "--json")
    assert json.loads(out)["body"] == {"bytes": 256, "content_type": "application/octet-stream"}
