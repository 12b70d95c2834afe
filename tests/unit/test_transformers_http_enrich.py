"""HTTP enrich with a fake client: placeholders fill the call, the response lands at a pattern."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
import responses

from alumio_mistral.errors import AlumioError
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.transformers import TransformConfigError, TransformContext, TransformError, compile_pipeline


class FakeClient:
    def __init__(self, body: Any = None, error: Exception | None = None) -> None:
        self.body, self.error = body, error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def call_json(self, entity: str, **kwargs: Any) -> Any:
        self.calls.append((entity, kwargs))
        if self.error:
            raise self.error
        return self.body

    def entity(self, name: str) -> Any:
        return SimpleNamespace(name=name, method="GET")

    def url_for(self, target: Any, *, path_params: dict[str, Any], query: dict[str, Any] | None) -> str:
        return f"https://api.test/{target.name}/{path_params['model_id']}?{urlencode(query or {})}"


class FakeCatalog:
    def get(self, name: str) -> Any:
        if name != "models.retrieve":
            raise AlumioError(f"unknown entity {name!r}")
        return name


STEP = {
    "type": "http-enrich",
    "entity": "models.retrieve",
    "path_params": {"model_id": "&{model}"},
    "query": {"verbose": "&{flag|false}"},
    "to": "card",
}


def enrich(client: FakeClient, step: dict[str, Any], entity: Any, dry_run: bool = False) -> list[Any]:
    context = TransformContext(clients={"mistral": client}, catalog=FakeCatalog(), dry_run=dry_run)
    return compile_pipeline([step], context=context).run(entity)


def test_writes_the_response_at_the_pattern_and_keeps_the_entity() -> None:
    client = FakeClient({"id": "m1", "max_context_length": 32000})
    assert enrich(client, STEP, {"model": "m1", "keep": 1}) == [
        {"model": "m1", "keep": 1, "card": {"id": "m1", "max_context_length": 32000}}
    ]
    assert client.calls == [
        ("models.retrieve", {"path_params": {"model_id": "m1"}, "query": {"verbose": False}, "json": None})
    ]


def test_json_body_and_pick() -> None:
    client = FakeClient({"data": [{"id": "a"}], "total": 1})
    step = {
        "type": "http-enrich",
        "entity": "models.retrieve",
        "json": {"q": "&{q}"},
        "to": "ids",
        "pick": "$.data[*].id",
    }
    assert enrich(client, step, {"q": "x"}) == [{"q": "x", "ids": ["a"]}]
    assert client.calls[0][1]["json"] == {"q": "x"} and client.calls[0][1]["query"] is None
    with pytest.raises(TransformError, match="has nothing at 'total2'"):
        enrich(client, {**step, "pick": "total2"}, {"q": "x"})


def test_api_errors_and_non_json_fail_the_entity() -> None:
    with pytest.raises(TransformError, match=r"\(http-enrich, pattern 'card'.*404 not found"):
        enrich(FakeClient(error=AlumioError("404 not found")), STEP, {"model": "m"})
    with pytest.raises(TransformError, match="path 'model' is missing"):
        enrich(FakeClient({}), STEP, {})


def test_unknown_entity_or_client_fail_at_load_and_no_clients_at_run() -> None:
    with pytest.raises(TransformConfigError, match=r"\[0\]\.entity: unknown entity 'nope'"):
        enrich(FakeClient(), {**STEP, "entity": "nope"}, {})
    with pytest.raises(TransformConfigError, match=r"\[0\]\.client: no client named 'other'"):
        enrich(FakeClient(), {**STEP, "client": "other"}, {})
    with pytest.raises(TransformError, match="no client 'mistral' available"):
        compile_pipeline([STEP]).run({"model": "m"})


def test_dry_run_sends_nothing_and_records_the_unsent_request_redacted() -> None:
    client = FakeClient({"id": "m1"})
    step = {**STEP, "json": {"note": "&{note}", "api_key": "sk-live"}, "pick": "id"}
    [entity] = enrich(client, step, {"model": "m1", "note": "Bearer abc.def"}, dry_run=True)
    assert client.calls == []
    assert entity["card"] == {
        "dry_run": True,
        "method": "GET",
        "url": "https://api.test/models.retrieve/m1?verbose=False",
        "body": {"note": "Bearer ***", "api_key": "***"},
    }
    assert entity["note"] == "Bearer abc.def"  # only the record is masked, the entity keeps its data
    with pytest.raises(TransformError, match="path 'model' is missing"):
        enrich(client, STEP, {}, dry_run=True)


@responses.activate
def test_a_broken_answer_fails_the_record_naming_the_operation() -> None:
    """A gateway's HTML page in a 200 is no model card: the same BrokenResponseError as
    everywhere else, named by the step, never a value put in the record."""
    responses.get("https://api.mistral.test/v1/models/m", body="<html>gateway</html>", content_type="text/html")
    with Client(ClientConfig(base_uri="https://api.mistral.test", api_key="k", max_attempts=1)) as client:
        with pytest.raises(TransformError, match=r"http-enrich.*broken answer.*models.retrieve answers JSON"):
            enrich(client, {**STEP, "query": {}}, {"model": "m"})  # type: ignore[arg-type]

