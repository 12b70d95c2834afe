"""Derive the entity catalog from an OpenAPI spec file.

Only facts the connector acts on are kept (method, path, params, body kind, auth, paging...);
no prose. The committed ``catalog.json`` is this module's output for the Mistral spec, and a
test regenerates it to prove the two agree. Run::

    python -m alumio_mistral.catalog.generate SPEC [--retired LEGACY_SPEC] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from alumio_mistral.catalog.entity import (
    AuthScheme,
    BodyKind,
    Entity,
    JsonShape,
    Param,
    ParamLocation,
    ParamStyle,
)
from alumio_mistral.catalog.naming import Naming, NamingError
from alumio_mistral.catalog.pagination import detect_items, detect_pagination
from alumio_mistral.catalog.spec import Operation, deref, load_spec, ref_name

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
DEFAULT_OUT = Path(__file__).with_name("catalog.json")
#: only these legacy routes are carried over as retired (they answer 410 Gone today)
RETIRED_PREFIXES = ("/v1/fine_tuning/jobs",)
#: stateless compute: repeating the call cannot change anything on the server
COMPUTE_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/fim/completions",
        "/v1/agents/completions",
        "/v1/embeddings",
        "/v1/moderations",
        "/v1/chat/moderations",
        "/v1/classifications",
        "/v1/chat/classifications",
        "/v1/ocr",
        "/v1/audio/transcriptions",
        "/v1/audio/speech",
    }
)
AUTH_SCHEMES: dict[str, AuthScheme] = {"ApiKey": "bearer", "AdminApiKey": "admin_bearer", "DashboardUserContextAuth": "api_key_header"}
SSE = "text/event-stream"


def operations(spec: dict[str, Any]) -> Iterator[Operation]:
    """Every operation of ``spec`` in file order."""
    for raw_path, item in spec["paths"].items():
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                yield Operation(method.upper(), raw_path, op, shared)


def build_entity(spec: dict[str, Any], operation: Operation, name: str, *, retired: bool = False) -> Entity:
    """The catalog facts of one operation."""
    op = operation.op
    params = _params(spec, operation)
    body, body_required, request_schema = _body(spec, op)
    success = _success_responses(spec, op)
    media = {media for response in success.values() for media in (response.get("content") or {})}
    stream_fragment = operation.fragment == "stream"
    streams = stream_fragment or (bool(media) and media <= {SSE})
    response_json = _json_schema(success)
    answers_json = any("application/json" in (response.get("content") or {}) for response in success.values())
    query_names = [p.name for p in params if p.location == "query"]
    pagination = None if streams else detect_pagination(spec, query_names, operation.query_param_schemas(spec), response_json)
    # Only reads and paged searches return "entities"; a compute POST's arrays are results.
    reads = operation.method == "GET" or pagination is not None
    listing = pagination is not None or name.rsplit(".", 1)[-1].startswith("list")
    items = detect_items(spec, response_json, listing=listing) if reads and not streams else None
    extra: dict[str, Any] = {}
    if operation.fragment:
        extra["fragment"] = operation.fragment
    if SSE in media and not streams:
        extra["sse_optional"] = True
    return Entity(
        name=name,
        operation_id=str(op.get("operationId") or ""),
        title=" ".join(str(op.get("summary") or "").split()),
        method=operation.method,
        path=operation.path,
        params=tuple(params),
        body=body,
        body_required=body_required,
        streams=streams,
        success_codes=tuple(sorted(int(code) for code in success)),
        auth=_auth(spec, op, retired),
        safe_to_retry=_safe_to_retry(operation),
        pagination=pagination,
        items=items,
        retired=retired,
        group=name.rsplit(".", 1)[0],
        request_schema=request_schema,
        response_schema=ref_name(response_json),
        response_json=_json_shape(spec, response_json) if answers_json else None,
        extra=extra,
    )


def _params(spec: dict[str, Any], operation: Operation) -> list[Param]:
    found: dict[tuple[str, str], Param] = {}
    for raw in [*operation.shared_params, *(operation.op.get("parameters") or [])]:
        param = deref(spec, raw)
        location: ParamLocation = param.get("in")
        if location not in ("path", "query", "header"):
            continue
        style: ParamStyle = "plain"
        if "application/json" in (param.get("content") or {}):
            style = "json"
        elif _allows_array(spec, param.get("schema")):
            style = "repeat"
        found[(location, param["name"])] = Param(
            name=param["name"],
            location=location,
            required=bool(param.get("required")) or location == "path",
            style=style,
        )
    return list(found.values())


def _allows_array(spec: dict[str, Any], schema: Any) -> bool:
    schema = deref(spec, schema)
    if not isinstance(schema, dict):
        return False
    if schema.get("type") == "array" or (isinstance(schema.get("type"), list) and "array" in schema["type"]):
        return True
    return any(_allows_array(spec, option) for key in ("anyOf", "oneOf") for option in schema.get(key) or [])


def _body(spec: dict[str, Any], op: dict[str, Any]) -> tuple[BodyKind, bool, str | None]:
    request = deref(spec, op.get("requestBody"))
    if not isinstance(request, dict) or not request.get("content"):
        return "none", False, None
    content = request["content"]
    required = bool(request.get("required"))
    if "application/json" in content:
        return "json", required, ref_name(content["application/json"].get("schema"))
    if any(media.startswith("multipart/") for media in content):
        return "multipart", required, None
    return "json", required, None


def _success_responses(spec: dict[str, Any], op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    responses = op.get("responses") or {}
    found = {}
    for code, value in responses.items():
        code = str(code)
        if code.startswith("2"):
            found[code if code.isdigit() else "200"] = deref(spec, value)  # "2XX" ranges read as 200
    return found or {"200": {}}


def _json_schema(success: dict[str, dict[str, Any]]) -> Any:
    for code in sorted(success):
        content = success[code].get("content") or {}
        if "application/json" in content:
            return content["application/json"].get("schema")
    return None


def _json_shape(spec: dict[str, Any], schema: Any) -> JsonShape:
    """Whether a JSON answer is an object, an array, or may be any JSON value."""
    schema = deref(spec, schema)
    if not isinstance(schema, dict):
        return "any"
    kind = schema.get("type")
    if kind in ("object", "array"):
        return kind
    if kind is None and "properties" in schema:
        return "object"
    if kind is None and schema.get("allOf"):
        parts = {_json_shape(spec, part) for part in schema["allOf"]}
        return "object" if "object" in parts else "any"
    options = schema.get("anyOf") or schema.get("oneOf")
    if kind is None and options:
        shapes = {_json_shape(spec, option) for option in options}
        return shapes.pop() if len(shapes) == 1 else "any"
    return "any"


def _auth(spec: dict[str, Any], op: dict[str, Any], retired: bool) -> AuthScheme:
    requirements = op.get("security")
    # The legacy spec marks most operations ``security: []`` although the API always wanted
    # a key; for the retired routes the global requirement is the honest answer.
    if requirements is None or (retired and not requirements):
        requirements = spec.get("security") or []
    for requirement in requirements:
        for scheme in requirement:
            if scheme in AUTH_SCHEMES:
                return AUTH_SCHEMES[scheme]
    return "none"


def _safe_to_retry(operation: Operation) -> bool:
    if operation.method in ("GET", "HEAD", "OPTIONS"):
        return True
    if operation.method != "POST":
        return False
    if operation.path in COMPUTE_PATHS:
        return True
    segments = operation.path.split("/")
    return "observability" in segments and any(s == "search" or s.startswith("search-") for s in segments)


def generate(
    spec_path: str | Path,
    retired_path: str | Path | None = None,
    *,
    naming: Naming | None = None,
    context: Mapping[str, list[str]] | None = None,
) -> list[Entity]:
    """Entities of ``spec_path`` (plus the retired routes of ``retired_path``), sorted by name.

    ``context`` (group -> paths already known) lets a partial spec name its operations as the
    full one would. Raises :class:`NamingError` when two operations would get the same name.
    """
    naming = naming or Naming.default()
    spec = load_spec(spec_path)
    live = list(operations(spec))
    entities = [build_entity(spec, op, name) for op, name in naming.assign(live, context)]
    if retired_path is not None:
        legacy = load_spec(retired_path)
        known = {(op.method, op.path) for op in live}
        gone = [op for op in operations(legacy) if op.path.startswith(RETIRED_PREFIXES) and (op.method, op.path) not in known]
        entities += [build_entity(legacy, op, name, retired=True) for op, name in naming.assign(gone, context)]
    naming.check_unique((entity.name, f"{entity.method} {entity.path}") for entity in entities)
    return sorted(entities, key=lambda entity: entity.name)


def dumps(entities: list[Entity]) -> str:
    """Stable, diff-friendly JSON: one field per line, one param per line."""
    blocks = []
    for entity in entities:
        fields = []
        for key, value in entity.to_dict().items():
            if key == "params" and value:
                inner = ",\n".join("      " + json.dumps(param) for param in value)
                fields.append(f'    "params": [\n{inner}\n    ]')
            else:
                fields.append(f"    {json.dumps(key)}: {json.dumps(value, sort_keys=True)}")
        blocks.append("  {\n" + ",\n".join(fields) + "\n  }")
    return "[\n" + ",\n".join(blocks) + "\n]\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alumio_mistral.catalog.generate", description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, help="OpenAPI spec file (YAML or JSON)")
    parser.add_argument("--retired", type=Path, help="an older spec holding the retired routes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the catalog (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        entities = generate(args.spec, args.retired)
    except NamingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.out.write_text(dumps(entities), encoding="utf-8")
    live = sum(not entity.retired for entity in entities)
    print(f"{args.out}: {live} live + {len(entities) - live} retired entities")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
