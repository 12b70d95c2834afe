"""An ambiguous send is `review`, never `failed`: a request that is not safe to repeat and
may have reached the server waits for a person; only failures where the server cannot have
acted are `failed` (replayable). HTTP mocked with ``responses``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.runtime import ClientPool
from alumio_mistral.http.errors import BrokenResponseError, CircuitOpenError
from alumio_mistral.outgoing import SENT_NAMESPACE, Outgoing
from alumio_mistral.tasks import SqliteTaskStore

BASE = "http://mistral.test"
KEY = "sk-review-secret-24680"
FILES = f"{BASE}/v1/files"
CHAT = f"{BASE}/v1/chat/completions"
LIBRARIES = f"{BASE}/v1/libraries"
UPLOAD = {"entity": "files.upload", "body": "form",
          "files": {"file": {"pattern": "text", "filename": "&{name}"}}}


def _project(tmp_path: Path, outgoing: dict) -> object:
    document = {
        "clients": {"mistral": {"base_uri": BASE, "api_key": KEY, "max_attempts": 1}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
        "outgoing": {"out": {"failure": {"policy": "retry", "attempts": 3, "backoff": 0}, **outgoing}},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
    }
    (tmp_path / "rows.jsonl").write_text("")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(tmp_path, environ={})


@pytest.fixture
def store(tmp_path: Path):
    with SqliteTaskStore(tmp_path / "tasks.db") as opened:
        yield opened


def _worker(project, store) -> Outgoing:
    return Outgoing(project, project.outgoing["out"], ClientPool(project.clients, project.catalog), store=store, sleep=lambda _s: None)


def _row(name: str = "a.txt") -> dict:
    return {"name": name, "text": "hello world", "form": {"purpose": "batch"}}


def _add(store, entities: list[dict]) -> list[int]:
    return [store.add_tasks("rows", entity, ["out"], None)[0] for entity in entities]


@responses.activate
def test_an_upload_whose_connection_dropped_after_sending_waits_in_review(tmp_path, store):
    project = _project(tmp_path, {"publisher": UPLOAD})
    responses.post(FILES, body=requests.ConnectionError("Connection aborted: remote end closed"))
    [task_id] = _add(store, [_row()])
    stats = _worker(project, store).publish(store)
    task = store.get(task_id)
    assert (stats.review, stats.failed) == (1, 0) and task.status == "review"
    assert len(responses.calls) == 1  # not repeated by the failure policy either
    error = task.last_error
    assert error["type"] == "UncertainPublish" and "TransportError" in error["message"]
    assert error["cause"]["type"] == "TransportError" and error["cause"]["server_may_have_acted"]
    # what `tasks reconcile` needs to look for the file later
    assert error["look"]["operation"] == "files.upload"
    assert (error["look"]["filename"], error["look"]["bytes"], error["look"]["purpose"]) == ("a.txt", 11, "batch")
    assert store.get(SENT_NAMESPACE, str(task_id)) is None
    assert stats.failures[0]["task"] == task_id and KEY not in json.dumps(task.to_dict())


@responses.activate
def test_an_upload_refused_before_sending_is_retried_then_failed_and_replayable(tmp_path, store):
    project = _project(tmp_path, {"publisher": UPLOAD})
    responses.post(FILES, body=requests.ConnectTimeout("connect timeout"))
    [task_id] = _add(store, [_row()])
    stats = _worker(project, store).publish(store)
    assert stats.failed == 1 and store.get(task_id).status == "failed"
    assert len(responses.calls) == 3  # the server cannot have acted: the policy may try again


@responses.activate
def test_an_unsafe_create_answered_500_is_review_and_503_is_failed(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "libraries.create"}, "failure": {"policy": "fail"}})
    responses.post(LIBRARIES, status=500, json={"message": "maybe created"})
    responses.post(LIBRARIES, status=503, json={"message": "unavailable"})
    first, second = _add(store, [{"name": "a"}, {"name": "b"}])
    _worker(project, store).publish(store)
    assert store.get(first).status == "review" and store.get(second).status == "failed"


def _raising(error: Exception, then: object = None):
    calls: list[object] = []

    def publish(entity):
        calls.append(entity)
        if then is not None and len(calls) > 1:
            return then
        raise error

    return publish, calls


def test_a_broken_2xx_body_is_review_for_an_unsafe_publisher(tmp_path, store):
    project = _project(tmp_path, {"publisher": UPLOAD})
    worker = _worker(project, store)
    worker.publisher.publish, calls = _raising(BrokenResponseError("the JSON body is cut short", status=200))
    [task_id] = _add(store, [_row()])
    worker.publish(store)
    assert store.get(task_id).status == "review" and len(calls) == 1


def test_a_broken_2xx_body_is_retried_for_a_safe_publisher(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"}})
    worker = _worker(project, store)
    worker.publisher.publish, calls = _raising(BrokenResponseError("not JSON", status=200), then={"id": "ok"})
    [task_id] = _add(store, [{"model": "m", "messages": []}])
    worker.publish(store)
    assert store.get(task_id).status == "processed" and len(calls) == 2


@responses.activate
def test_an_unsafe_then_target_that_may_have_acted_is_review(tmp_path, store):
    project = _project(tmp_path, {
        "publisher": {"entity": "chat.complete"},
        "response_transformers": [{"type": "set", "path": "$", "value": {"name": "from-chat"}}],
        "then": {"entity": "libraries.create"},
    })
    responses.post(CHAT, json={"id": "c", "choices": []})
    responses.post(LIBRARIES, body=requests.ReadTimeout("read timed out"))
    [task_id] = _add(store, [{"model": "m", "messages": []}])
    _worker(project, store).publish(store)
    task = store.get(task_id)
    assert task.status == "review" and task.last_error["cause"]["type"] == "TransportError"


@responses.activate
def test_a_failure_after_an_unsafe_request_succeeded_is_review_keeping_what_it_answered(tmp_path, store):
    """Replaying such a task (`failed` is replayable) would create the library twice."""
    project = _project(tmp_path, {
        "publisher": {"entity": "libraries.create"},
        "response_transformers": [{"type": "copy", "from": "missing", "to": "x"}],
    })
    responses.post(LIBRARIES, json={"id": "lib-1", "name": "a"}, status=201)
    [task_id] = _add(store, [{"name": "a"}])
    _worker(project, store).publish(store)
    task = store.get(task_id)
    assert task.status == "review" and task.last_error["type"] == "PublishedThenFailed"
    assert task.last_error["cause"]["type"] == "TransformError" and task.result == {"id": "lib-1", "name": "a"}


def test_an_open_circuit_stops_claiming_and_leaves_the_tasks_new(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"}})
    worker = _worker(project, store)
    worker.publisher.publish, calls = _raising(
        CircuitOpenError("client 'mistral': circuit breaker open after 5 server failures; retry in 30s"))
    ids = _add(store, [{"model": "m", "messages": [], "n": n} for n in range(5)])
    stats = worker.publish(store)
    assert len(calls) == 1 and (stats.deferred, stats.failed, stats.processed) == (1, 0, 0)
    assert "circuit breaker open" in stats.stopped and "stay new" in stats.stopped
    assert [(task.status, task.attempts) for task in map(store.get, ids)] == [("new", 0)] * 5


def test_while_sending_the_mark_is_written_and_the_task_processing_and_no_mark_is_left(tmp_path, store):
    """The crash-safety contract without kill timing: if the process died inside publish(),
    the mark would tell the next run that the request may have left."""
    project = _project(tmp_path, {"publisher": UPLOAD, "concurrency": 3})
    worker = _worker(project, store)
    seen: list[tuple[str, object]] = []

    def publish(entity):
        processing = {t.entity["name"]: t for t in store.list(status="processing")}
        name = entity["name"]
        mark = store.get(SENT_NAMESPACE, str(processing[name].id))
        assert mark is not None and mark["worker"] == processing[name].claimed_by
        assert mark["look"]["filename"] == name
        seen.append((name, processing[name].status))
        return {"id": f"file-{name}"}

    worker.publisher.publish = publish
    ids = _add(store, [_row(f"{n}.txt") for n in range(6)])
    stats = worker.publish(store)
    assert stats.processed == 6 and sorted(seen) == sorted((f"{n}.txt", "processing") for n in range(6))
    assert store.namespaces().get(SENT_NAMESPACE, 0) == 0
    assert all(store.get(task_id).status == "processed" for task_id in ids)
