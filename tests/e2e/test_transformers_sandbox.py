"""Shipped definitions and HTTP enrich against the sandbox's real response shapes, over loopback."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.transformers import Library, TransformContext, compile_pipeline

pytestmark = pytest.mark.e2e

LIBRARY = Library.for_project(None)


@pytest.fixture
def client(mistral_sandbox: Sandbox) -> Iterator[Client]:
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key="sandbox-key"), Catalog.default()) as client:
        yield client


def test_chat_request_is_accepted_and_chat_answer_reads_the_response(client: Client) -> None:
    [request] = LIBRARY.compile(
        "mistral/chat-request", {"prompt": "Ticket &{id}: &{subject}", "system": "Be brief."}
    ).run({"id": 1, "subject": "Printer on fire"})
    response = client.call("chat.complete", json=request).json()
    [answer] = LIBRARY.compile("mistral/chat-answer").run(response)
    assert isinstance(answer["answer"], str) and answer["answer"]
    assert answer["finish_reason"] and answer["id"] == response["id"]
    assert answer["total_tokens"] == answer["prompt_tokens"] + answer["completion_tokens"]


def test_rows_flatten_listed_models_files_and_batch_jobs(client: Client) -> None:
    lines = "".join(
        json.dumps({"custom_id": str(n), "body": {"messages": [{"role": "user", "content": "hi"}]}}) + "\n"
        for n in range(2)
    )
    uploaded = client.call(
        "files.upload", files={"file": ("in.jsonl", lines.encode())}, data={"purpose": "batch"}
    ).json()
    client.call(
        "batch_jobs.create",
        json={"input_files": [uploaded["id"]], "endpoint": "/v1/chat/completions", "model": "mistral-small-latest"},
    )
    for entity, definition in (
        ("models.list", "model-row"),
        ("files.list", "file-row"),
        ("batch_jobs.list", "batch-job-row"),
    ):
        items = client.call(entity).json()["data"]
        pipeline = LIBRARY.compile(f"mistral/{definition}")
        rows = [row for item in items for row in pipeline.run(item)]
        assert rows and all(isinstance(row["id"], str) for row in rows), definition
        assert all(not isinstance(value, (dict, list)) for row in rows for value in row.values()), definition


def test_http_enrich_adds_a_model_card_with_a_real_client(client: Client) -> None:
    model_id = client.call("models.list").json()["data"][0]["id"]
    steps = [
        {"type": "http-enrich", "entity": "models.retrieve", "path_params": {"model_id": "&{model}"}, "to": "card"}
    ]
    context = TransformContext(clients={"mistral": client}, catalog=Catalog.default())
    [enriched] = compile_pipeline(steps, context=context).run({"model": model_id, "keep": True})
    assert enriched["keep"] is True and enriched["card"]["id"] == model_id


def test_http_enrich_in_a_dry_run_reaches_no_server(client: Client, mistral_sandbox: Sandbox) -> None:
    steps = [
        {"type": "http-enrich", "entity": "models.retrieve", "path_params": {"model_id": "&{model}"}, "to": "card"}
    ]
    context = TransformContext(clients={"mistral": client}, catalog=Catalog.default(), dry_run=True)
    before = mistral_sandbox.requests()
    [entity] = compile_pipeline(steps, context=context).run({"model": "m:1 x"})
    assert mistral_sandbox.requests() == before
    assert entity["card"] == {
        "dry_run": True, "method": "GET", "url": f"{mistral_sandbox.base_uri}/v1/models/m%3A1%20x", "body": None,
    }
