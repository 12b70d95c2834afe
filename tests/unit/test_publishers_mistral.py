"""The Mistral and generic HTTP publishers against mocked HTTP (``responses``)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import responses

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig, ServerError
from alumio_mistral.publishers import PublishError, build_publisher

BASE = "http://mistral.test"
KEY = "sk-publisher-secret-1234"


@pytest.fixture
def project(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(root=tmp_path, path=tmp_path / "alumio.yaml", transformers={}, catalog=Catalog.default())


@pytest.fixture
def clients():
    mistral = Client(ClientConfig(name="mistral", base_uri=BASE, api_key=KEY, max_attempts=1))
    hook = Client(ClientConfig(name="hook", prototype="generic", base_uri="http://hook.test", auth="none"))
    yield {"mistral": mistral, "hook": hook}
    mistral.close()
    hook.close()


def _sse(*payloads: object) -> bytes:
    lines = [f"data: {p if isinstance(p, str) else json.dumps(p)}\n\n" for p in payloads]
    return "".join(lines).encode()


@responses.activate
def test_json_body_at_a_pattern_and_response_decoded(project, clients):
    responses.post(f"{BASE}/v1/chat/completions", json={"choices": [{"message": {"content": "hi"}}]})
    publisher = build_publisher({"type": "mistral", "entity": "chat.complete", "body": "request"}, project, clients)
    request = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hello"}]}
    answer = publisher.publish({"ticket": 7, "request": request})
    assert answer == {"choices": [{"message": {"content": "hi"}}]}
    sent = responses.calls[0].request
    assert json.loads(sent.body) == request
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert publisher.safe_to_repeat  # a stateless compute POST


@responses.activate
def test_path_params_are_filled_and_quoted_and_no_body_for_a_bodiless_delete(project, clients):
    responses.delete(f"{BASE}/v1/models/ft%3Aopen-mistral%3Aabc", json={"id": "ft:open-mistral:abc", "deleted": True})
    publisher = build_publisher(
        {"type": "mistral", "entity": "models.delete", "path_params": {"model_id": "&{id}"}}, project, clients
    )
    assert publisher.publish({"id": "ft:open-mistral:abc", "name": "x"})["deleted"] is True
    assert responses.calls[0].request.body is None
    assert not publisher.safe_to_repeat  # the catalog says deleting changes state


@responses.activate
def test_delete_with_a_json_body(project, clients):
    responses.delete(f"{BASE}/v1/libraries/lib-1/share", json={"ok": 1})
    publisher = build_publisher(
        {"type": "mistral", "entity": "libraries.accesses.delete", "path_params": {"library_id": "&{library}"},
         "body": "access"},
        project, clients,
    )
    publisher.publish({"library": "lib-1", "access": {"share_with_uuid": "u1", "share_with_type": "User"}})
    assert json.loads(responses.calls[0].request.body) == {"share_with_uuid": "u1", "share_with_type": "User"}


@responses.activate
def test_204_and_other_2xx_answers(project, clients):
    responses.delete(f"{BASE}/v1/conversations/c1", status=204)
    responses.post(f"{BASE}/v1/libraries", json={"id": "lib-9"}, status=201)
    delete = build_publisher(
        {"type": "mistral", "entity": "conversations.delete", "path_params": {"conversation_id": "&{id}"}},
        project, clients,
    )
    create = build_publisher({"type": "mistral", "entity": "libraries.create"}, project, clients)
    assert delete.publish({"id": "c1"}) is None
    assert create.publish({"name": "docs"}) == {"id": "lib-9"}


@responses.activate
def test_multipart_from_a_local_path(project, clients):
    (project.root / "batch.jsonl").write_bytes(b'{"custom_id": "1"}\n')
    responses.post(f"{BASE}/v1/files", json={"id": "file-1"})
    publisher = build_publisher(
        {"type": "mistral", "entity": "files.upload", "files": {"file": {"path": "&{path}"}}}, project, clients
    )
    assert publisher.publish({"path": "batch.jsonl", "purpose": "batch"}) == {"id": "file-1"}
    body = responses.calls[0].request.body
    assert b'name="purpose"\r\n\r\nbatch' in body
    assert b'filename="batch.jsonl"' in body and b'{"custom_id": "1"}' in body
    assert b'name="path"' not in body  # the key the file came from is not also a form field


@responses.activate
def test_multipart_from_base64_content_with_a_filename(project, clients):
    responses.post(f"{BASE}/v1/files", json={"id": "file-2"})
    publisher = build_publisher(
        {"type": "mistral", "entity": "files.upload",
         "files": {"file": {"content_base64": "data", "filename": "&{name}"}}},
        project, clients,
    )
    publisher.publish({"data": base64.b64encode(b"line one\n").decode(), "name": "notes.txt", "purpose": "ocr"})
    body = responses.calls[0].request.body
    assert b'filename="notes.txt"' in body and b"line one\n" in body
    assert base64.b64encode(b"line one\n") not in body


def test_bad_file_sources_fail_with_where(project, clients):
    publisher = build_publisher(
        {"type": "mistral", "entity": "files.upload", "files": {"file": {"content_base64": "data"}}}, project, clients
    )
    with pytest.raises(PublishError, match=r"publisher\.files\.file\.content_base64: not valid base64"):
        publisher.publish({"data": "@@not base64@@"})
    missing = build_publisher(
        {"type": "mistral", "entity": "files.upload", "files": {"file": {"path": "nope.jsonl"}}}, project, clients
    )
    with pytest.raises(PublishError, match="cannot read .*nope.jsonl"):
        missing.publish({})


@responses.activate
def test_chat_stream_is_assembled_into_one_result(project, clients):
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {"choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}},
    ]
    responses.post(f"{BASE}/v1/chat/completions", body=_sse(*chunks, "[DONE]"),
                   content_type="text/event-stream")
    publisher = build_publisher({"type": "mistral", "entity": "chat.complete"}, project, clients)
    result = publisher.publish({"model": "m", "messages": [], "stream": True})
    assert result["output"] == "Hello!"
    assert result["events"] == chunks
    assert result["final"]["usage"]["total_tokens"] == 6


@responses.activate
def test_conversation_stream_keeps_id_text_and_usage(project, clients):
    events = [
        {"type": "conversation.response.started", "conversation_id": "conv-1"},
        {"type": "message.output.delta", "id": "m", "content": "Bon"},
        {"type": "message.output.delta", "id": "m", "content": [{"type": "text", "text": "jour"}]},
        {"type": "conversation.response.done", "usage": {"total_tokens": 9}},
    ]
    responses.post(f"{BASE}/v1/conversations", body=_sse(*events), content_type="text/event-stream")
    publisher = build_publisher({"type": "mistral", "entity": "conversations.start_stream"}, project, clients)
    result = publisher.publish({"inputs": "hi", "model": "m"})
    assert json.loads(responses.calls[0].request.body)["stream"] is True
    assert result == {"output": "Bonjour", "events": events, "final": events[-1], "conversation_id": "conv-1"}


@responses.activate
def test_errors_are_the_clients_typed_errors(project, clients):
    responses.post(f"{BASE}/v1/chat/completions", status=500, json={"message": "boom"})
    publisher = build_publisher({"type": "mistral", "entity": "chat.complete"}, project, clients)
    with pytest.raises(ServerError) as raised:
        publisher.publish({"model": "m", "messages": []})
    assert raised.value.status == 500


def test_missing_placeholder_names_where(project, clients):
    publisher = build_publisher(
        {"type": "mistral", "entity": "models.delete", "path_params": {"model_id": "&{id}"}},
        project, clients, where="outgoing.cleanup.publisher",
    )
    with pytest.raises(PublishError, match=r"outgoing\.cleanup\.publisher: .*'id'"):
        publisher.publish({"name": "no id"})


@responses.activate
def test_plan_sends_nothing_and_hides_secrets(project, clients):
    publisher = build_publisher(
        {"type": "mistral", "entity": "models.update", "path_params": {"model_id": "&{id}"}, "body": "patch"},
        project, clients,
    )
    plan = publisher.plan({"id": "ft:1", "patch": {"name": "n", "api_key": KEY, "note": f"key {KEY}"}}).describe()
    assert plan["method"] == "PATCH" and plan["url"] == f"{BASE}/v1/fine_tuning/models/ft%3A1"
    assert KEY not in json.dumps(plan)
    assert plan["body"]["name"] == "n"
    assert len(responses.calls) == 0


@responses.activate
def test_generic_http_publisher_with_uri_template(project, clients):
    responses.put("http://hook.test/hooks/t-7?source=alumio", json={"ok": True})
    publisher = build_publisher(
        {"type": "http", "client": "hook", "method": "PUT", "uri": "/hooks/&{id}", "query": {"source": "alumio"},
         "body": "payload"},
        project, clients,
    )
    assert publisher.publish({"id": "t-7", "payload": {"a": 1}}) == {"ok": True}
    assert json.loads(responses.calls[0].request.body) == {"a": 1}
    assert publisher.safe_to_repeat  # PUT is idempotent
    post = build_publisher({"type": "http", "client": "hook", "method": "POST", "uri": "/x"}, project, clients)
    assert not post.safe_to_repeat
    declared = build_publisher(
        {"type": "http", "client": "hook", "method": "POST", "uri": "/x", "safe_to_repeat": True}, project, clients
    )
    assert declared.safe_to_repeat


def test_unknown_type_or_client_is_a_clear_error(project, clients):
    with pytest.raises(PublishError, match="unknown publisher type 'ftp'"):
        build_publisher({"type": "ftp"}, project, clients)
    with pytest.raises(PublishError, match="no client named 'other'"):
        build_publisher({"type": "mistral", "client": "other", "entity": "chat.complete"}, project, clients)


@responses.activate
def test_binary_download_is_kept_as_base64(project, clients):
    responses.get(f"{BASE}/v1/files/f1/content", body=b"\x00\x01binary", content_type="application/octet-stream")
    publisher = build_publisher(
        {"type": "mistral", "entity": "files.download", "path_params": {"file_id": "&{id}"}}, project, clients
    )
    result = publisher.publish({"id": "f1"})
    assert result == {"content_type": "application/octet-stream",
                      "content_base64": base64.b64encode(b"\x00\x01binary").decode()}


def test_stream_events_that_are_not_json_are_kept_as_text():
    from alumio_mistral.publishers.responses import assemble_stream

    result = assemble_stream(["keep-alive", {"choices": [{"delta": {"content": [{"type": "text", "text": "a"}]}}]},
                              {"choices": []}])
    assert result == {"output": "a", "events": ["keep-alive", result["events"][1], {"choices": []}], "final": None}
