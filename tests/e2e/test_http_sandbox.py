"""The client against the sandbox over loopback: retries by policy with injected faults, SSE, 410."""

from __future__ import annotations

from typing import Iterator

import pytest

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig, GoneError, ServerError, TransportError
from alumio_mistral.http.sse import iter_events
from alumio_mistral.sandbox import Sandbox

pytestmark = pytest.mark.e2e

CHAT = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def faulty() -> Iterator[Sandbox]:
    """Uploads always answer 500; every chat connection is dropped without an answer."""
    with Sandbox(faults="error=1:500@files.upload;drop=1@chat.complete") as sandbox:
        yield sandbox


def client_for(sandbox: Sandbox) -> Client:
    config = ClientConfig(base_uri=sandbox.base_uri, api_key="sandbox-key", max_attempts=3, backoff_factor=0)
    return Client(config, Catalog.default())


def test_upload_500_is_sent_once(faulty: Sandbox) -> None:
    with client_for(faulty) as client, pytest.raises(ServerError):
        client.call("files.upload", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"})
    assert faulty.requests()["files.upload"] == 1


def test_dropped_chat_is_retried_then_typed(faulty: Sandbox) -> None:
    with client_for(faulty) as client, pytest.raises(TransportError):
        client.call("chat.complete", json=CHAT)
    assert faulty.requests()["chat.complete"] == 3


def test_stream_and_retired_route() -> None:
    with Sandbox() as sandbox, client_for(sandbox) as client:
        response = client.call("chat.complete", json={**CHAT, "stream": True}, stream=True)
        events = [event.data for event in iter_events(response)]
        assert events and all(data.startswith("{") for data in events)
        with pytest.raises(GoneError, match="fine-tuning jobs were retired by Mistral"):
            client.call("fine_tuning.jobs.list")
