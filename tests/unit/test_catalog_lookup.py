"""Catalog lookups: names, search, request routing and run-time extension by a spec file."""

from __future__ import annotations

import json
import time

import pytest

from alumio_mistral.catalog import AmbiguousTitleError, Catalog, NamingError, UnknownEntityError
from alumio_mistral.catalog.entity import Entity, Pagination, Param
from alumio_mistral.errors import AlumioError


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.default()


def test_default_is_cached_and_complete(catalog):
    assert Catalog.default() is catalog
    assert sum(not e.retired for e in catalog) >= 288
    assert "files.list" in catalog and "files.nope" not in catalog
    assert len(catalog) == len(list(catalog))
    assert [e.name for e in catalog] == sorted(e.name for e in catalog)


def test_get_unknown_names_close_matches(catalog):
    assert catalog.get("batch_jobs.cancel").path == "/v1/batch/jobs/{job_id}/cancel"
    with pytest.raises(UnknownEntityError) as caught:
        catalog.get("file.list")
    assert isinstance(caught.value, AlumioError)
    assert "files.list" in caught.value.suggestions
    assert "unknown entity 'file.list'" in str(caught.value) and "files.list" in str(caught.value)
    # a bare group suggests its actions
    assert "batch_jobs.cancel" in catalog.suggest("batch_jobs")


def test_search_matches_every_word(catalog):
    assert [e.name for e in catalog.search("files signed_url")] == ["files.get_signed_url"]
    # the title is searched too
    assert "observability.datasets.export_jsonl" in {e.name for e in catalog.search("files url")}
    assert {e.method for e in catalog.search("files get")} == {"GET"}
    assert {e.name for e in catalog.search("FINE_TUNING/JOBS")} == {
        f"fine_tuning.jobs.{a}" for a in ("list", "create", "get", "cancel", "start")
    }
    assert catalog.search("no-such-thing") == []


@pytest.mark.parametrize(
    "method, path, name, params",
    [
        ("GET", "/v1/files/abc", "files.retrieve", {"file_id": "abc"}),
        ("get", "/v1/files/abc/", "files.retrieve", {"file_id": "abc"}),
        ("GET", "/v1/files/abc/content?x=1", "files.download", {"file_id": "abc"}),
        ("GET", "/v1/files/a%20b", "files.retrieve", {"file_id": "a b"}),
        # a literal segment beats a parameter at the same place
        ("GET", "/v1/agents/pages", "agents.list_pages", {}),
        ("GET", "/v1/agents/ag_1", "agents.get", {"agent_id": "ag_1"}),
        ("PUT", "/v1/workflows/archive", "workflows.archive_many", {}),
        ("PUT", "/v1/workflows/wf/archive", "workflows.archive", {"workflow_identifier": "wf"}),
        ("POST", "/v1/workflows/executions/cancel", "workflows.executions.cancel_many", {}),
        ("POST", "/v1/workflows/executions/e1/cancel", "workflows.executions.cancel", {"execution_id": "e1"}),
        # stream variants share the path: the plain operation is returned
        ("POST", "/v1/conversations", "conversations.start", {}),
        ("POST", "/v1/conversations/c1", "conversations.append", {"conversation_id": "c1"}),
        ("POST", "/v1/conversations/c1/restart", "conversations.restart", {"conversation_id": "c1"}),
        ("POST", "/v1/audio/transcriptions", "audio.transcriptions.complete", {}),
        ("POST", "/v1/fine_tuning/jobs/j1/cancel", "fine_tuning.jobs.cancel", {"job_id": "j1"}),
        ("GET", "/v1/libraries/l1/documents/d1/status", "libraries.documents.status", {"library_id": "l1", "document_id": "d1"}),
    ],
)
def test_match_routes_requests(catalog, method, path, name, params):
    entity, found = catalog.match(method, path)
    assert entity.name == name
    assert found == params


@pytest.mark.parametrize("method, path", [("GET", "/v1/nothing"), ("PATCH", "/v1/files"), ("GET", "/v1/files/a/b/c/d")])
def test_match_unknown_is_none(catalog, method, path):
    assert catalog.match(method, path) is None


def test_match_is_fast(catalog):
    started = time.perf_counter()
    for _ in range(10_000):
        catalog.match("GET", "/v1/libraries/l1/documents/d1/status")
    per_call = (time.perf_counter() - started) / 10_000
    assert per_call < 100e-6  # a sandbox serving thousands of requests per second needs far less than 1 ms


SMALL_SPEC = """
openapi: 3.1.0
info: {title: extra, version: "1"}
security: [{ApiKey: []}]
paths:
  /v1/widgets:
    get:
      tags: [beta.widgets]
      operationId: widgets_list
      parameters:
        - {name: page, in: query, schema: {type: integer, default: 0}}
        - {name: page_size, in: query, schema: {type: integer}}
        - {name: tag, in: query, schema: {type: array, items: {type: string}}}
      responses:
        "200":
          content:
            application/json:
              schema: {$ref: "#/components/schemas/WidgetList"}
    post:
      tags: [beta.widgets]
      operationId: widgets_create
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Widget"}
      responses:
        "201": {content: {application/json: {schema: {$ref: "#/components/schemas/Widget"}}}}
  /v1/widgets/{widget_id}/polish:
    post:
      tags: [beta.widgets]
      operationId: widgets_polish
      parameters:
        - {name: widget_id, in: path, required: true, schema: {type: string}}
      responses:
        "204": {description: polished}
  /v1/files/{file_id}:
    get:
      tags: [files]
      operationId: files_api_routes_retrieve_file
      parameters:
        - {name: file_id, in: path, required: true, schema: {type: string}}
        - {name: with_content, in: query, schema: {type: boolean}}
      responses:
        "200": {content: {application/json: {schema: {type: object}}}}
components:
  schemas:
    Widget: {type: object, properties: {id: {type: string}}}
    WidgetList:
      type: object
      properties:
        data: {type: array, items: {$ref: "#/components/schemas/Widget"}}
        total: {type: integer}
"""


def test_load_extra_spec_adds_and_overrides(tmp_path):
    spec = tmp_path / "newer.yaml"
    spec.write_text(SMALL_SPEC, encoding="utf-8")
    extended = Catalog.load(spec)
    base = Catalog.default()
    assert len(extended) == len(base) + 3
    listing = extended.get("widgets.list")
    assert listing.pagination == Pagination("page_total", page_param="page", size_param="page_size", total="$.total")
    assert listing.items == "$.data[*]"
    assert {p.name: p.style for p in listing.params}["tag"] == "repeat"
    assert extended.get("widgets.create").request_schema == "Widget"
    polish = extended.get("widgets.polish")
    assert (polish.method, polish.success_codes, polish.safe_to_retry) == ("POST", (204,), False)
    assert extended.match("POST", "/v1/widgets/w1/polish") == (polish, {"widget_id": "w1"})
    # a known route keeps its name and takes the newer facts
    retrieve = extended.get("files.retrieve")
    assert "with_content" in {p.name for p in retrieve.query_params}
    assert "with_content" not in {p.name for p in base.get("files.retrieve").query_params}
    assert Catalog.load(None) is base


def test_load_extra_spec_follows_a_moved_operation(tmp_path):
    spec = tmp_path / "moved.yaml"
    spec.write_text(SMALL_SPEC.replace("/v1/files/{file_id}:", "/v2/files/{file_id}:"), encoding="utf-8")
    moved = Catalog.load(spec).get("files.retrieve")
    assert moved.path == "/v2/files/{file_id}"


def test_load_extra_spec_refuses_a_name_clash(tmp_path):
    spec = tmp_path / "clash.yaml"
    clash = SMALL_SPEC.replace(
        "  /v1/files/{file_id}:\n    get:\n      tags: [files]\n      operationId: files_api_routes_retrieve_file",
        "  /v3/files/{file_id}:\n    delete:\n      tags: [files]\n      operationId: files_remove",
    )
    assert "files_remove" in clash
    spec.write_text(clash, encoding="utf-8")
    with pytest.raises(NamingError, match="DELETE /v3/files/{file_id} would be named 'files.delete'"):
        Catalog.load(spec)


def test_entity_round_trips_through_json():
    entity = Entity(
        name="things.list",
        operation_id="things_list",
        method="GET",
        path="/v1/things",
        params=(Param("ids", "query", False, "repeat"),),
        pagination=Pagination("offset", size_param="limit", offset_param="offset"),
        items="$[*]",
        group="things",
        extra={"fragment": "x"},
    )
    assert Entity.from_dict(json.loads(json.dumps(entity.to_dict()))) == entity
    assert entity.renamed("stuff.all").group == "stuff"


def test_unreadable_catalog_file_is_a_clear_error(tmp_path):
    broken = tmp_path / "catalog.json"
    broken.write_text("[{", encoding="utf-8")
    with pytest.raises(AlumioError, match="catalog.json: cannot read the entity catalog"):
        Catalog.from_file(broken)


def test_get_accepts_a_title_in_any_case(catalog):
    assert catalog.get("Delete Model").name == "models.delete"
    assert catalog.get("  retrieve   MODEL ").name == "models.retrieve"
    assert catalog.get("models.delete").title == "Delete Model"


def test_an_ambiguous_title_lists_the_candidates(catalog):
    with pytest.raises(AmbiguousTitleError) as raised:
        catalog.get("update a library.")
    assert "libraries.replace (PUT /v1/libraries/{library_id})" in str(raised.value)
    assert "libraries.update (PATCH /v1/libraries/{library_id})" in str(raised.value)


def test_a_mistyped_title_suggests_the_name(catalog):
    with pytest.raises(UnknownEntityError, match="did you mean models.delete"):
        catalog.get("Delet Model")
