"""Validating requests against the derived schemas: bodies, query and path parameters.

The schemas ship with the package (``schemas.json``, see :mod:`alumio_mistral.sandbox.derive`)
and are read on first use; a newer spec file adds its operations at run time. Each check is
compiled once per operation with ``fastjsonschema`` (valid requests, the common case, cost a
few microseconds); only a request that fails is checked again with ``jsonschema`` to list
every problem in Mistral's ``detail`` shape.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator, FormatChecker

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.sandbox.wire import Request

SCHEMAS_FILE = Path(__file__).with_name("schemas.json")
#: at most this many problems are reported in one 422 answer
MAX_PROBLEMS = 20
Problem = dict[str, Any]

_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_TIME = re.compile(r"\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: ISO 8601 durations (P1DT2H, PT0.5S, P2W)
_DURATION = re.compile(r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?")


def _parses(parse: Callable[[str], Any], value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


#: the formats the derived schemas keep, as checks both validators share
FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "date-time": lambda v: bool(_DATE_TIME.fullmatch(v)) and _parses(datetime.fromisoformat, v.upper().replace("Z", "+00:00")),
    "date": lambda v: len(v) == 10 and _parses(date.fromisoformat, v),
    "time": lambda v: bool(_TIME.fullmatch(v)) and _parses(time.fromisoformat, v[:8]),
    "duration": lambda v: bool(_DURATION.fullmatch(v)),
    "uuid": lambda v: bool(_UUID.fullmatch(v)) and _parses(uuid.UUID, v),
    "uri": lambda v: bool(_URI.fullmatch(v)),
    "email": lambda v: bool(_EMAIL.fullmatch(v)),
}
_FORMAT_CHECKER = FormatChecker(formats=())
for _name, _check in FORMAT_CHECKS.items():
    _FORMAT_CHECKER.checks(_name)(lambda value, check=_check: not isinstance(value, str) or check(value))


class Validator:
    """One compiled schema: ``problems(value, loc)`` is empty when ``value`` is valid."""

    def __init__(self, schema: Any, definitions: dict[str, Any]) -> None:
        self.root = {"definitions": definitions, "allOf": [schema]}
        self._compiled: Callable[[Any], Any] | None = None
        self._detailed: Draft7Validator | None = None

    def _fast(self, value: Any) -> Any:
        if self._compiled is None:  # compiling takes milliseconds: only for the parts that are used
            self._compiled = fastjsonschema.compile(self.root, formats=FORMAT_CHECKS)
        return self._compiled(value)

    def is_valid(self, value: Any) -> bool:
        try:
            self._fast(value)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    def problems(self, value: Any, loc: list[Any]) -> list[Problem]:
        try:
            self._fast(value)
            return []
        except fastjsonschema.JsonSchemaValueException as error:
            first = error
        if self._detailed is None:
            self._detailed = Draft7Validator(self.root, format_checker=_FORMAT_CHECKER)
        errors = sorted(self._detailed.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
        problems: list[Problem] = []
        for found in errors[:MAX_PROBLEMS]:
            where = [*loc, *found.absolute_path]
            if found.validator == "required" and isinstance(found.instance, dict):
                absent = [name for name in found.validator_value if name not in found.instance]
                problems += [{"loc": [*where, name], "msg": "Field required", "type": "missing"} for name in absent]
            else:
                problems.append({"loc": where, "msg": _short(found.message), "type": str(found.validator)})
        if not problems:  # the two validators disagree on an edge case: the compiled one decides
            where = [*loc, *(part for part in (first.path or [])[1:])]
            problems.append({"loc": where, "msg": _short(first.message), "type": str(first.rule)})
        return problems


class Schemas:
    """The derived schemas of every operation (by ``operationId``), with validators built once."""

    def __init__(self, derived: dict[str, Any]) -> None:
        self.definitions: dict[str, Any] = derived["definitions"]
        self.operations: dict[str, Any] = derived["operations"]
        self._validators: dict[tuple[str, str], Validator | None] = {}
        self._params: dict[str, _Params | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def shipped(cls) -> Schemas:
        """The schemas derived from the Mistral spec this release was built with (read once)."""
        return _shipped()

    @classmethod
    def for_spec(cls, spec_path: str | Path) -> Schemas:
        """The shipped schemas, extended and corrected by a (newer) spec file's (derived once per file)."""
        return _for_spec(str(Path(spec_path).resolve()))

    def operation(self, entity: Entity) -> dict[str, Any]:
        """What is derived for ``entity`` (``{}`` for an operation no spec describes)."""
        return self.operations.get(key_of(entity)) or {}

    def validator(self, entity: Entity, part: str) -> Validator | None:
        """The validator of ``part`` of ``entity``: ``"body"``, ``"response"``, ``"events"``, an
        error status (``"422"``) or ``"field types"`` (the JSON types of the body's top-level fields)."""
        key = (key_of(entity), part)
        found = self._validators.get(key, False)
        if found is False:
            facts = self.operation(entity)
            if part.isdigit():
                schema = facts.get("errors", {}).get(part)
            elif part == "field types":
                schema = self._field_types(facts["body"]["schema"]) if "body" in facts else None
            else:
                schema = facts.get(part, {}).get("schema") if part != "events" else facts.get("response", {}).get("events")
            with self._lock:
                found = self._validators[key] = Validator(schema, self.definitions) if schema is not None else None
        return found  # type: ignore[return-value]

    def schema_validator(self, schema: Any) -> Validator:
        """A validator for a schema over these definitions (not cached)."""
        return Validator(schema, self.definitions)

    def kinds(self, schema: Any) -> set[str]:
        """The JSON types a schema allows (``$ref`` and combinators followed; empty: any)."""
        found: set[str] = set()
        pending, seen = [schema], 0
        while pending and seen < 64:
            node, seen = pending.pop(), seen + 1
            if not isinstance(node, dict):
                continue
            if "$ref" in node:
                pending.append(self.definitions.get(node["$ref"].rsplit("/", 1)[-1]))
            kind = node.get("type")
            found.update([kind] if isinstance(kind, str) else kind or [])
            if "enum" in node or "const" in node:
                found.update(json_type(v) for v in node.get("enum", [node.get("const")]))
            for key in ("anyOf", "oneOf", "allOf"):
                pending.extend(node.get(key) or [])
        return found

    def field_type_problems(self, entity: Entity, body: Any) -> list[Problem]:
        """422 ``detail`` items for top-level fields of a JSON body whose JSON type is wrong, and
        nothing else: what even an unvalidated request must pass before a handler stores it."""
        validator = self.validator(entity, "field types")
        return validator.problems(body, ["body"]) if validator is not None and isinstance(body, dict) else []

    def _field_types(self, schema: Any) -> dict[str, Any] | None:
        types = {name: sorted(kinds | ({"integer"} if "number" in kinds else set()))
                 for name, value in self._properties(schema).items() if (kinds := self.kinds(value))}
        return {"type": "object", "properties": {name: {"type": kind} for name, kind in types.items()}} if types else None

    def body_problems(self, entity: Entity, request: Request) -> list[Problem]:
        """422 ``detail`` items for the request body (JSON or multipart form)."""
        facts = self.operation(entity).get("body")
        validator = self.validator(entity, "body")
        if facts is None or validator is None:
            return []
        if facts["media"] == "multipart":
            return validator.problems(self._form_value(facts["schema"], request), ["body"])
        return validator.problems(request.json(), ["body"])

    def _form_value(self, schema: Any, request: Request) -> dict[str, Any]:
        """A multipart body as the JSON value its schema describes (file parts as their file name)."""
        fields, files = request.form()
        properties = self._properties(schema)
        value: dict[str, Any] = {name: coerce(text, self.kinds(properties.get(name))) for name, text in fields.items()}
        value.update({name: upload.filename for name, upload in files.items()})
        return value

    def _properties(self, schema: Any) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        pending = [schema]
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                if "$ref" in node:
                    pending.append(self.definitions.get(node["$ref"].rsplit("/", 1)[-1]))
                properties.update(node.get("properties") or {})
                pending.extend(node.get("allOf") or [])
        return properties

    def param_problems(self, entity: Entity, request: Request) -> list[Problem]:
        """422 ``detail`` items for the query and path parameters."""
        key = key_of(entity)
        params = self._params.get(key, False)
        if params is False:
            derived = self.operation(entity).get("params")
            with self._lock:
                params = self._params[key] = _Params(derived, self) if derived else None
        if params is None:
            return []
        return params.problems(request)


class _Params:
    """The query and path parameters of one operation, as one object to validate."""

    def __init__(self, derived: dict[str, dict[str, Any]], schemas: Schemas) -> None:
        self.entries: list[tuple[str, str, dict[str, Any], set[str], set[str]]] = []
        shape: dict[str, Any] = {"type": "object", "properties": {}}
        for where, params in derived.items():
            properties = {name: entry["schema"] for name, entry in params.items()}
            required = sorted(name for name, entry in params.items() if entry.get("required"))
            shape["properties"][where] = {"type": "object", "properties": properties, "required": required}
            for name, entry in params.items():
                kinds = schemas.kinds(entry["schema"])
                items = schemas.kinds(entry["schema"].get("items")) if "array" in kinds else set()
                self.entries.append((where, name, entry, kinds, items))
        self.validator = Validator(shape, schemas.definitions)

    def problems(self, request: Request) -> list[Problem]:
        value: dict[str, dict[str, Any]] = {"path": {}, "query": {}}
        decoding: list[Problem] = []
        for where, name, entry, kinds, items in self.entries:
            if where == "path":
                raw = [request.path_params[name]] if name in request.path_params else None
            else:
                raw = request.query.get(name)
            if raw is None:
                continue
            if entry.get("json"):
                try:
                    value[where][name] = json.loads(raw[0])
                except ValueError:
                    decoding.append({"loc": [where, name], "msg": "Input should be valid JSON", "type": "json_invalid"})
            elif "array" in kinds:
                value[where][name] = [coerce(text, items) for text in raw]
            else:
                value[where][name] = coerce(raw[0], kinds)
        return decoding + self.validator.problems(value, [])


def key_of(entity: Entity) -> str:
    """The key of ``entity``'s derived facts (see :func:`alumio_mistral.sandbox.derive.operation_key`)."""
    fragment = entity.extra.get("fragment")
    return entity.operation_id or f"{entity.method} {entity.path}{'#' + fragment if fragment else ''}"


def coerce(text: str, kinds: set[str]) -> Any:
    """A query, path or form value as the JSON value its schema's types suggest (else the text)."""
    if "integer" in kinds and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if "number" in kinds and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return float(text)
    if "boolean" in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kinds and kinds <= {"object", "array", "null"}:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}.get(type(value), "string")


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


@lru_cache(maxsize=1)
def _shipped() -> Schemas:
    return Schemas(json.loads(SCHEMAS_FILE.read_text(encoding="utf-8")))


@lru_cache(maxsize=4)
def _for_spec(spec_path: str) -> Schemas:
    from alumio_mistral.sandbox.derive import derive_file

    base = _shipped()
    newer = derive_file(spec_path)
    return Schemas({"definitions": {**base.definitions, **newer["definitions"]},
                    "operations": {**base.operations, **newer["operations"]}})
