"""Reading OpenAPI spec files: parse once, follow ``$ref`` safely.

The spec is a megabyte of YAML; parsing it takes seconds with the pure-Python loader, so the
C loader is used when PyYAML has it and each file is parsed once per process. The generator
and the sandbox (request validation, response building) share these helpers.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from alumio_mistral.errors import AlumioError

try:
    _BaseLoader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """PyYAML reads YAML 1.1, where ``1e+09`` (no dot) is a string; OpenAPI 3.1 files are YAML 1.2,
    where it is a number. This loader also reads 1.2 floats (``1e9``, ``1e+09``) as numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


class SpecError(AlumioError):
    """A spec file that cannot be read or that points at something it does not define."""


def load_spec(path: str | Path) -> dict[str, Any]:
    """Parse an OpenAPI file (YAML or JSON); cached by resolved path, so treat it as read-only."""
    return _load(str(Path(path).resolve()))


@lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            if path.endswith(".json"):
                data = json.load(handle)
            else:
                data = yaml.load(handle, Loader=_Loader)
    except OSError as error:
        raise SpecError(f"{path}: cannot read the spec file ({error.strerror})") from error
    except (yaml.YAMLError, ValueError) as error:
        raise SpecError(f"{path}: not valid YAML/JSON: {error}") from error
    if not isinstance(data, dict) or not isinstance(data.get("paths"), dict):
        raise SpecError(f"{path}: not an OpenAPI document (no 'paths' mapping)")
    return data


def ref_name(schema: Any) -> str | None:
    """The component name a ``{"$ref": "#/components/schemas/X"}`` points at, else ``None``."""
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    return None


def lookup(spec: dict[str, Any], ref: str) -> Any:
    """The node a local JSON pointer (``#/components/schemas/X``) names."""
    if not ref.startswith("#/"):
        raise SpecError(f"only local references are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise SpecError(f"reference {ref!r} does not resolve (missing {part!r})")
        node = node[part]
    return node


def deref(spec: dict[str, Any], schema: Any) -> Any:
    """Follow a chain of ``$ref`` at the top of ``schema`` only (cheap, for peeking at shapes)."""
    seen: set[str] = set()
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        ref = schema["$ref"]
        if ref in seen:
            raise SpecError(f"reference cycle at {ref!r}")
        seen.add(ref)
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        schema = lookup(spec, ref)
        if siblings and isinstance(schema, dict):
            schema = {**schema, **siblings}
    return schema


def resolve_schema(spec: dict[str, Any], schema: Any, *, max_depth: int = 64) -> Any:
    """A copy of ``schema`` with every ``$ref`` replaced by its target.

    Recursive schemas (a tree of messages, a JSON value type) cannot be inlined forever: a
    reference already being expanded on the current branch, or one deeper than ``max_depth``,
    becomes ``{}`` (any value), which validators accept and builders treat as free-form.
    """
    return _resolve(spec, schema, (), max_depth)


def _resolve(spec: dict[str, Any], node: Any, active: tuple[str, ...], budget: int) -> Any:
    if isinstance(node, list):
        return [_resolve(spec, item, active, budget) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in active or budget <= 0:
            return {}
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        target = _resolve(spec, lookup(spec, ref), active + (ref,), budget - 1)
        if siblings and isinstance(target, dict):
            return {**target, **_resolve(spec, siblings, active, budget)}
        return target
    return {key: _resolve(spec, value, active, budget) for key, value in node.items()}


class Operation:
    """One operation of a spec: method, path (Speakeasy ``#fragment`` split off) and its node."""

    __slots__ = ("method", "raw_path", "path", "fragment", "op", "shared_params")

    def __init__(self, method: str, raw_path: str, op: dict[str, Any], shared_params: list[Any] | None = None) -> None:
        self.method = method
        self.raw_path = raw_path
        self.path, _, self.fragment = raw_path.partition("#")
        self.op = op
        self.shared_params = shared_params or []

    @property
    def operation_id(self) -> str:
        return str(self.op.get("operationId") or "")

    @property
    def tags(self) -> list[str]:
        return [str(tag) for tag in self.op.get("tags") or []]

    def query_param_schemas(self, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Query parameter name -> its (top-level dereferenced) schema."""
        found = {}
        for raw in [*self.shared_params, *(self.op.get("parameters") or [])]:
            param = deref(spec, raw)
            if param.get("in") == "query":
                schema = deref(spec, param.get("schema"))
                found[param["name"]] = schema if isinstance(schema, dict) else {}
        return found

    def __repr__(self) -> str:
        return f"Operation({self.method} {self.raw_path})"
