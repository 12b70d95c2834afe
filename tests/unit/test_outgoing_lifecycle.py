"""The outgoing worker: task lifecycle, failure policy, crash recovery (HTTP mocked with ``responses``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.runtime import ClientPool
from alumio_mistral.outgoing import SENT_NAMESPACE, Outgoing
from alumio_mistral.tasks import SqliteTaskStore

BASE = "http://mistral.test"
KEY = "sk-outgoing-secret-98765"
CHAT = f"{BASE}/v1/chat/completions"
LIBRARIES = f"{BASE}/v1/libraries"
DEAD_WORKER = "gone-host:1:0badc0de:old-run"


def _project(tmp_path: Path, outgoing: dict, **client: object) -> object:
    document = {
        "clients": {"mistral": {"base_uri": BASE, "api_key": KEY, "max_attempts": 1, **client}},
        "incoming": {"tickets": {"subscriber": {"type": "jsonl", "path": "tickets.jsonl"}}},
        "outgoing": {"out": outgoing},
        "routes": [{"incoming": "tickets", "outgoing": ["out"]}],
    }
    (tmp_path / "tickets.jsonl").write_text("")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(tmp_path, environ={})


@pytest.fixture
def store(tmp_path: Path):
    opened = SqliteTaskStore(tmp_path / "tasks.db")
    yield opened
    opened.close()


def _worker(project, store, sleeps: list[float] | None = None) -> Outgoing:
    clients = ClientPool(project.clients, project.catalog)
    return Outgoing(project, project.outgoing["out"], clients, store=store,
                    sleep=(sleeps.append if sleeps is not None else lambda _s: None))


def _add(store, entities: list[dict]) -> list[int]:
    return [store.add_tasks("tickets", entity, ["out"], str(entity.get("id")))[0] for entity in entities]


def _chat_answer(text: str = "billing") -> dict:
    return {"id": "cmpl", "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


@responses.activate
def test_processed_with_response_transformers_and_then_target(tmp_path, store):
    project = _project(tmp_path, {
        "publisher": {"entity": "chat.complete", "body": "request"},
        "entity_transformers": [
            {"type": "set", "path": "request", "value": {"model": "m", "messages": [{"role": "user", "content": "&{text}"}]}},
        ],
        "response_transformers": [
            {"use": "mistral/chat-answer"},  # rebuilds the document: _task must survive it
            {"type": "copy", "from": "_task.identity", "to": "ticket"},
            {"type": "pick", "paths": ["ticket", "answer", "total_tokens"]},
        ],
        "then": {"type": "jsonl", "path": "out/triage.jsonl"},
        "concurrency": 4,
    })
    responses.post(CHAT, json=_chat_answer())
    ids = _add(store, [{"id": f"t{n}", "text": f"ticket {n}"} for n in range(10)])
    stats = _worker(project, store).publish(store)
    assert (stats.processed, stats.failed, stats.skipped) == (10, 0, 0)
    task = store.get(ids[3])
    assert task.status == "processed" and task.result == {"ticket": "t3", "answer": "billing", "total_tokens": 6}
    rows = [json.loads(line) for line in (tmp_path / "out" / "triage.jsonl").read_text().splitlines()]
    assert sorted(row["ticket"] for row in rows) == sorted(f"t{n}" for n in range(10))
    assert json.loads(responses.calls[0].request.body)["messages"][0]["content"].startswith("ticket ")
    assert store.namespaces().get(SENT_NAMESPACE, 0) == 0  # safe to repeat: no markers needed


@responses.activate
def test_filtered_entity_is_skipped_and_sends_nothing(tmp_path, store):
    project = _project(tmp_path, {
        "publisher": {"entity": "chat.complete"},
        "entity_transformers": [{"type": "filter", "when": {"path": "spam", "equals": True}}],
    })
    ids = _add(store, [{"id": "a", "spam": True}])
    stats = _worker(project, store).publish(store)
    assert stats.skipped == 1 and store.get(ids[0]).status == "skipped"
    assert len(responses.calls) == 0


@responses.activate
def test_retry_policy_repeats_a_server_error_with_backoff(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"},
                                  "failure": {"policy": "retry", "attempts": 3, "backoff": 0.5}})
    responses.post(CHAT, status=500, json={"message": "boom"})
    responses.post(CHAT, status=502, body="<html>bad gateway</html>")
    responses.post(CHAT, json=_chat_answer())
    sleeps: list[float] = []
    ids = _add(store, [{"id": "a", "model": "m", "messages": []}])
    stats = _worker(project, store, sleeps).publish(store)
    assert stats.processed == 1 and store.get(ids[0]).status == "processed"
    assert sleeps == [0.5, 1.0]


@responses.activate
def test_a_task_retry_wait_over_a_second_is_logged_with_its_reason(tmp_path, store, caplog):
    caplog.set_level("INFO", logger="alumio_mistral")
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"},
                                  "failure": {"policy": "retry", "attempts": 3, "backoff": 0.75}})
    responses.post(CHAT, status=500, json={"message": "boom"})
    responses.post(CHAT, status=500, json={"message": "boom"})
    responses.post(CHAT, json=_chat_answer())
    sleeps: list[float] = []
    _add(store, [{"id": "a", "model": "m", "messages": []}])
    _worker(project, store, sleeps).publish(store)
    assert sleeps == [0.75, 1.5]
    waits = [record for record in caplog.records if hasattr(record, "retry_wait")]
    assert [(record.levelname, record.retry_wait, record.retry_reason) for record in waits] == [("INFO", 1.5, "ServerError")]
    assert "waiting 1.5 s before attempt 3 (ServerError)" in waits[0].getMessage()


@responses.activate
def test_retry_policy_gives_up_after_attempts(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"},
                                  "failure": {"policy": "retry", "attempts": 2, "backoff": 0}})
    responses.post(CHAT, status=500, json={"message": "still down"})
    ids = _add(store, [{"id": "a"}])
    stats = _worker(project, store).publish(store)
    assert stats.failed == 1 and len(responses.calls) == 2
    assert store.get(ids[0]).last_error["message"] == "still down"


@responses.activate
def test_fail_policy_records_typed_redacted_error_and_body(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"}, "failure": {"policy": "fail"}})
    responses.post(CHAT, status=500, json={"message": f"upstream rejected Bearer {KEY}"})
    ids = _add(store, [{"id": "a"}])
    stats = _worker(project, store).publish(store)
    assert stats.failed == 1 and len(responses.calls) == 1
    task = store.get(ids[0])
    assert task.status == "failed"
    assert task.last_error["type"] == "ServerError" and task.last_error["status"] == 500
    assert "upstream rejected" in task.last_error["body"]
    assert KEY not in json.dumps(task.to_dict()) and KEY not in json.dumps(stats.failures)


@responses.activate
def test_unsafe_request_is_not_repeated_after_a_500_but_is_after_a_503(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "libraries.create"},
                                  "failure": {"policy": "retry", "attempts": 3, "backoff": 0}})
    responses.post(LIBRARIES, status=500, json={"message": "maybe created"})
    first = _add(store, [{"id": "a", "name": "docs"}])
    _worker(project, store).publish(store)
    held = store.get(first[0])  # a 500 may follow work the server did: a person decides
    assert held.status == "review" and len(responses.calls) == 1
    assert held.last_error["type"] == "UncertainPublish" and held.last_error["cause"]["status"] == 500
    responses.replace(responses.POST, LIBRARIES, status=503, json={"message": "busy"})
    responses.add(responses.POST, LIBRARIES, json={"id": "lib"}, status=201)
    second = _add(store, [{"id": "b", "name": "more"}])
    _worker(project, store).publish(store)
    assert store.get(second[0]).status == "processed"


@responses.activate
def test_rate_limited_waits_what_the_server_says(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"},
                                  "failure": {"policy": "retry", "attempts": 2, "backoff": 0.1}})
    responses.post(CHAT, status=429, json={"message": "slow down"}, headers={"Retry-After": "7"})
    responses.post(CHAT, json=_chat_answer())
    sleeps: list[float] = []
    _add(store, [{"id": "a"}])
    assert _worker(project, store, sleeps).publish(store).processed == 1
    assert sleeps == [7.0]


@responses.activate
def test_a_transform_error_fails_that_task_only(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"},
                                  "entity_transformers": [{"type": "copy", "from": "text", "to": "messages[0].content"}]})
    responses.post(CHAT, json=_chat_answer())
    ids = _add(store, [{"id": "bad"}, {"id": "good", "text": "hi", "messages": [{"role": "user"}]}])
    stats = _worker(project, store).publish(store)
    assert (stats.processed, stats.failed) == (1, 1)
    error = store.get(ids[0]).last_error
    assert error["type"] == "TransformError" and "text" in error["message"]


@responses.activate
def test_a_failing_response_step_is_named_by_its_place(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"},
                                  "response_transformers": [{"use": "mistral/chat-answer"},
                                                            {"type": "copy", "from": "nope", "to": "x"}]})
    responses.post(CHAT, json=_chat_answer())
    ids = _add(store, [{"id": "a"}])
    _worker(project, store).publish(store)
    error = store.get(ids[0]).last_error
    assert error["type"] == "TransformError"
    assert "response_transformers[1] (copy" in error["message"] and "'nope'" in error["message"]


def _leave_processing(store, ids: list[int]) -> None:
    """What a SIGKILLed run leaves behind: claimed tasks whose lease nobody renews (lapsed now)."""
    claimed = store.claim("out", len(ids), DEAD_WORKER, lease_seconds=0)
    assert sorted(task.id for task in claimed) == sorted(ids)


@responses.activate
def test_stale_unsafe_tasks_go_to_review_only_when_their_request_may_have_left(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "libraries.create"}})
    responses.post(LIBRARIES, json={"id": "lib"}, status=201)
    sent, unsent = _add(store, [{"id": "sent", "name": "a"}, {"id": "unsent", "name": "b"}])
    _leave_processing(store, [sent, unsent])
    store.set(SENT_NAMESPACE, str(sent), "dead")
    stats = _worker(project, store).publish(store)
    assert (stats.review, stats.resumed, stats.processed) == (1, 1, 1)
    held = store.get(sent)
    assert held.status == "review" and held.last_error["type"] == "InterruptedPublish"
    assert store.get(unsent).status == "processed"
    assert [json.loads(call.request.body)["name"] for call in responses.calls] == ["b"]
    assert store.get(SENT_NAMESPACE, str(sent)) is None


@responses.activate
def test_stale_tasks_resume_when_the_outgoing_is_safe_to_repeat(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "libraries.create", "safe_to_repeat": True}})
    responses.post(LIBRARIES, json={"id": "lib"}, status=201)
    ids = _add(store, [{"id": "x", "name": "a"}])
    _leave_processing(store, ids)
    stats = _worker(project, store).publish(store)
    assert (stats.resumed, stats.processed, stats.review) == (1, 1, 0)


def test_live_workers_tasks_are_left_alone(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"type": "jsonl", "path": "out.jsonl"}})
    ids = _add(store, [{"id": "busy"}])
    store.claim("out", 1, "other-host:1:1")  # a live lease: whoever holds it is working on it
    stats = _worker(project, store).publish(store)
    assert (stats.resumed, stats.leased) == (0, 1) and store.get(ids[0]).status == "processing"


def test_plan_sends_nothing(tmp_path, store):
    project = _project(tmp_path, {"publisher": {"entity": "models.delete", "path_params": {"model_id": "&{id}"}}})
    plans = _worker(project, store).plan({"id": "ft:x"})
    assert [(p.method, p.url) for p in plans] == [("DELETE", f"{BASE}/v1/models/ft%3Ax")]


@responses.activate
def test_a_request_then_target_keeps_its_answer_beside_the_result(tmp_path, store):
    project = _project(tmp_path, {
        "publisher": {"entity": "libraries.create"},
        "response_transformers": [{"type": "set", "path": "$", "value": {"library": "&{id}", "doc": {"name": "n"}}}],
        "then": {"entity": "libraries.update", "path_params": {"library_id": "&{library}"}, "body": "doc"},
    })
    responses.post(LIBRARIES, json={"id": "lib-1"}, status=201)
    responses.patch(f"{LIBRARIES}/lib-1", json={"id": "lib-1", "name": "n"})
    ids = _add(store, [{"id": "a", "name": "docs"}])
    _worker(project, store).publish(store)
    assert store.get(ids[0]).result == {"result": {"library": "lib-1", "doc": {"name": "n"}},
                                        "then": {"id": "lib-1", "name": "n"}}


@responses.activate
def test_concurrency_runs_requests_in_parallel_up_to_the_limit(tmp_path, store):
    import threading
    import time

    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"}, "concurrency": 4})
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def slow(_request):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.03)
        with lock:
            state["now"] -= 1
        return 200, {}, json.dumps(_chat_answer())

    responses.add_callback(responses.POST, CHAT, callback=slow)
    _add(store, [{"id": n} for n in range(12)])
    assert _worker(project, store).publish(store).processed == 12
    assert state["max"] == 4


@responses.activate
def test_tasks_are_claimed_a_round_of_workers_at_a_time(tmp_path, store, monkeypatch):
    """One claim per task at C=32 kept the loop in claim transactions (a fifth of the throughput)."""
    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"}, "concurrency": 4})
    responses.post(CHAT, json=_chat_answer())
    _add(store, [{"id": n} for n in range(40)])
    claims: list[int] = []
    original = store.claim
    monkeypatch.setattr(store, "claim", lambda *args, **kw: (claims.append(args[1]), original(*args, **kw))[1])
    assert _worker(project, store).publish(store).processed == 40
    assert set(claims) == {4} and len(claims) == 11  # ten rounds of four, and the empty one that ends the pass


@responses.activate
def test_workers_share_one_client_and_its_rate_limit(tmp_path, store, monkeypatch):
    from alumio_mistral.http.ratelimit import TokenBucket

    project = _project(tmp_path, {"publisher": {"entity": "chat.complete"}, "concurrency": 4}, rate_limit=1000)
    buckets: list[int] = []
    original = TokenBucket.acquire
    monkeypatch.setattr(TokenBucket, "acquire", lambda self: (buckets.append(id(self)), original(self))[1])
    responses.post(CHAT, json=_chat_answer())
    _add(store, [{"id": n} for n in range(10)])
    _worker(project, store).publish(store)
    assert len(buckets) == 10 and len(set(buckets)) == 1
