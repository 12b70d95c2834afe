"""Interaction logging over loopback: chat calls of an outgoing become Reconify events in the
outbox, written with the task's outcome and delivered to the sandbox's ``/track`` without keys
ever stored."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner

from alumio_mistral import engine
from alumio_mistral.cli import main
from alumio_mistral.config import load_project
from alumio_mistral.reconify import deliver_due
from alumio_mistral.reconify.project import project_sinks
from alumio_mistral.tasks import SqliteTaskStore

pytestmark = pytest.mark.e2e

APP_KEY, API_KEY = "app-KEY-3f9d1c", "api-KEY-77ab20"
TOP_KEYS = {"reconify", "timestamps", "session", "sessionTimeout", "user", "request", "response"}


#: operation -> the request body of one ticket, and how the answer's text is found
COHERE = {
    "cohere.chat": {"message": "&{subject}", "max_tokens": 8},
    "cohere.chat_v2": {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "&{subject}"}],
                       "max_tokens": 8},
    "cohere.generate": {"prompt": "&{subject}", "max_tokens": 8},
}


def _project(folder: Path, sandbox, *, stream: bool = False, endpoint: str | None = None,
             operation: str = "chat.complete") -> Path:
    folder.mkdir(exist_ok=True)
    rows = [{"id": n, "ticket": f"T{n}", "subject": f"printer {n} jams", "customer": {"id": f"c{n}"}}
            for n in range(3)]
    (folder / "tickets.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    body = COHERE.get(operation) or {"model": "mistral-small-latest",
                                     "messages": [{"role": "user", "content": "&{subject}"}], "max_tokens": 8}
    body = {**body, **({"stream": True} if stream else {})}
    client = "cohere" if operation.startswith("cohere.") else "mistral"
    document = {
        "clients": {"mistral": {"base_uri": sandbox.base_uri, "api_key": "sandbox-key"},
                    "cohere": {"prototype": "cohere", "base_uri": sandbox.base_uri, "api_key": "co-key"}},
        "incoming": {"tickets": {"subscriber": {"type": "jsonl", "path": "tickets.jsonl"}}},
        "outgoing": {"triage": {
            "publisher": {"entity": operation, "client": client},
            "entity_transformers": [{"type": "set", "path": "@", "value": body}],
            "log": {"to": "reconify", "endpoint": endpoint or sandbox.base_uri + "/track",
                    "app_key": "${RECONIFY_APP_KEY}", "api_key": "${RECONIFY_API_KEY}",
                    "user": {"userId": "&{customer.id}", "isAuthenticated": True},
                    "session": "&{ticket}", "session_timeout": 15},
        }},
        "routes": [{"incoming": "tickets", "outgoing": "triage"}],
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


ENVIRON = {"RECONIFY_APP_KEY": APP_KEY, "RECONIFY_API_KEY": API_KEY}


def _received(sandbox) -> list[dict]:
    return requests.get(sandbox.base_uri + "/_sandbox/reconify", timeout=5).json()


@pytest.mark.parametrize(("operation", "stream"), [
    ("chat.complete", False), ("chat.complete", True), ("cohere.chat", False), ("cohere.chat", True),
    ("cohere.chat_v2", False), ("cohere.chat_v2", True), ("cohere.generate", False), ("cohere.generate", True),
])
def test_each_call_is_one_reconify_event(tmp_path, mistral_sandbox, operation, stream):
    folder = _project(tmp_path / "p", mistral_sandbox, stream=stream, operation=operation)
    stats = engine.run(load_project(folder, environ=ENVIRON))
    assert stats.failed == 0, stats.failures
    events = sorted(_received(mistral_sandbox), key=lambda e: e["session"])
    assert len(events) == 3
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        tasks = store.list()
        assert store.outbox_counts()["interactions:triage"] == {"pending": 0, "delivered": 3, "gave_up": 0}
    for n, (event, task) in enumerate(zip(events, tasks)):
        assert set(event) == TOP_KEYS
        provider, kind = operation.split(".")[0].replace("chat", "mistral"), "generate" if "generate" in operation else "chat"
        assert event["reconify"] == {"format": provider, "type": kind, "version": event["reconify"]["version"],
                                     "appKey": "***", "apiKey": "***"}
        assert 1_600_000_000_000 < event["timestamps"]["request"] <= event["timestamps"]["response"]
        assert (event["session"], event["sessionTimeout"]) == (f"T{n}", 15)
        assert event["user"] == {"userId": f"c{n}", "isAuthenticated": True}
        assert f"printer {n} jams" in json.dumps(event["request"])  # the request as sent
        assert event["request"] == {**COHERE.get(operation, event["request"]), **event["request"]}
        assert event["request"].get("stream", False) is stream
        assert event["response"] == task.result  # the answer as received (assembled when streamed)


def test_keys_are_posted_but_never_stored(tmp_path, mistral_sandbox):
    folder = _project(tmp_path / "p", mistral_sandbox, endpoint="http://127.0.0.1:9/track")  # nobody listens
    engine.run(load_project(folder, environ=ENVIRON))
    database = b"".join(path.read_bytes() for path in (folder / ".alumio").glob("tasks.db*"))
    assert APP_KEY.encode() not in database and API_KEY.encode() not in database
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        assert store.outbox_counts()["interactions:triage"]["pending"] == 3  # the endpoint is down: kept for later
        dumped = json.dumps([m.to_dict() for m in store.outbox_list()] + [t.to_dict() for t in store.list()])
        assert APP_KEY not in dumped and API_KEY not in dumped
        [first, *_] = store.outbox_list(topic="interactions:triage")
        assert first.attempts >= 1 and "ConnectionError" in first.last_error


def test_events_wait_for_the_endpoint_and_arrive_once(tmp_path, mistral_sandbox):
    down = "http://127.0.0.1:9/track"
    folder = _project(tmp_path / "p", mistral_sandbox, endpoint=down)
    engine.run(load_project(folder, environ=ENVIRON))
    assert _received(mistral_sandbox) == []
    (folder / "alumio.yaml").write_text((folder / "alumio.yaml").read_text().replace(
        down, mistral_sandbox.base_uri + "/track"))
    project = load_project(folder, environ=ENVIRON)
    with SqliteTaskStore(folder / ".alumio" / "tasks.db", clock=lambda: 4e9) as store:  # past every retry delay
        stats = deliver_due(store, project_sinks(project))
        assert stats.delivered == 3
        assert deliver_due(store, project_sinks(project)).delivered == 0
    assert len(_received(mistral_sandbox)) == 3


def test_a_refused_event_is_kept_and_listed(tmp_path, mistral_sandbox):
    folder = _project(tmp_path / "p", mistral_sandbox, endpoint=mistral_sandbox.base_uri + "/_sandbox/no-such")
    engine.run(load_project(folder, environ=ENVIRON))  # the endpoint answers 404: permanent
    with SqliteTaskStore(folder / ".alumio" / "tasks.db") as store:
        kept = store.outbox_list(topic="interactions:triage", state="gave_up")
    assert len(kept) == 3 and "HTTP 404" in kept[0].last_error
    assert _received(mistral_sandbox) == []
    shown = CliRunner().invoke(main, ["status", str(folder), "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["outbox"]["interactions:triage"]["gave_up"] == 3
    assert [m["id"] for m in report["refused"] if m["topic"] == "interactions:triage"] == [m.id for m in kept]
    assert APP_KEY not in shown.output and API_KEY not in shown.output
    text = CliRunner().invoke(main, ["status", str(folder)]).output
    assert f"refused #{kept[0].id} (interactions:triage" in text


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reconify-logging"


def test_the_example_logs_mistral_and_cohere_calls_and_prints_no_key(tmp_path, mistral_sandbox):
    folder = tmp_path / "reconify-logging"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("out", ".alumio"))
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("MISTRAL_", "COHERE_"))}
    environment.update({**ENVIRON, "RECONIFY_ENDPOINT": mistral_sandbox.base_uri + "/track"})
    done = subprocess.run([sys.executable, "-c", "from alumio_mistral.cli import main; main()", "run", str(folder),
                           "--json"], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["processed"] == 9
    events = _received(mistral_sandbox)
    assert sorted((e["reconify"]["format"], e["reconify"]["type"]) for e in events) == sorted(
        [("mistral", "chat")] * 3 + [("cohere", "chat")] * 3 + [("cohere", "generate")] * 3)
    assert {e["session"] for e in events} == {"T-1001", "T-1002", "T-1003"}
    assert all(e["user"]["isAuthenticated"] is True and e["user"]["userId"].startswith("C-") for e in events)
    for key in (APP_KEY, API_KEY):
        assert key not in done.stdout + done.stderr
        for path in (folder / ".alumio").rglob("*"):
            assert key.encode() not in path.read_bytes() if path.is_file() else True


def test_the_example_runs_on_a_fresh_machine_with_the_embedded_sandbox(tmp_path):
    folder = tmp_path / "reconify-logging"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("out", ".alumio"))
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("MISTRAL_", "COHERE_", "RECONIFY_"))}
    done = subprocess.run([sys.executable, "-c", "from alumio_mistral.cli import main; main()", "run", str(folder)],
                          env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with SqliteTaskStore(folder / ".alumio" / "sandbox" / "tasks.db") as store:
        counts = store.outbox_counts()
    assert {topic: counts[topic]["delivered"] for topic in counts if topic.startswith("interactions:")} == {
        "interactions:mistral-answer": 3, "interactions:cohere-chat": 3, "interactions:cohere-generate": 3}


def test_jsonl_and_http_sinks_keep_the_same_events_without_keys(tmp_path, mistral_sandbox):
    for sink in ({"to": "jsonl", "path": "out/interactions.jsonl"},
                 {"to": "http", "url": mistral_sandbox.base_uri + "/track", "headers": {"X-Team": "support"}}):
        folder = _project(tmp_path / sink["to"], mistral_sandbox, operation="cohere.generate")
        document = yaml.safe_load((folder / "alumio.yaml").read_text())
        document["outgoing"]["triage"]["log"] = {**sink, "session": "&{ticket}", "user": {"userId": "&{customer.id}"}}
        (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
        assert engine.run(load_project(folder, environ={})).failed == 0
    lines = [json.loads(line) for line in (tmp_path / "jsonl" / "out" / "interactions.jsonl").read_text().splitlines()]
    assert sorted(e["session"] for e in lines) == ["T0", "T1", "T2"]
    assert all(e["reconify"] == {"format": "cohere", "type": "generate", "version": e["reconify"]["version"]}
               for e in lines)
    # a generic endpoint gets the event as stored (no keys to add): Reconify's /track refuses it
    with SqliteTaskStore(tmp_path / "http" / ".alumio" / "tasks.db") as store:
        refused = store.outbox_list(topic="interactions:triage", state="gave_up")
    assert len(refused) == 3 and "appKey" in refused[0].last_error
