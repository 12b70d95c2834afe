"""Data never chooses where a request goes: path segments, URI templates, local files.

A path parameter that is a dot segment (or decodes to one, or holds a slash) would reach a
parent route (``document_id: ".."`` deleted a whole library); a value placed in an ``http``
publisher's ``uri`` may not change the host; a file to upload is read only inside the
allowed folders.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import responses

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig, ParameterError
from alumio_mistral.publishers import PublishError, build_publisher
from alumio_mistral.publishers.request import RenderedRequest

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


def _hook(project, clients, uri: str, **spec):
    return build_publisher({"type": "http", "client": "hook", "method": "POST", "uri": uri, **spec},
                           project, clients, where="outgoing.notify.publisher")


@responses.activate
@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("a b?c=d#e", "http://hook.test/api/items/a%20b%3Fc%3Dd%23e/events"),
        ("http:evil.test", "http://hook.test/api/items/http%3Aevil.test/events"),
        ("a/b", None),
        ("https://evil.test/x", None),
        ("//evil.test", None),
        ("user@evil.test", "http://hook.test/api/items/user%40evil.test/events"),
    ],
)
def test_a_uri_value_is_escaped_as_one_path_segment(project, clients, value, sent):
    responses.post(sent or "http://hook.test/api/items/x/events", json={})
    publisher = _hook(project, clients, "items/&{id}/events")
    if sent is None:  # a slash once decoded: refused, it would split the segment
        with pytest.raises(PublishError, match=r"outgoing\.notify\.publisher\.uri: placeholder &\{id\}"):
            publisher.publish({"id": value})
        assert len(responses.calls) == 0
        return
    publisher.publish({"id": value})
    assert responses.calls[0].request.url == sent


@responses.activate
def test_a_value_after_the_question_mark_is_one_query_value(project, clients):
    responses.post("http://hook.test/api/search", json={})
    _hook(project, clients, "search?q=&{q}&lang=fr").publish({"q": "x&lang=en#frag"})
    assert responses.calls[0].request.url == "http://hook.test/api/search?q=x%26lang%3Den%23frag&lang=fr"


@responses.activate
@pytest.mark.parametrize("value", ["", ".", "..", "%2e%2e"])
def test_a_uri_segment_that_becomes_a_dot_segment_is_refused(project, clients, value):
    with pytest.raises(PublishError, match=r"\.uri: placeholder &\{id\}"):
        _hook(project, clients, "items/&{id}").publish({"id": value})
    assert len(responses.calls) == 0


@pytest.mark.parametrize("uri", ["https://&{host}/x", "https://api.test:&{port}/x", "http://&{user}@api.test/",
                                 "//&{host}/x", "https://api.test&{rest}"])
def test_a_placeholder_may_not_choose_the_host(project, clients, uri):
    with pytest.raises(PublishError, match=r"outgoing\.notify\.publisher\.uri: .*may not set the scheme, host or port"):
        _hook(project, clients, uri)


@responses.activate
def test_an_absolute_template_is_configuration_and_goes_where_it_says(project, clients):
    responses.post("https://other.test/v2/items/it%2Bem", json={"ok": True})
    publisher = _hook(project, clients, "https://other.test/v2/items/&{id}")
    assert publisher.plan({"id": "it+em"}).url == "https://other.test/v2/items/it%2Bem"
    assert publisher.publish({"id": "it+em"}) == {"ok": True}


@responses.activate
@pytest.mark.parametrize("value", ["https://evil.test/", "//evil.test/x", "@evil.test", "evil.test#", "?x=1"])
def test_a_whole_url_from_data_never_changes_the_host(project, clients, value):
    # even where the value fills the whole template it is one escaped segment under the base URI
    responses.add(responses.POST, re.compile(r"http://hook\.test/api/[^/?#]+$"), json={})
    try:
        _hook(project, clients, "&{target}").publish({"target": value})
    except PublishError as refused:
        assert "placeholder &{target}" in str(refused)
        assert len(responses.calls) == 0
    else:
        assert len(responses.calls) == 1


def test_the_final_url_must_keep_the_configured_origin(project, clients, monkeypatch):
    # the last guard, should any escaping ever let a value through: compare where it would go
    publisher = _hook(project, clients, "items/&{id}")
    monkeypatch.setattr(clients["hook"], "url_for", lambda uri, **_: uri if uri.startswith("https://evil") else
                        "http://hook.test/api/" + uri)
    monkeypatch.setattr(publisher._template, "render", lambda entity: RenderedRequest(uri="https://evil.test/x"))
    with pytest.raises(PublishError, match=r"outgoing\.notify\.publisher\.uri: .*https://evil\.test/x instead of "
                                           r"http://hook\.test/api/items/; refused"):
        publisher.publish({"id": "x"})


def _upload(project, clients, **extra):
    return build_publisher(
        {"type": "mistral", "entity": "files.upload", "files": {"file": {"path": "&{path}"}}, **extra},
        project, clients, where="outgoing.uploads.publisher",
    )


@responses.activate
def test_entity_data_may_upload_files_only_from_inside_the_project(project, clients, tmp_path):
    (project.root / "data").mkdir()
    (project.root / "data" / "ok.jsonl").write_text("{}\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("private")
    (project.root / "data" / "link.txt").symlink_to(secret)
    responses.post(f"{BASE}/v1/files", json={"id": "f1"})
    publisher = _upload(project, clients)
    assert publisher.publish({"path": "data/ok.jsonl"}) == {"id": "f1"}
    for refused in [str(secret), "../secret.txt", "data/../../secret.txt", "data/link.txt", "/etc/passwd"]:
        with pytest.raises(PublishError) as caught:
            publisher.publish({"path": refused})
        message = str(caught.value)
        assert message.startswith("outgoing.uploads.publisher.files.file.path: ")
        assert repr(refused) in message and "allow_paths" in message
    assert len(responses.calls) == 1


@responses.activate
def test_allow_paths_widens_the_folders_relative_to_the_project(project, clients, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "a.jsonl").write_text("{}\n")
    responses.post(f"{BASE}/v1/files", json={"id": "f2"})
    publisher = _upload(project, clients, allow_paths=["../shared"])
    assert publisher.publish({"path": "../shared/a.jsonl"}) == {"id": "f2"}
    with pytest.raises(PublishError, match="outside the folders"):
        publisher.publish({"path": "../elsewhere.txt"})
