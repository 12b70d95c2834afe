"""The parts ``serve`` and ``worker`` add: a publish pass that stops claiming, request observers,
and /metrics and /healthz of a :class:`~alumio_mistral.service.serve.Service` (HTTP mocked)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from alumio_mistral.cli import main

from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.errors import RateLimitedError
from alumio_mistral.runtime import Runtime
from alumio_mistral.service.dashboard import is_loopback
from alumio_mistral.service.serve import Service

BASE = "http://mistral.test"
CHAT = f"{BASE}/v1/chat/completions"


def _project(tmp_path: Path, concurrency: int = 1) -> Any:
    document = {
        "clients": {"mistral": {"base_uri": BASE, "api_key": "sk-serve-parts-123", "max_attempts": 1}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}, "schedule": "1m"}},
        "outgoing": {"chat": {"publisher": {"entity": "chat.complete"}, "concurrency": concurrency, "failure": {"policy": "fail"},
                              "schedule": {"every": "30s"}}},
        "routes": [{"incoming": "rows", "outgoing": "chat"}],
    }
    (tmp_path / "rows.jsonl").write_text("")
    (tmp_path / "alumio.yaml").write_text(yaml.safe_dump(document))
    return load_project(tmp_path, environ={})


def _chat(n: int) -> dict[str, Any]:
    return {"model": "mistral-small-latest", "messages": [{"role": "user", "content": f"row {n}"}]}


@responses.activate
def test_a_set_stop_event_ends_the_pass_after_the_tasks_in_flight(tmp_path: Path) -> None:
    stop = threading.Event()
    responses.add_callback(responses.POST, CHAT, callback=lambda _request: (stop.set(), (200, {}, json.dumps(
        {"id": "c", "object": "chat.completion", "model": "m", "created": 1, "choices": [], "usage": {}})))[1])
    with Runtime(_project(tmp_path)) as runtime:
        for n in range(5):
            runtime.store.add_tasks("rows", _chat(n), ["chat"], str(n))
        stats = runtime.outgoing("chat").publish(runtime.store, stop=stop)
        assert stats.processed == 1  # the first answer set the event: nothing more was claimed
        assert runtime.store.counts()["new"] == 4 and runtime.store.counts()["processing"] == 0


@responses.activate
def test_observers_see_every_answer_and_every_failure(tmp_path: Path) -> None:
    responses.add(responses.GET, f"{BASE}/v1/models", json={"object": "list", "data": []})
    responses.add(responses.GET, f"{BASE}/v1/files", status=429, json={"message": "slow down"})
    seen: list[tuple[Any, ...]] = []
    with Client(ClientConfig(base_uri=BASE, api_key="k", max_attempts=1)) as client:
        client.observers.append(lambda *args: seen.append(args))
        client.request("GET", "/v1/models")
        with pytest.raises(RateLimitedError):
            client.request("GET", "/v1/files")
    assert [(name, status) for name, status, _elapsed, _retried in seen] == [("mistral", 200), ("mistral", 429)]


@responses.activate
def test_metrics_parse_and_count_tasks_requests_and_health(tmp_path: Path) -> None:
    responses.add(responses.POST, CHAT, status=429, json={"message": "slow down"})
    with Runtime(_project(tmp_path)) as runtime:
        for n in range(3):
            runtime.store.add_tasks("rows", _chat(n), ["chat"], str(n))
        service = Service(runtime, threading.Event())
        runtime.outgoing("chat").publish(runtime.store)
        body, _type = service.metrics.render()
        ok, details = service.health()
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    tasks = {(s.labels["outgoing"], s.labels["status"]): s.value for s in families["alumio_tasks"].samples}
    assert sum(tasks.values()) == 3 and set(tasks) <= {("chat", "failed"), ("chat", "new")}
    requests = {s.labels["status"]: s.value for s in families["alumio_http_requests"].samples
                if s.name.endswith("_total")}
    assert requests["429"] >= 1
    assert [s.value for s in families["alumio_breaker_state"].samples] == [0]
    latency = {s.name: s.value for s in families["alumio_publish_seconds"].samples if s.labels.get("outgoing") == "chat"}
    assert latency["alumio_publish_seconds_count"] == 3  # one observation per published task
    assert sorted(service.scheduler.jobs) == ["incoming:rows", "outgoing:chat"]
    assert details["store"] == "ok" and not ok  # the scheduler loop was never started


def test_only_loopback_addresses_count_as_local() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")


def test_every_new_command_has_help() -> None:
    for command in ("serve", "worker", "status"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "PROJECT" in result.output


def test_status_prints_tasks_and_schedules_that_never_ran(tmp_path: Path) -> None:
    with Runtime(_project(tmp_path)) as runtime:
        runtime.store.add_tasks("rows", _chat(1), ["chat"], "1")
    result = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "chat: new 1" in result.output
    assert "incoming:rows (every 60s): never ran; next " in result.output
