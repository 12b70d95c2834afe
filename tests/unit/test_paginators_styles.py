"""Every pagination style of the Mistral API, over mocked HTTP, with its boundary stops.

Entities are built by hand (mirroring the catalog) so that each test controls the style's
fields; the request count is asserted every time because an extra or missing request is
exactly how pagination bugs show.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from alumio_mistral.subscribers import paginators
from alumio_mistral.catalog import Catalog
from alumio_mistral.catalog.entity import Entity, Pagination, Param
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.subscribers.paginators import PAGINATORS, PageLimitError, RepeatedPageError
from alumio_mistral.subscribers import MistralSubscriber

BASE = "https://api.test"
Page = Callable[[dict[str, str], Any], Any]


def query_params(*names: str) -> tuple[Param, ...]:
    return tuple(Param(name, "query") for name in names)


def make_entity(name: str, path: str, pagination: Pagination | None, items: str | None, *params: Param,
                method: str = "GET", body: str = "none") -> Entity:
    return Entity(name=name, operation_id=name, method=method, path=path, params=params, pagination=pagination,
                  items=items, body=body)  # type: ignore[arg-type]


def serve(rsps: responses.RequestsMock, entity: Entity, page: Page) -> list[dict[str, str]]:
    """Answer ``entity``'s route with ``page(query, json_body)``; returns the queries seen."""
    seen: list[dict[str, str]] = []

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        query = {key: values[-1] for key, values in parse_qs(urlsplit(request.url).query).items()}
        seen.append(query)
        sent = json.loads(request.body) if request.body else None
        return 200, {"Content-Type": "application/json"}, json.dumps(page(query, sent))

    url = BASE + entity.path.replace("{library_id}", "lib1")
    rsps.add_callback(entity.method, url, callback=callback)
    return seen


def read(entity: Entity, params: dict[str, Any] | None = None, **options: Any) -> list[Any]:
    client = Client(ClientConfig(name="mistral", base_uri=BASE, api_key="test-key", max_attempts=1))
    with client:
        return [record.entity for record in MistralSubscriber(client, entity, params, **options).records()]


def numbered(count: int) -> list[dict[str, int]]:
    return [{"id": n} for n in range(count)]


def window(items: list[Any], page: int, size: int) -> list[Any]:
    return items[page * size:(page + 1) * size]


FILES = make_entity(
    "files.list", "/v1/files",
    Pagination("page_total", page_param="page", size_param="page_size", first_page=0, total="$.total"),
    "$.data[*]", *query_params("page", "page_size", "include_total", "purpose"),
)


def files_page(items: list[Any], total: bool = True, default_size: int = 100) -> Page:
    def page(query: dict[str, str], _: Any) -> Any:
        size = int(query.get("page_size", default_size))
        body: dict[str, Any] = {"data": window(items, int(query["page"]), size), "object": "list"}
        if total:
            body["total"] = len(items)
        return body

    return page


@pytest.mark.parametrize(("count", "requests"), [(5, 3), (4, 2), (0, 1)])
def test_page_total_from_zero_stops_at_total(count: int, requests: int) -> None:
    with responses.RequestsMock() as rsps:
        seen = serve(rsps, FILES, files_page(numbered(count)))
        assert read(FILES, {"purpose": "batch"}, page_size=2) == numbered(count)
        assert len(rsps.calls) == requests  # an exactly full last page needs no extra request
    assert [q["page"] for q in seen] == [str(n) for n in range(requests)]
    assert all(q["page_size"] == "2" and q["purpose"] == "batch" for q in seen)


@pytest.mark.parametrize(("count", "requests"), [(5, 3), (4, 3), (3, 2)])
def test_page_total_without_total_stops_on_short_or_empty_page(count: int, requests: int) -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, FILES, files_page(numbered(count), total=False))
        assert read(FILES, page_size=2) == numbered(count)
        assert len(rsps.calls) == requests


def test_page_total_without_page_size_takes_the_first_page_as_the_size() -> None:
    with responses.RequestsMock() as rsps:
        seen = serve(rsps, FILES, files_page(numbered(7), total=False, default_size=3))
        assert read(FILES) == numbered(7)
        assert len(rsps.calls) == 3
    assert all("page_size" not in q for q in seen)


def test_page_total_from_one_for_admin_lists() -> None:
    users = make_entity(
        "admin.users.list", "/v1/admin/users",
        Pagination("page_total", page_param="page", size_param="page_size", first_page=1, total="$.total"),
        "$.members[*]", *query_params("page", "page_size"),
    )

    def page(query: dict[str, str], _: Any) -> Any:
        return {"members": window(numbered(3), int(query["page"]) - 1, 2), "total": 3}

    with responses.RequestsMock() as rsps:
        seen = serve(rsps, users, page)
        assert read(users, page_size=2) == numbered(3)
        assert len(rsps.calls) == 2
    assert [q["page"] for q in seen] == ["1", "2"]


CONVERSATIONS = make_entity(
    "conversations.list", "/v1/conversations",
    Pagination("page_array", page_param="page", size_param="page_size"), "$[*]", *query_params("page", "page_size"),
)


@pytest.mark.parametrize(("count", "requests"), [(4, 3), (3, 2), (0, 1)])
def test_page_array_stops_on_short_or_empty_page(count: int, requests: int) -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, CONVERSATIONS, lambda q, _: window(numbered(count), int(q["page"]), int(q["page_size"])))
        assert read(CONVERSATIONS, page_size=2) == numbered(count)
        assert len(rsps.calls) == requests


def test_a_server_ignoring_the_page_param_is_a_repeated_page_error() -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, CONVERSATIONS, lambda q, _: numbered(2))
        with pytest.raises(RepeatedPageError, match="conversations.list page 1: the server returned the same"):
            read(CONVERSATIONS, page_size=2)
        assert len(rsps.calls) == 2


def test_page_has_more_with_a_path_param() -> None:
    documents = make_entity(
        "libraries.documents.list", "/v1/libraries/{library_id}/documents",
        Pagination("page_has_more", page_param="page", size_param="page_size", has_more="$.pagination.has_more"),
        "$.data[*]", Param("library_id", "path", True), *query_params("page", "page_size"),
    )
    items = numbered(6)

    def page(query: dict[str, str], _: Any) -> Any:
        number = int(query["page"])
        return {"data": window(items, number, 2), "pagination": {"has_more": number < 2}}

    with responses.RequestsMock() as rsps:
        serve(rsps, documents, page)
        assert read(documents, {"library_id": "lib1"}, page_size=2) == items
        assert len(rsps.calls) == 3  # has_more false on an exactly full page: no extra request


def test_page_next_for_observability_lists() -> None:
    judges = make_entity(
        "observability.judges.list", "/v1/observability/judges",
        Pagination("page_next", page_param="page", size_param="page_size", first_page=1, next="$.judges.next"),
        "$.judges.results[*]", *query_params("page", "page_size"),
    )
    items = numbered(4)

    def page(query: dict[str, str], _: Any) -> Any:
        number = int(query["page"])
        link = f"{BASE}/v1/observability/judges?page={number + 1}" if number < 2 else None
        return {"judges": {"results": window(items, number - 1, 2), "next": link, "count": 4}}

    with responses.RequestsMock() as rsps:
        seen = serve(rsps, judges, page)
        assert read(judges, page_size=2) == items
        assert len(rsps.calls) == 2
    assert [q["page"] for q in seen] == ["1", "2"]


def token_server(items: list[Any], size: int, token_field: Callable[[str | None], Any], items_key: str,
                 token_param: str) -> Page:
    """Pages of ``size``; the next token is the next start index as text (``None`` at the end)."""

    def page(query: dict[str, str], _: Any) -> Any:
        start = int(query.get(token_param, "0"))
        following = str(start + size) if start + size < len(items) else None
        return {items_key: items[start:start + size], **token_field(following)}

    return page


TOKEN_CASES = {
    # name: (entity, response shape of the next token)
    "page_token": (
        make_entity("agents.list_pages", "/v1/agents/pages",
                    Pagination("token", size_param="page_size", token_param="page_token",
                               next_token="$.next_page_token"),
                    "$.data[*]", *query_params("page_size", "page_token")),
        "data", lambda token: {"next_page_token": token},
    ),
    "pageToken": (
        make_entity("prompts.list", "/v2/prompts",
                    Pagination("token", size_param="pageSize", token_param="pageToken", next_token="$.nextPageToken"),
                    "$.data[*]", *query_params("pageSize", "pageToken")),
        "data", lambda token: {"nextPageToken": token},
    ),
    "next_page_token_echoed": (
        make_entity("workflows.runs.list", "/v1/workflows/runs",
                    Pagination("token", size_param="page_size", token_param="next_page_token",
                               next_token="$.next_page_token"),
                    "$.executions[*]", *query_params("page_size", "next_page_token")),
        "executions", lambda token: {"next_page_token": token},
    ),
    "cursor_with_limit": (
        make_entity("workflows.deployments.list", "/v1/workflows/deployments",
                    Pagination("token", size_param="limit", token_param="cursor", next_token="$.next_cursor"),
                    "$.deployments[*]", *query_params("limit", "cursor")),
        "deployments", lambda token: {"next_cursor": token},
    ),
    "nested_next_cursor": (
        make_entity("connectors.list", "/v1/connectors",
                    Pagination("token", size_param="page_size", token_param="cursor",
                               next_token="$.pagination.next_cursor"),
                    "$.items[*]", *query_params("page_size", "cursor")),
        "items", lambda token: {"pagination": {"next_cursor": token, "page_size": 2}},
    ),
}


@pytest.mark.parametrize("case", sorted(TOKEN_CASES))
@pytest.mark.parametrize(("count", "requests"), [(5, 3), (4, 2), (0, 1)])
def test_token_styles_follow_the_token_until_null(case: str, count: int, requests: int) -> None:
    entity, key, shape = TOKEN_CASES[case]
    pagination = entity.pagination
    with responses.RequestsMock() as rsps:
        seen = serve(rsps, entity, token_server(numbered(count), 2, shape, key, pagination.token_param))
        assert read(entity, page_size=2) == numbered(count)
        assert len(rsps.calls) == requests
    assert pagination.token_param not in seen[0]
    assert [q.get(pagination.token_param) for q in seen[1:]] == [str(2 * n) for n in range(1, requests)]
    assert all(q[pagination.size_param] == "2" for q in seen)


def test_token_empty_page_stops_even_with_a_token() -> None:
    entity, _, _ = TOKEN_CASES["page_token"]
    with responses.RequestsMock() as rsps:
        serve(rsps, entity, lambda q, _: {"data": [], "next_page_token": "more"})
        assert read(entity) == []
        assert len(rsps.calls) == 1


def test_token_empty_string_stops() -> None:
    entity, _, _ = TOKEN_CASES["pageToken"]
    with responses.RequestsMock() as rsps:
        serve(rsps, entity, lambda q, _: {"data": [{"id": 1}], "nextPageToken": ""})
        assert read(entity) == [{"id": 1}]
        assert len(rsps.calls) == 1


def test_a_token_equal_to_the_one_sent_is_a_repeated_page_error() -> None:
    entity, _, _ = TOKEN_CASES["cursor_with_limit"]
    with responses.RequestsMock() as rsps:
        serve(rsps, entity, lambda q, _: {"deployments": [{"id": q.get("cursor", "first")}], "next_cursor": "abc"})
        with pytest.raises(RepeatedPageError, match="workflows.deployments.list: .*cursor 'abc' again"):
            read(entity)
        assert len(rsps.calls) == 2


def test_a_token_cycle_is_a_repeated_page_error() -> None:
    entity, _, _ = TOKEN_CASES["page_token"]
    following = {None: "a", "a": "b", "b": "a"}
    with responses.RequestsMock() as rsps:
        serve(rsps, entity, lambda q, _: {"data": [{"at": q.get("page_token")}],
                                          "next_page_token": following[q.get("page_token")]})
        with pytest.raises(RepeatedPageError, match="'a' again after token 'b'"):
            read(entity)
        assert len(rsps.calls) == 3


def test_observability_search_posts_the_body_and_pages_by_cursor() -> None:
    search = make_entity(
        "observability.chat_completion_events.search", "/v1/observability/chat-completion-events/search",
        Pagination("token", size_param="page_size", token_param="cursor", next_token="$.completion_events.cursor"),
        "$.completion_events.results[*]", *query_params("page_size", "cursor"), method="POST", body="json",
    )
    bodies: list[Any] = []

    def page(query: dict[str, str], body: Any) -> Any:
        bodies.append(body)
        start = int(query.get("cursor", "0"))
        return {"completion_events": {"results": numbered(3)[start:start + 2],
                                      "cursor": "2" if start == 0 else None}}

    with responses.RequestsMock() as rsps:
        serve(rsps, search, page)
        found = read(search, {"body": {"search_params": {"filters": None}}}, page_size=2)
        assert found == numbered(3)
        assert len(rsps.calls) == 2
    assert bodies == [{"search_params": {"filters": None}}] * 2


OFFSETS = make_entity(
    "users.list_organizations", "/v1/users/me/organizations",
    Pagination("offset", size_param="limit", offset_param="offset"), "$.organizations[*]",
    *query_params("offset", "limit"),
)


@pytest.mark.parametrize(("count", "requests"), [(5, 3), (4, 3), (0, 1)])
def test_offset_limit_moves_by_what_the_server_returned(count: int, requests: int) -> None:
    items = numbered(count)
    with responses.RequestsMock() as rsps:
        seen = serve(rsps, OFFSETS, lambda q, _: {"organizations": items[int(q["offset"]):int(q["offset"]) + 2]})
        assert read(OFFSETS, page_size=2) == items
        assert len(rsps.calls) == requests
    assert [q["offset"] for q in seen] == [str(2 * n) for n in range(requests)]
    assert all(q["limit"] == "2" for q in seen)


def test_no_pagination_is_one_request() -> None:
    models = make_entity("models.list", "/v1/models", None, "$.data[*]", *query_params("provider"))
    with responses.RequestsMock() as rsps:
        serve(rsps, models, lambda q, _: {"object": "list", "data": numbered(3)})
        assert read(models) == numbered(3)
        assert len(rsps.calls) == 1


def test_user_limit_stops_without_an_extra_request() -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, FILES, files_page(numbered(10)))
        assert read(FILES, page_size=2, limit=3) == numbered(3)
        assert len(rsps.calls) == 2


def test_user_max_pages_stops_quietly() -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, FILES, files_page(numbered(10)))
        assert read(FILES, page_size=2, max_pages=3) == numbered(6)
        assert len(rsps.calls) == 3


def test_default_page_cap_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paginators, "DEFAULT_MAX_PAGES", 4)
    with responses.RequestsMock() as rsps:
        serve(rsps, CONVERSATIONS, lambda q, _: [{"id": q["page"]}])  # never short, never empty
        with pytest.raises(PageLimitError, match="conversations.list: stopped after 4 pages"):
            read(CONVERSATIONS, page_size=1)
        assert len(rsps.calls) == 4


def test_every_catalog_style_has_a_paginator() -> None:
    styles = {entity.pagination.style for entity in Catalog.default() if entity.pagination}
    assert styles and styles <= set(PAGINATORS)


def test_the_repeated_page_guard_fingerprints_the_page_not_each_entity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialising every entity again to fingerprint a page cost three times the page's own
    decoding; the guard reads the body as it came."""
    from alumio_mistral import fastjson
    from alumio_mistral.subscribers import mistral

    def no_dumps(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("an entity was serialised to fingerprint its page")

    monkeypatch.setattr(mistral, "fastjson", SimpleNamespace(loads=fastjson.loads, loads_finite=fastjson.loads_finite, dumps=no_dumps))
    with responses.RequestsMock() as rsps:
        serve(rsps, CONVERSATIONS, lambda q, _: window(numbered(5), int(q["page"]), int(q["page_size"])))
        assert read(CONVERSATIONS, page_size=2) == numbered(5)


def test_a_limit_inside_a_page_stops_there() -> None:
    with responses.RequestsMock() as rsps:
        serve(rsps, CONVERSATIONS, lambda q, _: window(numbered(6), int(q["page"]), int(q["page_size"])))
        assert read(CONVERSATIONS, page_size=4, limit=5) == numbered(5)
        assert len(rsps.calls) == 2
