"""Data never chooses where a request goes: path segments, URI templates, local files.

A path parameter that is a dot segment (or decodes to one, or holds a slash) would reach a
parent route (``document_id: ".."`` deleted a whole library); a value placed in an ``http``
publisher's ``uri`` may not change the host; a file to upload is read only inside the
allowed folders.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import responses

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig, ParameterError
from alumio_mistral.publishers import PublishError, build_publisher

BASE = "http://mistral.test"
LIBRARY = f"{BASE}/v1/libraries/lib-1"


@pytest.fixture
def project(tmp_path: Path) -> SimpleNamespace:
    root = tmp_path / "project"
    root.mkdir()
    return SimpleNamespace(root=root, path=root / "alumio.yaml", transformers={}, catalog=Catalog.default())


@pytest.fixture
def clients():
    mistral = Client(ClientConfig(name="mistral", base_uri=BASE, api_key="sk-paths-secret-1234", max_attempts=1))
    hook = Client(ClientConfig(name="hook", prototype="generic", base_uri="http://hook.test/api/", auth="none"))
    yield {"mistral": mistral, "hook": hook}
    mistral.close()
    hook.close()


def _delete_document(project, clients):
    return build_publisher(
        {"type": "mistral", "entity": "libraries.documents.delete",
         "path_params": {"library_id": "&{library}", "document_id": "&{document}"}},
        project, clients, where="outgoing.cleanup.publisher",
    )


@responses.activate
@pytest.mark.parametrize(
    "document",
    [".", "..", "%2e", "%2E%2e", "%252e%252e", "a/..", "x%2F..", "..\\x", "%2e%2e%2f"],
)
def test_a_dot_segment_or_slash_in_a_path_parameter_is_refused_before_sending(project, clients, document):
    # on the old code ".." went out as DELETE /v1/libraries/lib-1/ and deleted the library
    responses.delete(LIBRARY, status=204)
    responses.delete(f"{LIBRARY}/", status=204)
    responses.delete(f"{LIBRARY}/documents", status=204)
    with pytest.raises(ParameterError) as caught:
        _delete_document(project, clients).publish({"library": "lib-1", "document": document})
    message = str(caught.value)
    assert "libraries.documents.delete" in message and "document_id" in message
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize("library", ["", ".."])
def test_the_planned_url_is_refused_too(project, clients, library):
    with pytest.raises(ParameterError, match="library_id"):
        _delete_document(project, clients).plan({"library": library, "document": "d1"})


@responses.activate
def test_ordinary_identifiers_keep_exactly_the_template_segments(project, clients):
    responses.delete(f"{LIBRARY}/documents/doc.v2..final%3Aa%20b", status=204)
    _delete_document(project, clients).publish({"library": "lib-1", "document": "doc.v2..final:a b"})
    assert len(responses.calls) == 1
