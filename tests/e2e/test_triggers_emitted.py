"""Events our own outgoings emit reach trigger incomings through the outbox: written with the
task's outcome, taken once, and a polled deletion we caused ourselves fires once, not twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alumio_mistral import engine
from alumio_mistral.config import load_project
from alumio_mistral.runtime import Runtime
from alumio_mistral.subscribers.triggers import TOPIC_PREFIX

pytestmark = pytest.mark.e2e

KEY = "sk-test-0123456789"


def write(folder: Path, base_uri: str, outgoing: dict[str, Any], entities: list[Any], event: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entities))
    (folder / "alumio.yaml").write_text(json.dumps({
        "clients": {"mistral": {"base_uri": base_uri, "api_key": KEY, "max_attempts": 1}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "in.jsonl"}},
                     "events": {"subscriber": {"type": "trigger", "event": event}, "dedup": "new"}},
        "outgoing": {"act": outgoing},
        "routes": [{"incoming": "rows", "outgoing": "act"}],
    }))
    return folder


def events(folder: Path) -> list[dict[str, Any]]:
    with Runtime(load_project(folder, environ={})) as runtime:
        before = {task.id for task in runtime.store.list(incoming="events")}
        stats = runtime.read(["events"])
        assert stats.ok, stats.failures
        return [task.entity for task in runtime.store.list(incoming="events") if task.id not in before]


def test_chat_completions_of_an_outgoing_fire_chat_completion_created_once(tmp_path: Path, mistral_sandbox) -> None:
    folder = write(tmp_path / "p", mistral_sandbox.base_uri, {"publisher": {
        "action": "create-chat-completion", "with": {"prompt": "Hello &{name}"}}},
        [{"name": "Ada"}, {"name": "Grace"}], "chat_completion.created")
    assert events(folder) == []  # nothing emitted yet
    stats = engine.run(load_project(folder, environ={}), incoming="rows")
    assert stats.processed == 2
    fired = events(folder)
    assert [e["event"] for e in fired] == ["chat_completion.created"] * 2
    assert sorted(e["request"]["name"] for e in fired) == ["Ada", "Grace"]  # what the outgoing published
    assert all(e["answer"]["answer"] and e["id"] == f"chat_completion.created:{e['answer']['id']}" for e in fired)
    assert events(folder) == []  # taken once
    with Runtime(load_project(folder, environ={})) as runtime:
        assert runtime.store.outbox_counts()[TOPIC_PREFIX + "chat_completion.created"]["delivered"] == 2


def test_our_own_model_delete_fires_model_deleted_once_with_polling_too(tmp_path: Path, mistral_sandbox) -> None:
    from alumio_mistral.http import Client, ClientConfig

    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        tuned = [m["id"] for m in client.call("models.list").json()["data"] if m["id"].startswith("ft:")][0]
    folder = write(tmp_path / "p", mistral_sandbox.base_uri, {"publisher": {
        "entity": "models.delete", "path_params": {"model_id": "&{id}"}}}, [{"id": tuned}], "model.deleted")
    assert events(folder) == []  # the baseline of the polled side
    assert engine.run(load_project(folder, environ={}), incoming="rows").processed == 1
    fired = events(folder)
    assert [(e["event"], e["resource"]["id"]) for e in fired] == [("model.deleted", tuned)]
    assert events(folder) == []


def test_a_failed_outgoing_emits_nothing(tmp_path: Path, mistral_sandbox) -> None:
    folder = write(tmp_path / "p", mistral_sandbox.base_uri, {"publisher": {
        "entity": "models.delete", "path_params": {"model_id": "&{id}"}}, "failure": {"policy": "fail"}},
        [{"id": "no-such-model"}], "model.deleted")
    events(folder)
    assert engine.run(load_project(folder, environ={}), incoming="rows").failed == 1
    assert events(folder) == []


def test_no_trigger_listening_means_no_outbox_message(tmp_path: Path, mistral_sandbox) -> None:
    folder = write(tmp_path / "p", mistral_sandbox.base_uri, {"publisher": {
        "action": "create-chat-completion", "with": {"prompt": "Hello &{name}"}}}, [{"name": "Ada"}], "file.uploaded")
    assert engine.run(load_project(folder, environ={}), incoming="rows").processed == 1
    with Runtime(load_project(folder, environ={})) as runtime:
        assert TOPIC_PREFIX + "chat_completion.created" not in runtime.store.outbox_counts()
