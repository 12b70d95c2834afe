"""Derive the sandbox's request and response schemas from an OpenAPI spec file.

Only what validation and answer building act on is kept (types, required fields, enums, formats,
bounds, items, properties, combinators, additionalProperties); never descriptions, titles or
examples. The result is plain JSON Schema (draft 7, so a compiled validator handles it), after
the documented :mod:`~alumio_mistral.sandbox.relaxations`. The committed ``schemas.json`` is
this module's output for the Mistral spec, and a test regenerates it to prove the two agree::

    python -m alumio_mistral.sandbox.derive SPEC [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from alumio_mistral.catalog.spec import SpecError, load_spec, lookup
from alumio_mistral.sandbox.relaxations import relax

DEFAULT_OUT = Path(__file__).with_name("schemas.json")
_METHODS = ("get", "put", "post", "delete", "patch")
#: keywords whose value is kept as is
_PLAIN = ("type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
          "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties",
          "maxProperties", "required")
#: formats the sandbox enforces and builds values for (others, e.g. ``int32`` or ``binary``, say nothing checkable)
FORMATS = ("date-time", "date", "time", "duration", "uuid", "uri", "email")
#: integer formats, as the bounds they set
_INTEGER_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
#: media types a JSON or multipart request body may have
_BODY_MEDIA = {"application/json": "json", "multipart/form-data": "multipart"}


class _Deriver:
    """Converts the schemas one spec reaches into draft-7 schemas over shared ``definitions``."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.components = (spec.get("components") or {}).get("schemas") or {}
        self.definitions: dict[str, Any] = {}

    def schema(self, node: Any, scope: dict[str, str], owner: str) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, dict):
            return {}
        if "$defs" in node:
            scope = {**scope, **{name: f"{owner}.{name}" for name in node["$defs"]}}
            for name, inner in node["$defs"].items():
                self._define(f"{owner}.{name}", inner, scope)
        out: dict[str, Any] = {key: node[key] for key in _PLAIN if key in node}
        if node.get("format") in FORMATS:
            out["format"] = node["format"]
        elif node.get("format") in _INTEGER_BOUNDS:
            low, high = _INTEGER_BOUNDS[node["format"]]
            out["minimum"] = max(out.get("minimum", low), low)
            out["maximum"] = min(out.get("maximum", high), high)
        for key in ("anyOf", "oneOf", "allOf"):
            if isinstance(node.get(key), list):
                out[key] = [self.schema(option, scope, owner) for option in node[key]]
        for key in ("not", "propertyNames", "additionalProperties"):
            if key in node:
                out[key] = self.schema(node[key], scope, owner)
        if isinstance(node.get("properties"), dict):
            out["properties"] = {name: self.schema(value, scope, owner) for name, value in node["properties"].items()}
        if "prefixItems" in node:
            out["items"] = [self.schema(option, scope, owner) for option in node["prefixItems"]]
            if "items" in node:
                out["additionalItems"] = self.schema(node["items"], scope, owner)
        elif "items" in node:
            out["items"] = self.schema(node["items"], scope, owner)
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = {"$ref": "#/definitions/" + self._target(ref, scope)}
            # draft 7 ignores a $ref's siblings: they become a second allOf part
            return {"allOf": [target, out]} if out else target
        return out

    def _target(self, ref: str, scope: dict[str, str]) -> str:
        prefix = "#/components/schemas/"
        if ref.startswith(prefix) and ref[len(prefix):] in self.components:
            name = ref[len(prefix):]
            if name not in self.definitions:
                self._define(name, self.components[name], {})
            return name
        if ref.startswith("#/$defs/") and ref[len("#/$defs/"):] in scope:
            return scope[ref[len("#/$defs/"):]]
        raise SpecError(f"reference {ref!r} does not resolve")

    def _define(self, name: str, node: Any, scope: dict[str, str]) -> None:
        if name in self.definitions:
            return
        self.definitions[name] = {}  # placeholder: recursive references stop here
        self.definitions[name] = self.schema(node, scope, name)

    def operation(self, operation_id: str, op: dict[str, Any], shared: list[Any]) -> dict[str, Any]:
        derived: dict[str, Any] = {}
        params: dict[str, dict[str, Any]] = {}
        for raw in [*shared, *(op.get("parameters") or [])]:
            param = self._deref(raw)
            where = param.get("in")
            if where not in ("path", "query"):
                continue
            content = (param.get("content") or {}).get("application/json")
            entry: dict[str, Any] = {"schema": self.schema(content["schema"] if content else param.get("schema"),
                                                           {}, operation_id)}
            if param.get("required") or where == "path":
                entry["required"] = True
            if content:
                entry["json"] = True
            params.setdefault(where, {})[param["name"]] = entry
        if params:
            derived["params"] = params
        body = self._deref(op.get("requestBody"))
        for media, kind in _BODY_MEDIA.items():
            if media in (body.get("content") or {}):
                schema = self.schema(body["content"][media].get("schema"), {}, operation_id)
                derived["body"] = {"media": kind, "required": bool(body.get("required")), "schema": schema}
                break
        response = self._response(operation_id, op)
        if response:
            derived["response"] = response
        errors = self._errors(operation_id, op)
        if errors:
            derived["errors"] = errors
        return derived

    def _errors(self, operation_id: str, op: dict[str, Any]) -> dict[str, Any]:
        """Status -> the JSON schema of each documented error answer (their shapes differ by API family)."""
        errors = {}
        for code, value in (op.get("responses") or {}).items():
            content = self._deref(value).get("content") or {}
            if str(code)[:1] in "45" and str(code).isdigit() and "schema" in content.get("application/json", {}):
                errors[str(code)] = self.schema(content["application/json"]["schema"], {}, operation_id)
        return errors

    def _response(self, operation_id: str, op: dict[str, Any]) -> dict[str, Any]:
        success = {200 if str(code).upper() == "2XX" else int(code): self._deref(value)
                   for code, value in (op.get("responses") or {}).items() if str(code).startswith("2")}
        if not success:
            return {}
        status = min(success)
        content = success[status].get("content") or {}
        answer: dict[str, Any] = {"status": status}
        media = next((m for m in ("application/json", "text/event-stream") if m in content), next(iter(content), None))
        if media is not None:
            answer["media"] = media
            answer["schema"] = self.schema(content[media].get("schema"), {}, operation_id)
        if media == "application/json" and "text/event-stream" in content:
            answer["events"] = self.schema(content["text/event-stream"].get("schema"), {}, operation_id)
        return answer

    def _deref(self, node: Any) -> dict[str, Any]:
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            node = lookup(self.spec, node["$ref"])
        return node if isinstance(node, dict) else {}


def derive(spec: dict[str, Any]) -> dict[str, Any]:
    """``{"definitions": {name: schema}, "operations": {key: facts}}`` of a (relaxed) spec, keyed by
    ``operationId`` (or ``"METHOD /path"`` for an operation without one, see :func:`operation_key`)."""
    deriver = _Deriver(spec)
    operations: dict[str, Any] = {}
    for raw_path, item in (spec.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                key = operation_key(str(op.get("operationId") or ""), method, raw_path)
                operations[key] = deriver.operation(key, op, item.get("parameters") or [])
    return {"definitions": deriver.definitions, "operations": operations}


def operation_key(operation_id: str, method: str, raw_path: str) -> str:
    """How derived operations are keyed: the operationId, else ``"GET /v1/things#fragment"``."""
    return operation_id or f"{method.upper()} {raw_path}"


def derive_file(spec_path: str | Path) -> dict[str, Any]:
    """The derived schemas of a spec file, relaxations applied."""
    return derive(relax(load_spec(spec_path)))


def dumps(derived: dict[str, Any]) -> str:
    """Compact, stable JSON: one definition or operation per line, so diffs stay readable."""
    blocks = []
    for section in ("definitions", "operations"):
        entries = derived[section]
        lines = [f"{json.dumps(name)}:{json.dumps(entries[name], sort_keys=True, separators=(',', ':'))}"
                 for name in sorted(entries)]
        blocks.append(f'"{section}":{{\n' + ",\n".join(lines) + "\n}")
    return "{" + ",\n".join(blocks) + "}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alumio_mistral.sandbox.derive", description=__doc__.split("\n")[0])
    parser.add_argument("spec", type=Path, help="OpenAPI spec file (YAML or JSON)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the schemas (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        derived = derive_file(args.spec)
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.out.write_text(dumps(derived), encoding="utf-8")
    print(f"{args.out}: {len(derived['operations'])} operations, {len(derived['definitions'])} definitions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
