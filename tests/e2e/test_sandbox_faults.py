"""Fault injection end to end, through our client, on a clock the test drives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from alumio_mistral.http import Client, ClientConfig, ServerError, TransportError
from alumio_mistral.http import retry as retry_module
from alumio_mistral.sandbox import ManualClock, Sandbox

pytestmark = pytest.mark.e2e


def test_rate_limited_client_finishes_every_request_waiting_as_told(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ManualClock()
    # the client's waits advance the sandbox's clock instead of sleeping
    monkeypatch.setattr(retry_module, "time", SimpleNamespace(sleep=clock.sleep, monotonic=clock.time))
    with Sandbox(faults="rate_limit=20/s", clock=clock) as sandbox, \
            Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k")) as client:
        statuses = [client.call("models.list").status_code for _ in range(200)]
        counts = sandbox.requests()
        raw = [requests.get(sandbox.base_uri + "/v1/models", headers={"Authorization": "Bearer k"})
               for _ in range(21)]
    assert statuses == [200] * 200
    # 20 per one-second window: 10 windows, a 429 at the start of each but the first
    assert counts["status 429"] == 9
    assert counts["models.list"] == 200 + 9
    assert clock.sleeps == [1] * 9
    refused = [r for r in raw if r.status_code == 429]
    assert refused and all(r.headers["Retry-After"] == "1" for r in refused)
    assert refused[0].json()["object"] == "error"


def test_error_share_is_deterministic_by_seed_and_limited_to_its_route() -> None:
    def run(seed: int) -> list[int]:
        with Sandbox(faults=f"error=0.3:503@/v1/embeddings;seed={seed}") as sandbox:
            session = requests.Session()
            session.headers["Authorization"] = "Bearer k"
            codes = [session.post(sandbox.base_uri + "/v1/embeddings", json={"model": "m", "input": "x"}).status_code
                     for _ in range(40)]
            assert session.get(sandbox.base_uri + "/v1/models").status_code == 200
            return codes

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert set(first) == {200, 503} and 4 <= first.count(503) <= 20


def test_dropped_connections_truncated_and_garbage_bodies() -> None:
    config = ClientConfig(base_uri="", api_key="k", max_attempts=1)
    with Sandbox(faults="drop=1@models.list;truncate=1@/v1/files;garbage=1@chat.*") as sandbox:
        config.base_uri = sandbox.base_uri
        with Client(config) as client:
            with pytest.raises(TransportError):
                client.call("models.list")
            truncated = client.call("files.list")
            with pytest.raises(ValueError):
                truncated.json()
            garbage = client.call("chat.complete", json={"model": "m", "messages": []})
            assert garbage.headers["Content-Type"] == "text/html"
        counts = sandbox.requests()
    assert counts["dropped"] == counts["models.list"] == 1
    assert counts["status 200"] == 2


def test_injected_server_errors_reach_the_client_after_its_retries() -> None:
    with Sandbox(faults="error=1:500@models.*") as sandbox:
        with Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k", max_attempts=2, backoff_factor=0)) as client:
            with pytest.raises(ServerError) as raised:
                client.call("models.list")
        assert raised.value.status == 500
        assert sandbox.requests()["status 500"] == 2
