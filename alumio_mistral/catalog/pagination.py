"""Recognise how a list operation pages, from its query params and its response schema.

Mistral's API grew several paging conventions (page numbers from 0 or 1, bare arrays, tokens
under four different names, cursors at the top or nested, offsets). Reading them off the spec,
rather than hand-listing them per entity, keeps a newer spec file working without code changes.
"""

from __future__ import annotations

from typing import Any

from alumio_mistral.catalog.entity import Pagination
from alumio_mistral.catalog.spec import deref

SIZE_PARAMS = ("page_size", "pageSize", "limit")
TOKEN_PARAMS = ("pageToken", "page_token", "next_page_token", "cursor")
#: response fields that carry the next token, in order of preference
NEXT_TOKEN_FIELDS = ("nextPageToken", "next_page_token", "next_cursor")
ITEM_FIELDS = ("data", "items", "results")


def unwrap(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    """The schema with ``$ref`` followed and a nullable ``anyOf``/``oneOf`` reduced to its
    first array-or-object option (the shape a reader would meet)."""
    schema = deref(spec, schema)
    if not isinstance(schema, dict):
        return {}
    for key in ("anyOf", "oneOf"):
        options = [deref(spec, option) for option in schema.get(key) or []]
        for option in options:
            if isinstance(option, dict) and _kind(option) in ("array", "object"):
                return unwrap(spec, option)
    return schema


def _kind(schema: dict[str, Any]) -> str | None:
    if schema.get("type") == "array" or "items" in schema and "properties" not in schema:
        return "array"
    if schema.get("type") == "object" or "properties" in schema:
        return "object"
    return None


def _properties(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {key: unwrap(spec, value) for key, value in (schema.get("properties") or {}).items()}


def detect_items(spec: dict[str, Any], response: Any, *, listing: bool) -> str | None:
    """Jsonpath to the list of entities in a response, or ``None`` for a single object.

    An object's array field counts only under a conventional name (data, items, results, or
    ``<name>.results``), or - for list operations - as its first array field; otherwise an
    object that merely has an array attribute (an agent's tools) would look like a list.
    """
    schema = unwrap(spec, response)
    if _kind(schema) == "array":
        return "$[*]"
    if _kind(schema) != "object":
        return None
    properties = _properties(spec, schema)
    for key in ITEM_FIELDS:
        if key in properties and _kind(properties[key]) == "array":
            return f"$.{key}[*]"
    for key, value in properties.items():
        if _kind(value) == "object" and _kind(_properties(spec, value).get("results", {})) == "array":
            return f"$.{key}.results[*]"
    if listing:
        for key, value in properties.items():
            if _kind(value) == "array":
                return f"$.{key}[*]"
    return None


def detect_pagination(
    spec: dict[str, Any], query: list[str], query_schemas: dict[str, dict[str, Any]], response: Any
) -> Pagination | None:
    """The paging style of an operation, or ``None`` when one request returns everything."""
    schema = unwrap(spec, response)
    properties = _properties(spec, schema) if _kind(schema) == "object" else {}
    size_param = next((name for name in SIZE_PARAMS if name in query), None)
    token_param = next((name for name in TOKEN_PARAMS if name in query), None)
    if token_param is not None:
        next_token = _next_token(spec, properties)
        if next_token is not None:
            return Pagination("token", size_param=size_param, token_param=token_param, next_token=next_token)
    if "page" in query:
        return _page_style(spec, schema, properties, size_param, _first_page(query_schemas.get("page", {})))
    if "offset" in query:
        return Pagination("offset", size_param=size_param, offset_param="offset")
    return None


def _next_token(spec: dict[str, Any], properties: dict[str, dict[str, Any]]) -> str | None:
    for key in NEXT_TOKEN_FIELDS:
        if key in properties:
            return f"$.{key}"
    for key, value in properties.items():
        if _kind(value) == "object":
            nested = _properties(spec, value)
            for field in ("next_cursor", "cursor"):
                if field in nested:
                    return f"$.{key}.{field}"
    return None


def _page_style(
    spec: dict[str, Any],
    schema: dict[str, Any],
    properties: dict[str, dict[str, Any]],
    size_param: str | None,
    first_page: int,
) -> Pagination:
    style, stop = _page_stop(spec, schema, properties)
    return Pagination(style, page_param="page", size_param=size_param, first_page=first_page, **stop)


def _page_stop(
    spec: dict[str, Any], schema: dict[str, Any], properties: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, str | None]]:
    """The page-number style and the response field that says when to stop."""
    if _kind(schema) == "array":
        return "page_array", {}
    if "has_more" in properties:
        return "page_has_more", {"has_more": "$.has_more"}
    for key, value in properties.items():
        if _kind(value) != "object":
            continue
        nested = _properties(spec, value)
        if "has_more" in nested:
            return "page_has_more", {"has_more": f"$.{key}.has_more"}
        if "next" in nested:
            return "page_next", {"next": f"$.{key}.next"}
    return "page_total", {"total": "$.total" if "total" in properties else None}


def _first_page(schema: dict[str, Any]) -> int:
    for key in ("default", "minimum"):
        if isinstance(schema.get(key), int):
            return int(schema[key])
    if isinstance(schema.get("exclusiveMinimum"), int):
        return int(schema["exclusiveMinimum"]) + 1
    return 0
