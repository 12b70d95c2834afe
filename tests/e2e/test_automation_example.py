"""examples/automation and the actions on the sandbox: a file uploaded -> analyze-image -> a post
to a webhook; a batch job succeeded -> batch-results -> its result lines in JSONL, in one run;
analyze-image from a local PNG sends a data URL; create-chat-completion, create-embeddings
(batched), batch-results (polling, deadline) and api-request end to end."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.publishers import actions
from alumio_mistral.publishers.actions import MAX_EMBEDDING_INPUTS

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "automation"
KEY = "sk-test-0123456789"


class Hook(BaseHTTPRequestHandler):
    received: list[tuple[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    received: list[tuple[str, Any]] = []
    handler = type("RecordingHook", (Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def recorded(sandbox: Any, operation: str) -> list[Any]:
    """The bodies ``operation`` received on the sandbox, from now on."""
    bodies: list[Any] = []
    original = sandbox.app.handlers[operation]

    def record(request: Any) -> Any:
        bodies.append(request.json())
        return original(request)

    sandbox.app.handlers[operation] = record
    return bodies


def environ(sandbox: Any, **more: str) -> dict[str, str]:
    return {"MISTRAL_BASE_URI": sandbox.base_uri, "MISTRAL_API_KEY": KEY, **more}


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_an_uploaded_image_is_analyzed_and_the_answer_posted_to_a_webhook(tmp_path: Path, mistral_sandbox, hook) -> None:
    folder = tmp_path / "automation"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns(".alumio", "out"))
    hook_url, received = hook
    env = environ(mistral_sandbox, HOOK_URL=hook_url)
    assert engine.run(load_project(folder, environ=env)).created == 0  # the baseline
    chats = recorded(mistral_sandbox, "chat.complete")
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        image = client.call("files.upload", files={"file": ("cat.png", png(), "image/png"),
                                                   "purpose": (None, "ocr")}).json()
        job = client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed", "requests": [
            {"custom_id": f"line-{n}", "body": {"input": f"text {n}"}} for n in range(3)]}).json()
        for _ in range(3):
            client.call("batch_jobs.get", path_params={"job_id": job["id"]})
    stats = engine.run(load_project(folder, environ=env))
    assert (stats.created, stats.processed, stats.failed) == (2, 2, 0), stats.failures
    [(path, answer)] = received
    assert path == "/answers" and answer["answer"] and answer["model"] == "mistral-medium-latest"
    [chat] = chats
    [text, picture] = chat["messages"][0]["content"]
    assert image["filename"] in text["text"] and picture["image_url"].startswith(mistral_sandbox.base_uri)
    lines = [json.loads(line) for line in (folder / "out" / "batch-results.jsonl").read_text().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["line-0", "line-1", "line-2"]
    assert all(line["status_code"] == 200 and line["body"]["data"][0]["embedding"] for line in lines)
    assert {line["job"]["id"] for line in lines} == {job["id"]}

    again = engine.run(load_project(folder, environ=env))
    assert (again.created, again.failed) == (0, 0), again.failures
    assert len((folder / "out" / "batch-results.jsonl").read_text().splitlines()) == 3


def write(folder: Path, outgoing: dict[str, Any], entities: list[Any]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entities))
    (folder / "alumio.yaml").write_text(json.dumps({
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}}},
        "outgoing": {"act": {**outgoing, "then": {"type": "jsonl", "path": "out.jsonl"}}},
        "routes": [{"incoming": "rows", "outgoing": "act"}],
    }))
    return folder


def outputs(folder: Path) -> list[Any]:
    return [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines()]


def test_analyze_image_from_a_local_png_sends_a_valid_data_url(tmp_path: Path, mistral_sandbox) -> None:
    folder = write(tmp_path / "p", {"publisher": {"action": "analyze-image", "with": {
        "question": "What colour?", "image": "&{path}"}}}, [{"path": "images/red.png"}, {"path": "../secret.png"}])
    (folder / "images").mkdir()
    (folder / "images" / "red.png").write_bytes(png())
    (tmp_path / "secret.png").write_bytes(png())
    chats = recorded(mistral_sandbox, "chat.complete")
    stats = engine.run(load_project(folder, environ=environ(mistral_sandbox)))
    assert (stats.processed, stats.failed) == (1, 1)
    assert "outside the folders files may be read from" in stats.failures[0]["message"]
    [chat] = chats
    url = chat["messages"][0]["content"][1]["image_url"]
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix) and base64.b64decode(url[len(prefix):], validate=True) == png()
    assert outputs(folder)[0]["answer"]


def test_create_chat_completion_from_a_prompt_template(tmp_path: Path, mistral_sandbox) -> None:
    folder = write(tmp_path / "p", {"publisher": {"action": "create-chat-completion", "with": {
        "prompt": "Say hi to &{name}", "max_tokens": 20, "temperature": 0}}}, [{"name": "Ada"}])
    chats = recorded(mistral_sandbox, "chat.complete")
    assert engine.run(load_project(folder, environ=environ(mistral_sandbox))).processed == 1
    assert chats[0]["messages"] == [{"role": "user", "content": "Say hi to Ada"}] and chats[0]["max_tokens"] == 20
    assert outputs(folder)[0]["answer"] and outputs(folder)[0]["total_tokens"]


def test_create_embeddings_batches_a_long_list_and_numbers_every_vector(tmp_path: Path, mistral_sandbox) -> None:
    texts = [f"text {n}" for n in range(MAX_EMBEDDING_INPUTS + 5)]
    folder = write(tmp_path / "p", {"publisher": {"action": "create-embeddings", "with": {"input": "&{texts}"}}},
                   [{"texts": texts}, {"texts": "just one"}])
    sent = recorded(mistral_sandbox, "embeddings.create")
    assert engine.run(load_project(folder, environ=environ(mistral_sandbox))).processed == 2
    assert [len(body["input"]) if isinstance(body["input"], list) else 1 for body in sent] == [MAX_EMBEDDING_INPUTS, 5, 1]
    many, one = outputs(folder)
    assert [v["index"] for v in many["vectors"]] == list(range(len(texts))) and many["vectors"][0]["embedding"]
    assert [v["index"] for v in one["vectors"]] == [0]


def test_api_request_calls_any_catalog_operation_or_a_raw_path(tmp_path: Path, mistral_sandbox) -> None:
    folder = write(tmp_path / "p", {"publisher": {"action": "api-request", "entity": "models.retrieve",
                                                  "path_params": {"model_id": "&{id}"}}}, [{"id": "mistral-small-latest"}])
    assert engine.run(load_project(folder, environ=environ(mistral_sandbox))).processed == 1
    assert outputs(folder)[0]["id"] == "mistral-small-latest"
    raw = write(tmp_path / "raw", {"publisher": {"action": "api-request", "method": "GET", "uri": "/v1/models"}}, [{}])
    assert engine.run(load_project(raw, environ=environ(mistral_sandbox))).processed == 1
    assert outputs(raw)[0]["data"]


def test_validate_names_a_missing_or_unknown_action_parameter(tmp_path: Path) -> None:
    from alumio_mistral.config.problems import ConfigError

    folder = write(tmp_path / "p", {"publisher": {"action": "analyze-image", "with": {"image": "&{x}", "colour": 1}}}, [{}])
    with pytest.raises(ConfigError) as raised:
        load_project(folder, environ={})
    message = str(raised.value)
    assert "outgoing.act.publisher.with" in message and "needs parameter 'question'" in message
    assert "has no parameter 'colour'" in message


def batch_results(folder: Path, entities: list[Any], **with_: str) -> Path:
    return write(folder, {"publisher": {"action": "batch-results", "with": {"job_id": "&{job}", **with_}},
                          "response_transformers": [{"type": "branches", "path": "lines"}]}, entities)


def test_batch_results_polls_a_running_job_and_sends_each_line_to_then(tmp_path: Path, mistral_sandbox) -> None:
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        job = client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed", "requests": [
            {"custom_id": f"n{n}", "body": {"input": str(n)}} for n in range(25)]}).json()
    assert job["status"] == "QUEUED"
    folder = batch_results(tmp_path / "p", [{"job": job["id"]}, {"nothing": 1}, {"job": ""}], every="1ms")
    stats = engine.run(load_project(folder, environ=environ(mistral_sandbox)))
    assert (stats.processed, stats.failed) == (1, 2)
    missing, empty = sorted(failure["message"] for failure in stats.failures)
    assert "batch-results-request.yaml" in missing and "path 'job' is missing" in missing
    assert "outgoing.act.publisher.with.job_id: no batch job id" in empty
    assert sorted(line["custom_id"] for line in outputs(folder)) == sorted(f"n{n}" for n in range(25))


def test_batch_results_of_too_many_lines_fails_pointing_to_the_subscriber(tmp_path: Path, mistral_sandbox,
                                                                          monkeypatch) -> None:
    """Every line is held in memory and stored as the task's answer: a job of a million
    embeddings would take gigabytes, so past the cap the task fails and says what to use."""
    monkeypatch.setattr(actions, "MAX_RESULT_LINES", 10)
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        job = client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed", "requests": [
            {"custom_id": f"n{n}", "body": {"input": str(n)}} for n in range(11)]}).json()
    folder = batch_results(tmp_path / "p", [{"job": job["id"]}], every="1ms")
    stats = engine.run(load_project(folder, environ=environ(mistral_sandbox)))
    assert stats.failed == 1
    message = stats.failures[0]["message"]
    assert f"batch job {job['id']} has more than 10 result lines" in message and "type batch-job" in message


def test_batch_results_past_its_deadline_fails_naming_the_job(tmp_path: Path, mistral_sandbox_factory) -> None:
    sandbox = mistral_sandbox_factory(batch_step=3600)  # the job stays QUEUED
    with Client(ClientConfig(base_uri=sandbox.base_uri, api_key=KEY)) as client:
        job = client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed",
                                                     "requests": [{"custom_id": "x", "body": {"input": "hi"}}]}).json()
    folder = batch_results(tmp_path / "p", [{"job": job["id"]}], every="10ms", deadline="50ms")
    stats = engine.run(load_project(folder, environ=environ(sandbox)))
    assert stats.failed == 1
    message = stats.failures[0]["message"]
    assert job["id"] in message and "QUEUED" in message and "deadline" in message
