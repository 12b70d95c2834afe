"""engine.run / engine.publish: routes, narrowing, summary counts, dry run on a throw-away view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses
import yaml

from alumio_mistral import engine
from alumio_mistral.runtime import Runtime
from alumio_mistral.config import load_project
from alumio_mistral.errors import AlumioError
from alumio_mistral.tasks import SqliteTaskStore

BASE = "http://mistral.test"
KEY = "sk-engine-secret-55555"


def _project(tmp_path: Path, **extra: object):
    (tmp_path / "tickets.jsonl").write_text(
        "".join(json.dumps({"id": f"t{n}", "text": f"ticket {n}", "spam": n == 2}) + "\n" for n in range(4))
    )
    document = {
        "clients": {"mistral": {"base_uri": BASE, "api_key": KEY, "max_attempts": 1}},
        "incoming": {
            "tickets": {"subscriber": {"type": "jsonl", "path": "tickets.jsonl"}},
            "others": {"subscriber": {"type": "jsonl", "path": "tickets.jsonl"}},
        },
        "outgoing": {
            "copy": {"publisher": {"type": "jsonl", "path": "out/copy.jsonl"},
                     "entity_transformers": [{"type": "filter", "when": {"path": "spam", "equals": True}}]},
            "chat": {"publisher": {"entity": "chat.complete", "body": "request"},
                     "entity_transformers": [{"type": "set", "path": "request", "value": {
                         "model": "m", "messages": [{"role": "user", "content": "&{text}"}]}}]},
            "unused": {"publisher": {"type": "stdout"}},
        },
        "routes": [{"incoming": "tickets", "outgoing": ["copy", "chat"]},
                   {"incoming": "others", "outgoing": ["copy"]}],
        **extra,
    }
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(tmp_path, environ={})


def _statuses(project) -> dict[str, int]:
    with SqliteTaskStore(project.store.path) as store:
        return {k: v for k, v in store.counts().items() if v}


@responses.activate
def test_run_reads_routes_and_publishes_to_every_routed_outgoing(tmp_path):
    responses.post(f"{BASE}/v1/chat/completions", json={"choices": [{"message": {"content": "ok"}}]})
    project = _project(tmp_path)
    stats = engine.run(project, incoming="tickets")
    assert (stats.read, stats.created) == (4, 8)
    assert (stats.processed, stats.skipped, stats.failed) == (7, 1, 0) and stats.ok
    assert len(responses.calls) == 4
    assert len((tmp_path / "out" / "copy.jsonl").read_text().splitlines()) == 3
    assert _statuses(project) == {"processed": 7, "skipped": 1}


@responses.activate
def test_outgoing_narrowing_leaves_other_tasks_pending(tmp_path):
    project = _project(tmp_path)
    stats = engine.run(project, incoming="tickets", outgoing="copy")
    assert stats.processed == 3 and len(responses.calls) == 0
    assert _statuses(project) == {"new": 4, "processed": 3, "skipped": 1}


@responses.activate
def test_failures_make_the_run_not_ok_and_publish_by_task_ids_completes_them(tmp_path):
    responses.post(f"{BASE}/v1/chat/completions", status=500, json={"message": "down"})
    project = _project(tmp_path, **{})
    project.outgoing["chat"].failure = {"policy": "fail"}
    stats = engine.run(project, incoming="tickets", outgoing="chat")
    assert stats.failed == 4 and not stats.ok
    assert {f["outgoing"] for f in stats.failures} == {"chat"} and stats.failures[0]["status"] == 500
    responses.replace(responses.POST, f"{BASE}/v1/chat/completions", json={"choices": []})
    with SqliteTaskStore(project.store.path) as store:
        failed = [task.id for task in store.list(status="failed")]
        store.requeue(failed)
        retried = engine.publish(Runtime(project, store=store), task_ids=failed)
    assert retried.processed == 4 and retried.ok


def test_unknown_names_are_refused(tmp_path):
    project = _project(tmp_path)
    with pytest.raises(AlumioError, match="no outgoing named 'nope'"):
        engine.run(project, outgoing="nope")
    with pytest.raises(AlumioError, match="no incoming named 'nope'"):
        engine.run(project, incoming=["nope"])


@responses.activate
def test_dry_run_reads_with_get_plans_the_rest_and_stores_nothing(tmp_path):
    responses.get(f"{BASE}/v1/models", json={"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]})
    project = _project(tmp_path, incoming={
        "tickets": {"subscriber": {"type": "jsonl", "path": "tickets.jsonl"}},
        "models": {"subscriber": {"entity": "models.list"}},
        "logs": {"subscriber": {"entity": "observability.logs.search"}},
    }, routes=[{"incoming": "tickets", "outgoing": ["copy", "chat"]}, {"incoming": "models", "outgoing": "copy"}])
    stats = engine.run(project, dry_run=True)
    assert [(call.request.method, call.request.url) for call in responses.calls] == [("GET", f"{BASE}/v1/models")]
    assert not Path(project.store.path).exists() or _statuses(project) == {}
    assert not (tmp_path / "out").exists()
    reads = [plan for plan in stats.planned if "incoming" in plan]  # a POST source is shown, not read
    assert reads == [{"incoming": "logs", "method": "POST", "url": f"{BASE}/v1/observability/logs/search",
                      "body": reads[0]["body"], "note": "not read in a dry run: a POST may change state"}]
    chats = [plan for plan in stats.planned if plan.get("outgoing") == "chat"]
    assert [plan["body"]["messages"][0]["content"] for plan in chats] == [f"ticket {n}" for n in range(4)]
    assert {plan["url"] for plan in chats} == {f"{BASE}/v1/chat/completions"}
    copies = [plan for plan in stats.planned if plan.get("outgoing") == "copy"]
    assert len(copies) == 5  # three tickets (one is spam) and the two models read with GET
    assert stats.skipped == 1 and (stats.read, stats.created) == (6, 10)
    assert KEY not in json.dumps(stats.to_dict())


@responses.activate
def test_dry_run_sees_pending_tasks_of_earlier_runs_and_changes_nothing(tmp_path):
    project = _project(tmp_path)
    engine.run(project, incoming="tickets", outgoing="copy")
    before = _statuses(project)
    stats = engine.run(project, outgoing="chat", dry_run=True)
    # the four pending chat tasks, plus four from re-reading the files into the throw-away copy
    assert len([plan for plan in stats.planned if plan.get("outgoing") == "chat"]) == 8
    assert _statuses(project) == before and len(responses.calls) == 0


def test_publish_by_task_ids_leaves_other_pending_tasks_of_that_outgoing_alone(tmp_path):
    project = _project(tmp_path)
    with SqliteTaskStore(project.store.path) as store:
        first, second = (store.add_tasks("tickets", {"id": n, "spam": False}, ["copy"], n)[0] for n in "ab")
        planned = engine.publish(Runtime(project, store=store), task_ids=[second], dry_run=True).planned
        assert [plan["task"] for plan in planned] == [second]
        stats = engine.publish(Runtime(project, store=store), task_ids=[second])
        assert stats.processed == 1
        assert (store.get(first).status, store.get(second).status) == ("new", "processed")
    assert [json.loads(line)["id"] for line in (tmp_path / "out" / "copy.jsonl").read_text().splitlines()] == ["b"]


@responses.activate
def test_a_run_of_named_incomings_neither_feeds_nor_publishes_a_disabled_outgoing(tmp_path):
    project = _project(tmp_path)
    project.outgoing["chat"].disabled = True
    with SqliteTaskStore(project.store.path) as store:
        store.add_tasks("tickets", {"id": "old", "text": "pending from before"}, ["chat"], "old")
    stats = engine.run(project, incoming="tickets")
    assert (stats.created, stats.processed, len(responses.calls)) == (4, 3, 0)
    assert _statuses(project) == {"new": 1, "processed": 3, "skipped": 1}


@responses.activate
def test_dry_run_keeps_http_enrich_steps_from_sending(tmp_path):
    enrich = {"type": "http-enrich", "entity": "models.retrieve", "path_params": {"model_id": "&{id}"}, "to": "model"}
    project = _project(
        tmp_path,
        incoming={"tickets": {"subscriber": {"type": "jsonl", "path": "tickets.jsonl"}, "entity_transformers": [enrich]}},
        outgoing={"copy": {"publisher": {"type": "jsonl", "path": "out/copy.jsonl"}, "entity_transformers": [enrich]}},
        routes=[{"incoming": "tickets", "outgoing": ["copy"]}],
    )
    stats = engine.run(project, dry_run=True)
    assert len(responses.calls) == 0
    copies = [plan for plan in stats.planned if plan.get("outgoing") == "copy"]
    assert len(copies) == 4 and stats.failed == 0
    assert KEY not in json.dumps(stats.to_dict())
