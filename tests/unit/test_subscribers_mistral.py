"""The Mistral subscriber's setup: params split into path and query, reads only, errors."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from alumio_mistral.catalog.entity import Entity, Pagination, Param
from alumio_mistral.http import Client, ClientConfig, ServerError
from alumio_mistral.subscribers import MistralSubscriber, SubscriberError

BASE = "https://api.test"
RETRIEVE = Entity(name="files.retrieve", operation_id="x", method="GET", path="/v1/files/{file_id}",
                  params=(Param("file_id", "path", True),))
LIST = Entity(name="batch_jobs.list", operation_id="y", method="GET", path="/v1/batch/jobs",
              params=(Param("page", "query"), Param("status", "query", style="repeat")),
              pagination=Pagination("page_total", page_param="page", total="$.total"), items="$.data[*]")


def client() -> Client:
    return Client(ClientConfig(base_uri=BASE, api_key="k", max_attempts=1))


def test_params_split_into_path_and_query_and_a_single_object_is_one_entity() -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/v1/files/abc", json={"id": "abc", "object": "file"})
        found = list(MistralSubscriber(client(), RETRIEVE, {"file_id": "abc"}).records())
    assert [(r.entity, r.origin) for r in found] == [({"id": "abc", "object": "file"}, "files.retrieve the only page")]


def test_array_params_go_as_repeated_keys() -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/v1/batch/jobs", json={"data": [{"id": 1}], "total": 1})
        list(MistralSubscriber(client(), LIST, {"status": ["QUEUED", "RUNNING"]}).records())
        assert rsps.calls[0].request.url.endswith("?status=QUEUED&status=RUNNING&page=0")


def test_unknown_and_missing_params_are_named() -> None:
    with pytest.raises(SubscriberError, match="batch_jobs.list: unknown param 'stauts' \\(known: page, status\\)"):
        MistralSubscriber(client(), LIST, {"stauts": "x"})
    with pytest.raises(SubscriberError, match="files.retrieve: missing path param 'file_id'"):
        MistralSubscriber(client(), RETRIEVE)


def test_a_state_changing_entity_is_refused() -> None:
    delete = Entity(name="files.delete", operation_id="z", method="DELETE", path="/v1/files/{file_id}")
    with pytest.raises(SubscriberError, match="files.delete is a DELETE that changes state"):
        MistralSubscriber(client(), delete)


def test_server_errors_and_non_json_stop_the_read_with_the_entity_named() -> None:
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/v1/batch/jobs", status=500, json={"message": "boom"})
        with pytest.raises(ServerError):
            list(MistralSubscriber(client(), LIST).records())
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/v1/batch/jobs", body="<html>", content_type="text/html")
        with pytest.raises(SubscriberError, match="batch_jobs.list page 0: the response is not JSON"):
            list(MistralSubscriber(client(), LIST).records())


def test_the_client_is_closed_when_the_subscriber_owns_it() -> None:
    closed = []

    class Owned:
        def call(self, *args: object, **kwargs: object) -> object:
            raise AssertionError("no request expected with limit 0")

        def close(self) -> None:
            closed.append(True)

    assert list(MistralSubscriber(Owned(), LIST, limit=0, close_client=True).records()) == []
    assert closed == [True]


def test_json_style_params_are_json_encoded() -> None:
    conversations = Entity(name="conversations.list", operation_id="c", method="GET", path="/v1/conversations",
                           params=(Param("page", "query"), Param("metadata", "query", style="json")),
                           pagination=Pagination("page_array", page_param="page"), items="$[*]")
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/v1/conversations", json=[])
        list(MistralSubscriber(client(), conversations, {"metadata": {"team": "a"}}).records())
        query = parse_qs(urlsplit(rsps.calls[0].request.url).query)
    assert json.loads(query["metadata"][0]) == {"team": "a"} and query["page"] == ["0"]


def test_an_integer_beyond_64_bits_is_read_exactly() -> None:
    """A page is decoded by orjson, which reads such a literal as a float: it must keep its digits."""
    big = 2**64 + 12345
    with responses.RequestsMock() as rsps:
        rsps.get(f"{BASE}/v1/batch/jobs", body=f'{{"data": [{{"id": {big}}}, {{"id": 1}}], "total": 2}}',
                 content_type="application/json")
        found = [record.entity for record in MistralSubscriber(client(), LIST).records()]
    assert found == [{"id": big}, {"id": 1}] and type(found[0]["id"]) is int
