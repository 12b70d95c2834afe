"""The runtime: one client per name for the whole process, the sandbox resolved on first use."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import responses

from alumio_mistral.config import load_project
from alumio_mistral.runtime import ClientPool, Runtime

PROJECT = """
clients:
  hook: {prototype: generic, base_uri: "https://hooks.example.test"}
incoming:
  rows: {subscriber: {type: jsonl, path: rows.jsonl}}
outgoing:
  post: {publisher: {type: http, client: hook, uri: /rows}}
routes:
  - {incoming: rows, outgoing: post}
"""


def test_a_client_is_built_once_and_shared(tmp_path: Path) -> None:
    (tmp_path / "alumio.yaml").write_text(PROJECT)
    project = load_project(tmp_path, environ={})
    with Runtime(project) as runtime:
        assert runtime.clients["hook"] is runtime.clients["hook"]
        assert runtime.outgoing("post").publisher._client is runtime.clients["hook"]  # type: ignore[attr-defined]
        assert runtime.outgoing("post") is runtime.outgoing("post")


def test_sandbox_is_resolved_by_the_pool_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []

    def embedded_base_uri() -> str:
        started.append("yes")
        return "http://127.0.0.1:9"

    fake = types.ModuleType("alumio_mistral.sandbox")
    fake.embedded_base_uri = embedded_base_uri  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "alumio_mistral.sandbox", fake)
    from alumio_mistral.http import ClientConfig

    pool = ClientPool({"mistral": ClientConfig(base_uri="sandbox", api_key="sandbox-key")}, catalog=None)  # type: ignore[arg-type]
    assert started == []
    with responses.RequestsMock() as mocked:
        mocked.get("http://127.0.0.1:9/v1/models", json={"data": []})
        pool["mistral"].request("GET", "/v1/models")
        pool["mistral"].request("GET", "/v1/models")
    assert started == ["yes"] and pool["mistral"].base_uri == "http://127.0.0.1:9"
    pool.close()


def test_a_runtime_opens_its_store_only_when_asked_and_closes_what_it_opened(tmp_path: Path) -> None:
    (tmp_path / "alumio.yaml").write_text(PROJECT)
    (tmp_path / "rows.jsonl").write_text('{"id": 1}\n')
    project = load_project(tmp_path, environ={})
    with Runtime(project) as runtime:
        assert not Path(project.store.path).exists()
        assert runtime.read().created == 1
        assert Path(project.store.path).exists()
