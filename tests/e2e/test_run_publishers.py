"""Publisher wire formats against the sandbox: multipart from a path and from base64, library
documents, ``stream: true`` chat and FIM folded into one result, DELETE answered with 204."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e


def _run(folder: Path, sandbox, rows: list[dict], outgoing: dict) -> list:
    folder.mkdir(exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    document = {
        "clients": {"mistral": {"base_uri": sandbox.base_uri, "api_key": "sandbox-key"}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
        "outgoing": {"out": outgoing},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    stats = engine.run(load_project(folder, environ={}))
    assert stats.failed == 0, stats.failures
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        return store.list()


def test_files_upload_from_a_path_and_from_base64(tmp_path, mistral_sandbox):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "batch.jsonl").write_text('{"custom_id": "1", "body": {}}\n')
    rows = [
        {"id": "from-path", "path": "batch.jsonl", "purpose": "batch"},
        {"id": "from-base64", "name": "notes.txt", "purpose": "ocr",
         "content": base64.b64encode(b"hello from base64").decode()},
    ]
    outgoing = {
        "publisher": {"entity": "files.upload", "body": "form",
                      "files": {"file": {"content_base64": "content", "filename": "&{name}"}}},
        "entity_transformers": [{"type": "set", "path": "form", "value": {"purpose": "&{purpose}"}}],
    }
    # base64 content in one project, a local file (beside the first project, allowed) in another
    tasks = _run(tmp_path / "p", mistral_sandbox, rows[1:], outgoing)
    path_tasks = _run(tmp_path / "q", mistral_sandbox, rows[:1], {
        "publisher": {"entity": "files.upload", "body": "form", "allow_paths": ["../p"],
                      "files": {"file": {"path": "../p/&{path}"}}},
        "entity_transformers": [{"type": "set", "path": "form", "value": {"purpose": "&{purpose}"}}],
    })
    uploaded = {task.result["filename"]: task.result for task in tasks + path_tasks}
    assert uploaded["notes.txt"]["purpose"] == "ocr" and uploaded["notes.txt"]["bytes"] == len(b"hello from base64")
    assert uploaded["batch.jsonl"]["purpose"] == "batch"
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key="k")) as client:
        content = client.call("files.download", path_params={"file_id": uploaded["notes.txt"]["id"]}).content
    assert content == b"hello from base64"


def test_library_document_upload(tmp_path, mistral_sandbox):
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key="k")) as client:
        library = client.call("libraries.create", json={"name": "docs"}).json()
    tasks = _run(tmp_path / "p", mistral_sandbox, [{"id": "d1", "library": library["id"], "text": "# Title\nBody"}], {
        "publisher": {"entity": "libraries.documents.upload", "path_params": {"library_id": "&{library}"},
                      "body": "none", "files": {"file": {"pattern": "text", "filename": "&{id}.md"}}},
        "entity_transformers": [{"type": "set", "path": "none", "value": {}}],
    })
    assert tasks[0].status == "processed" and tasks[0].result["name"].startswith("d1")
    assert mistral_sandbox.requests()["libraries.documents.upload"] == 1


def test_streamed_chat_and_fim_are_assembled(tmp_path, mistral_sandbox):
    chat = _run(tmp_path / "chat", mistral_sandbox, [{"id": "c", "q": "Say hi"}], {
        "publisher": {"entity": "chat.complete", "body": "request"},
        "entity_transformers": [{"type": "set", "path": "request", "value": {
            "model": "mistral-small-latest", "stream": True, "messages": [{"role": "user", "content": "&{q}"}]}}],
    })[0].result
    assert chat["output"].startswith("Sandbox answer") and chat["output"].endswith("Say hi")
    assert len(chat["events"]) > 1 and chat["final"]["usage"]["total_tokens"] > 0
    fim = _run(tmp_path / "fim", mistral_sandbox, [{"id": "f"}], {
        "publisher": {"entity": "fim.complete", "body": "request", "stream": True},
        "entity_transformers": [{"type": "set", "path": "request", "value": {
            "model": "codestral-latest", "prompt": "def add(a, b):", "suffix": "\n"}}],
    })[0].result
    assert fim["output"] and fim["final"]["usage"]


def test_delete_answered_with_204_is_processed_with_no_result(tmp_path, mistral_sandbox):
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key="k")) as client:
        started = client.call("conversations.start", json={"model": "mistral-small-latest", "inputs": "hi"}).json()
    tasks = _run(tmp_path / "p", mistral_sandbox, [{"id": started["conversation_id"]}], {
        "publisher": {"entity": "conversations.delete", "path_params": {"conversation_id": "&{id}"}},
    })
    assert (tasks[0].status, tasks[0].result) == ("processed", None)
    assert mistral_sandbox.requests()["status 204"] == 1
