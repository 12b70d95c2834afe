"""The committed catalog is exactly what the generator derives from the Mistral spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alumio_mistral.catalog import Catalog
from alumio_mistral.catalog.entity import Pagination, Param
from alumio_mistral.catalog.generate import (
    RETIRED_PREFIXES,
    dumps,
    generate,
    main,
    operations,
)
from alumio_mistral.catalog.spec import load_spec

SPECS = Path(__file__).parents[2].parent / "shared" / "mistral"
SPEC = SPECS / "openapi.yaml"
LEGACY = SPECS / "openapi-2026-07-06-with-fine-tuning.yaml"
COMMITTED = Path(__file__).parents[2] / "alumio_mistral" / "catalog" / "catalog.json"

pytestmark = pytest.mark.skipif(not (SPEC.exists() and LEGACY.exists()), reason="the Mistral spec files are not beside the project")

#: the stable names users and the docs rely on, with the route each must stand for
CONTRACT_NAMES = {
    "models.list": ("GET", "/v1/models"),
    "models.retrieve": ("GET", "/v1/models/{model_id}"),
    "models.delete": ("DELETE", "/v1/models/{model_id}"),
    "models.update": ("PATCH", "/v1/fine_tuning/models/{model_id}"),
    "models.archive": ("POST", "/v1/fine_tuning/models/{model_id}/archive"),
    "models.unarchive": ("DELETE", "/v1/fine_tuning/models/{model_id}/archive"),
    "files.upload": ("POST", "/v1/files"),
    "files.list": ("GET", "/v1/files"),
    "files.retrieve": ("GET", "/v1/files/{file_id}"),
    "files.delete": ("DELETE", "/v1/files/{file_id}"),
    "files.download": ("GET", "/v1/files/{file_id}/content"),
    "files.get_signed_url": ("GET", "/v1/files/{file_id}/url"),
    "batch_jobs.list": ("GET", "/v1/batch/jobs"),
    "batch_jobs.create": ("POST", "/v1/batch/jobs"),
    "batch_jobs.get": ("GET", "/v1/batch/jobs/{job_id}"),
    "batch_jobs.cancel": ("POST", "/v1/batch/jobs/{job_id}/cancel"),
    "batch_jobs.delete": ("DELETE", "/v1/batch/jobs/{job_id}"),
    "chat.complete": ("POST", "/v1/chat/completions"),
    "fim.complete": ("POST", "/v1/fim/completions"),
    "agents.complete": ("POST", "/v1/agents/completions"),
    "embeddings.create": ("POST", "/v1/embeddings"),
    "classifiers.moderate": ("POST", "/v1/moderations"),
    "classifiers.moderate_chat": ("POST", "/v1/chat/moderations"),
    "classifiers.classify": ("POST", "/v1/classifications"),
    "classifiers.classify_chat": ("POST", "/v1/chat/classifications"),
    "ocr.process": ("POST", "/v1/ocr"),
    "conversations.start": ("POST", "/v1/conversations"),
    "conversations.list": ("GET", "/v1/conversations"),
    "conversations.get": ("GET", "/v1/conversations/{conversation_id}"),
    "conversations.delete": ("DELETE", "/v1/conversations/{conversation_id}"),
    "conversations.append": ("POST", "/v1/conversations/{conversation_id}"),
    "conversations.get_history": ("GET", "/v1/conversations/{conversation_id}/history"),
    "conversations.get_messages": ("GET", "/v1/conversations/{conversation_id}/messages"),
    "conversations.restart": ("POST", "/v1/conversations/{conversation_id}/restart"),
    "conversations.start_stream": ("POST", "/v1/conversations"),
    "conversations.append_stream": ("POST", "/v1/conversations/{conversation_id}"),
    "conversations.restart_stream": ("POST", "/v1/conversations/{conversation_id}/restart"),
    "agents.create": ("POST", "/v1/agents"),
    "agents.list": ("GET", "/v1/agents"),
    "agents.list_pages": ("GET", "/v1/agents/pages"),
    "agents.get": ("GET", "/v1/agents/{agent_id}"),
    "agents.update": ("PATCH", "/v1/agents/{agent_id}"),
    "agents.delete": ("DELETE", "/v1/agents/{agent_id}"),
    "libraries.create": ("POST", "/v1/libraries"),
    "libraries.list": ("GET", "/v1/libraries"),
    "libraries.get": ("GET", "/v1/libraries/{library_id}"),
    "libraries.update": ("PATCH", "/v1/libraries/{library_id}"),
    "libraries.delete": ("DELETE", "/v1/libraries/{library_id}"),
    "libraries.documents.list": ("GET", "/v1/libraries/{library_id}/documents"),
    "libraries.documents.upload": ("POST", "/v1/libraries/{library_id}/documents"),
    "libraries.documents.get": ("GET", "/v1/libraries/{library_id}/documents/{document_id}"),
    "libraries.documents.delete": ("DELETE", "/v1/libraries/{library_id}/documents/{document_id}"),
    "libraries.documents.status": ("GET", "/v1/libraries/{library_id}/documents/{document_id}/status"),
    "fine_tuning.jobs.list": ("GET", "/v1/fine_tuning/jobs"),
    "fine_tuning.jobs.create": ("POST", "/v1/fine_tuning/jobs"),
    "fine_tuning.jobs.get": ("GET", "/v1/fine_tuning/jobs/{job_id}"),
    "fine_tuning.jobs.cancel": ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel"),
    "fine_tuning.jobs.start": ("POST", "/v1/fine_tuning/jobs/{job_id}/start"),
}


@pytest.fixture(scope="module")
def generated() -> list:
    return generate(SPEC, LEGACY)


@pytest.fixture(scope="module")
def by_name(generated) -> dict:
    return {entity.name: entity for entity in generated}


def test_committed_catalog_is_what_the_spec_generates(generated):
    assert dumps(generated) == COMMITTED.read_text(encoding="utf-8"), (
        "catalog.json is stale: run python -m alumio_mistral.catalog.generate <spec> --retired <legacy spec>"
    )


def test_command_line_writes_the_same_file(tmp_path, capsys):
    out = tmp_path / "catalog.json"
    assert main([str(SPEC), "--retired", str(LEGACY), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    assert "288 live + 5 retired" in capsys.readouterr().out


def test_counts_288_live_and_the_retired_fine_tuning_jobs(generated):
    live = [e for e in generated if not e.retired]
    retired = [e for e in generated if e.retired]
    assert len(live) == 288
    assert sorted(e.name for e in retired) == [f"fine_tuning.jobs.{a}" for a in ("cancel", "create", "get", "list", "start")]
    assert all(e.path.startswith(RETIRED_PREFIXES) for e in retired)


def test_every_spec_operation_is_present_once(generated):
    spec_ops = sorted((op.method, op.path, op.fragment) for op in operations(load_spec(SPEC)))
    catalog_ops = sorted((e.method, e.path, e.extra.get("fragment", "")) for e in generated if not e.retired)
    assert catalog_ops == spec_ops
    assert all("#" not in e.path for e in generated)


def test_names_unique_and_readable(generated):
    names = [e.name for e in generated]
    assert len(names) == len(set(names))
    readable = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$")
    assert [n for n in names if not readable.match(n) or len(n) > 60] == []
    assert all(e.group == e.name.rsplit(".", 1)[0] for e in generated)


@pytest.mark.parametrize("name", sorted(CONTRACT_NAMES))
def test_contract_names_stand_for_their_routes(by_name, name):
    entity = by_name[name]
    assert (entity.method, entity.path) == CONTRACT_NAMES[name]
    assert entity.retired == name.startswith("fine_tuning.jobs.")
    assert entity.streams == name.endswith("_stream")


@pytest.mark.parametrize(
    "name, expected, items",
    [
        ("files.list", Pagination("page_total", page_param="page", size_param="page_size", first_page=0, total="$.total"), "$.data[*]"),
        ("batch_jobs.list", Pagination("page_total", page_param="page", size_param="page_size", first_page=0, total="$.total"), "$.data[*]"),
        ("admin.users.list", Pagination("page_total", page_param="page", size_param="page_size", first_page=1, total="$.total"), "$.members[*]"),
        ("admin.workspaces.list", Pagination("page_total", page_param="page", size_param="page_size", first_page=1, total="$.total"), "$.items[*]"),
        ("admin.user_groups.list", Pagination("page_total", page_param="page", size_param="page_size", first_page=1, total="$.total"), "$.items[*]"),
        ("conversations.list", Pagination("page_array", page_param="page", size_param="page_size", first_page=0), "$[*]"),
        ("agents.list", Pagination("page_array", page_param="page", size_param="page_size", first_page=0), "$[*]"),
        ("libraries.documents.list", Pagination("page_has_more", page_param="page", size_param="page_size", has_more="$.pagination.has_more"), "$.data[*]"),
        ("observability.judges.list", Pagination("page_next", page_param="page", size_param="page_size", first_page=1, next="$.judges.next"), "$.judges.results[*]"),
        ("agents.list_pages", Pagination("token", size_param="page_size", token_param="page_token", next_token="$.next_page_token"), "$.data[*]"),
        ("libraries.list", Pagination("token", size_param="page_size", token_param="page_token", next_token="$.next_page_token"), "$.data[*]"),
        ("prompts.list", Pagination("token", size_param="pageSize", token_param="pageToken", next_token="$.nextPageToken"), "$.data[*]"),
        ("skills.list", Pagination("token", size_param="pageSize", token_param="pageToken", next_token="$.nextPageToken"), "$.data[*]"),
        ("workflows.runs.list", Pagination("token", size_param="page_size", token_param="next_page_token", next_token="$.next_page_token"), "$.executions[*]"),
        ("workflows.schedules.list", Pagination("token", size_param="page_size", token_param="next_page_token", next_token="$.next_page_token"), "$.schedules[*]"),
        ("workflows.deployments.list", Pagination("token", size_param="limit", token_param="cursor", next_token="$.next_cursor"), "$.deployments[*]"),
        ("connectors.list", Pagination("token", size_param="page_size", token_param="cursor", next_token="$.pagination.next_cursor"), "$.items[*]"),
        ("observability.chat_completion_events.search", Pagination("token", size_param="page_size", token_param="cursor", next_token="$.completion_events.cursor"), "$.completion_events.results[*]"),
        ("users.list_organizations", Pagination("offset", size_param="limit", offset_param="offset"), "$.organizations[*]"),
        ("admin.api_keys.list", Pagination("offset", size_param="limit", offset_param="offset"), "$.keys[*]"),
        ("fine_tuning.jobs.list", Pagination("page_total", page_param="page", size_param="page_size", first_page=0, total="$.total"), "$.data[*]"),
        ("models.list", None, "$.data[*]"),
        ("admin.audit_logs.list", None, "$[*]"),
        ("files.retrieve", None, None),
        ("agents.get", None, None),
    ],
)
def test_pagination_style_and_items(by_name, name, expected, items):
    assert by_name[name].pagination == expected
    assert by_name[name].items == items


def test_query_param_styles(by_name):
    files = {p.name: p for p in by_name["files.list"].query_params}
    assert files["mimetypes"] == Param("mimetypes", "query", False, "repeat")
    assert files["page"].style == "plain"
    assert {p.name: p.style for p in by_name["conversations.list"].query_params}["metadata"] == "json"
    assert {p.name: p.style for p in by_name["agents.list"].query_params}["sources"] == "repeat"
    assert by_name["files.retrieve"].path_params == (Param("file_id", "path", True, "plain"),)


def test_bodies_auth_and_success_codes(by_name):
    assert (by_name["files.upload"].body, by_name["files.upload"].body_required) == ("multipart", True)
    assert by_name["chat.complete"].body == "json" and by_name["chat.complete"].request_schema == "ChatCompletionRequest"
    assert by_name["chat.complete"].response_schema == "ChatCompletionResponse"
    assert by_name["files.list"].body == "none"
    assert by_name["conversations.delete"].success_codes == (204,)
    assert by_name["libraries.delete"].success_codes == (200, 204)
    assert by_name["admin.users.list"].auth == "admin_bearer"
    assert by_name["users.me"].auth == "api_key_header"
    assert by_name["files.list"].auth == "bearer"
    assert by_name["fine_tuning.jobs.list"].auth == "bearer"


def test_streams(by_name):
    assert by_name["conversations.start_stream"].streams and not by_name["conversations.start"].streams
    assert by_name["workflows.events.stream"].streams
    assert by_name["audio.transcriptions.complete_stream"].streams
    # chat answers JSON unless the body asks for a stream: not a streaming entity, but marked
    assert not by_name["chat.complete"].streams and by_name["chat.complete"].extra["sse_optional"]


@pytest.mark.parametrize(
    "name, safe",
    [
        ("files.list", True),
        ("chat.complete", True),
        ("fim.complete", True),
        ("agents.complete", True),
        ("embeddings.create", True),
        ("classifiers.moderate_chat", True),
        ("ocr.process", True),
        ("audio.transcriptions.complete", True),
        ("observability.traces.search", True),
        ("files.upload", False),
        ("batch_jobs.create", False),
        ("conversations.append", False),
        ("conversations.start", False),
        ("agents.update", False),
        ("files.delete", False),
    ],
)
def test_safe_to_retry(by_name, name, safe):
    assert by_name[name].safe_to_retry is safe


def test_default_catalog_matches_generation(generated):
    assert list(Catalog.default()) == generated
