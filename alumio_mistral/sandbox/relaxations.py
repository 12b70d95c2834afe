"""Where the sandbox reads the Mistral spec more leniently than it is written, and why.

Each relaxation is a small patch of the spec, applied before the sandbox derives its schemas
(see :mod:`alumio_mistral.sandbox.derive`) and before the fuzz test checks the sandbox against
the spec: the places where the spec lags or contradicts the live API, kept in this one list
so that every departure from the spec is named, explained and tested.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from alumio_mistral.catalog.spec import lookup

Spec = dict[str, Any]
#: the error answers the live API gives that the spec does not document for each operation
UNDOCUMENTED_ERRORS = ("400", "401", "403", "404", "409", "410")
_ERROR_SCHEMA = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
_HTTP_METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Relaxation:
    name: str
    reason: str
    patch: Callable[[Spec], None]


def _schemas(spec: Spec) -> dict[str, Any]:
    return spec.setdefault("components", {}).setdefault("schemas", {})


def _open_file_purpose(spec: Spec) -> None:
    purpose = _schemas(spec).get("FilePurpose")
    if isinstance(purpose, dict):
        purpose.pop("enum", None)


def _skill_asset_content_fields(spec: Spec) -> None:
    schema = _schemas(spec).get("SkillAssetContent")
    if not isinstance(schema, dict):
        return
    properties = schema.setdefault("properties", {})
    for option in schema.get("oneOf") or []:
        for name, value in (option.get("properties") or {}).items():
            properties.setdefault(name, value)


def _chat_response_without_data(spec: Spec) -> None:
    schema = _schemas(spec).get("ChatCompletionResponse")
    for part in [schema, *(schema.get("allOf") or [])] if isinstance(schema, dict) else []:
        if isinstance(part, dict) and "data" in (part.get("required") or []) and "data" not in (part.get("properties") or {}):
            part["required"] = [name for name in part["required"] if name != "data"]


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def _nullable_allows_null(spec: Spec) -> None:
    for node in list(_nodes(spec)):
        if node.get("nullable") is not True:
            continue
        del node["nullable"]
        inner = {key: value for key, value in node.items() if key not in ("title", "description", "default")}
        for key in inner:
            del node[key]
        node["anyOf"] = [inner, {"type": "null"}]


def _operations(spec: Spec) -> Iterator[dict[str, Any]]:
    for item in (spec.get("paths") or {}).values():
        for method in _HTTP_METHODS:
            operation = item.get(method) if isinstance(item, dict) else None
            if isinstance(operation, dict):
                yield operation


def _document_live_errors(spec: Spec) -> None:
    for operation in _operations(spec):
        responses = operation.setdefault("responses", {})
        for code in UNDOCUMENTED_ERRORS:
            if code not in responses and int(code) not in responses:
                responses[code] = {"description": "", "content": {"application/json": {"schema": _ERROR_SCHEMA}}}


def _sse_data_is_json_text(spec: Spec) -> None:
    for operation in _operations(spec):
        for response in (operation.get("responses") or {}).values():
            stream = ((response or {}).get("content") or {}).get("text/event-stream") if isinstance(response, dict) else None
            schema = stream.get("schema") if isinstance(stream, dict) else None
            if isinstance(schema, dict) and "$ref" in schema:
                schema = stream["schema"] = copy.deepcopy(lookup(spec, schema["$ref"]))
            data = (schema.get("properties") or {}).get("data") if isinstance(schema, dict) else None
            if isinstance(data, dict):
                schema["properties"]["data"] = {"anyOf": [data, {"type": "string"}]}


RELAXATIONS: tuple[Relaxation, ...] = (
    Relaxation("file-purpose-open",
               "the live API accepts file purposes added after the spec (e.g. 'audio'): FilePurpose takes any string",
               _open_file_purpose),
    Relaxation("skill-asset-content-fields",
               "SkillAssetContent forbids extra fields (additionalProperties: false) but declares rawContent and "
               "textContent only inside its oneOf: they are allowed",
               _skill_asset_content_fields),
    Relaxation("chat-response-without-data",
               "ChatCompletionResponse requires a 'data' field it never declares and the live API never sends",
               _chat_response_without_data),
    Relaxation("nullable-allows-null",
               "an OpenAPI 3.1 spec, yet some schemas say 'nullable: true' (OpenAPI 3.0): the live API sends null there",
               _nullable_allows_null),
    Relaxation("live-errors-documented",
               "the spec documents no 401, 404 (or 400, 403, 409, 410) answers, which the live API gives in its "
               "error shape",
               _document_live_errors),
    Relaxation("sse-data-is-json-text",
               "an SSE event's 'data' is typed as an object, but on the wire it is JSON text (and '[DONE]' ends "
               "chat streams)",
               _sse_data_is_json_text),
)


def relax(spec: Spec) -> Spec:
    """A copy of ``spec`` with every relaxation applied (the input is left untouched)."""
    relaxed = copy.deepcopy(spec)
    for relaxation in RELAXATIONS:
        relaxation.patch(relaxed)
    return relaxed
