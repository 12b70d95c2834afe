"""On the sandbox: a dot segment cannot reach a parent route, and a broken 2xx is never a result."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig, ParameterError
from alumio_mistral.http.errors import BrokenResponseError
from alumio_mistral.publishers import build_publisher

pytestmark = pytest.mark.e2e


def _project(tmp_path) -> SimpleNamespace:
    return SimpleNamespace(root=tmp_path, transformers={}, catalog=Catalog.default())


def test_the_http_stack_collapses_a_dot_segment_into_the_parent_route() -> None:
    # why the values are refused: quoting keeps "..", and the URL loses the last segment
    prepared = requests.Request("DELETE", "http://x.test/v1/libraries/L/documents/..").prepare()
    assert prepared.url == "http://x.test/v1/libraries/L/"


def test_a_dot_document_id_leaves_the_library_alone(tmp_path, mistral_sandbox) -> None:
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key="k", max_attempts=1)) as client:
        library = client.call("libraries.create", json={"name": "keep me"}).json()
        publisher = build_publisher(
            {"entity": "libraries.documents.delete",
             "path_params": {"library_id": "&{library}", "document_id": "&{document}"}},
            _project(tmp_path), {"mistral": client},
        )
        before = mistral_sandbox.requests()
        for document in ("..", "%2e%2e", "x%2F.."):
            with pytest.raises(ParameterError, match="document_id"):
                publisher.publish({"library": library["id"], "document": document})
        assert mistral_sandbox.requests() == before
        assert client.call("libraries.get", path_params={"library_id": library["id"]}).json()["name"] == "keep me"


@pytest.mark.parametrize("fault", ["garbage=1@chat.*", "truncate=1@chat.*"])
def test_a_garbage_or_truncated_chat_answer_is_broken(tmp_path, mistral_sandbox_factory, fault) -> None:
    sandbox = mistral_sandbox_factory(faults=fault)
    with Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k", max_attempts=1)) as client:
        publisher = build_publisher({"entity": "chat.complete"}, _project(tmp_path), {"mistral": client})
        with pytest.raises(BrokenResponseError) as caught:
            publisher.publish({"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]})
    assert caught.value.status == 200 and caught.value.entity == "chat.complete"


def test_a_truncated_conversation_stream_is_broken_and_may_have_acted(tmp_path, mistral_sandbox_factory) -> None:
    sandbox = mistral_sandbox_factory(faults="truncate=1@/v1/conversations")
    with Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k", max_attempts=1)) as client:
        publisher = build_publisher({"entity": "conversations.start_stream"}, _project(tmp_path), {"mistral": client})
        with pytest.raises(BrokenResponseError, match="event stream ended") as caught:
            publisher.publish({"model": "mistral-small-latest", "inputs": "hello there"})
    assert caught.value.server_may_have_acted
