"""Answers built from response schemas: a minimal valid instance of any JSON schema.

Operations the sandbox keeps no state for still answer with something a client can parse and
validate: required fields only, the first enum value, typed placeholders for formats.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from alumio_mistral.sandbox.validation import SpecSchemas

_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://sandbox.invalid/",
    "url": "https://sandbox.invalid/",
    "email": "sandbox@example.com",
    "binary": "",
}
MAX_DEPTH = 12


class Builder:
    """Builds minimal instances of a spec's schemas (``$ref`` followed in the spec)."""

    def __init__(self, schemas: SpecSchemas) -> None:
        self.schemas = schemas
        #: pointer -> (required names, properties) of a response schema, for ``complete``
        self._required: dict[str, tuple[list[str], dict[str, Any]]] = {}

    def _deref(self, schema: Any) -> Any:
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
            schema = self.schemas.node(schema["$ref"].lstrip("#"))
        return schema

    def example(self, schema: Any, valid: Callable[[Any], bool] | None = None, depth: int = 0) -> Any:
        """A minimal value matching ``schema``; ``valid`` picks among ``oneOf``/``anyOf`` options."""
        schema = self._deref(schema)
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "allOf" in schema:
            return self.example(self._flatten(schema, depth), valid, depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._choice(schema[key], valid, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None and "properties" in schema:
            kind = "object"
        return self._typed(schema, kind, depth)

    def _flatten(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """One schema for an ``allOf``: properties and required names of every part together
        (a part may require a field another part defines)."""
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties = dict(merged.get("properties", {}))
        required = list(merged.get("required", []))
        for part in schema["allOf"]:
            part = self._deref(part)
            if isinstance(part, dict) and "allOf" in part and depth < MAX_DEPTH:
                part = self._flatten(part, depth + 1)
            if not isinstance(part, dict):
                continue
            properties.update(part.get("properties", {}))
            required += [name for name in part.get("required", []) if name not in required]
            for key, value in part.items():
                merged.setdefault(key, value)
        merged.update(properties=properties, required=required)
        return merged

    def _choice(self, options: list[Any], valid: Callable[[Any], bool] | None, depth: int) -> Any:
        real = [o for o in options if self._deref(o).get("type") != "null"] or options
        candidates = [self.example(option, None, depth + 1) for option in real]
        if valid is not None:
            for candidate in candidates:
                if valid(candidate):
                    return candidate
        return candidates[0] if candidates else None

    def _typed(self, schema: dict[str, Any], kind: Any, depth: int) -> Any:
        if kind == "object":
            properties = schema.get("properties", {})
            required = schema.get("required", [])
            return {name: self.example(properties.get(name, {}), None, depth + 1) for name in required}
        if kind == "array":
            count = int(schema.get("minItems", 0))
            return [self.example(schema.get("items", {}), None, depth + 1) for _ in range(count)]
        if kind == "string":
            text = _FORMATS.get(schema.get("format", ""), "sandbox")
            if "pattern" in schema:
                text = _matching(schema["pattern"], text)
            return text.ljust(int(schema.get("minLength", 0)), "x")
        if kind == "integer":
            return int(schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1))
        if kind == "number":
            return float(schema.get("minimum", 0))
        if kind == "boolean":
            return False
        return None

    def for_pointer(self, pointer: str) -> Any:
        """A minimal instance of the schema at ``pointer``, checked against its validator."""
        validator = self.schemas.validator(pointer)
        return self.example(self.schemas.node(pointer), validator.is_valid)

    def stream_event(self, pointer: str) -> tuple[str | None, Any]:
        """(event name, data) of one event of a stream whose event schema is at ``pointer``."""
        schema = self._deref(self.schemas.node(pointer))
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if "data" in properties:
            event = self.example(properties["event"]) if "event" in properties else None
            return (str(event) if event is not None else None), self.example(properties["data"])
        return None, self.example(schema)

    def complete(self, pointer: str, value: Any) -> Any:
        """``value`` with the required top-level fields the schema (and its ``allOf``) names added."""
        if not isinstance(value, dict):
            return value
        if pointer not in self._required:
            schema = self._deref(self.schemas.node(pointer))
            flat = (self._flatten(schema, 0) if "allOf" in schema else schema) if isinstance(schema, dict) else {}
            self._required[pointer] = (flat.get("required", []), flat.get("properties", {}))
        required, properties = self._required[pointer]
        for name in required:
            if name not in value:
                value[name] = self.example(properties.get(name, {}))
        return value


def _matching(pattern: str, preferred: str) -> str:
    """A short string that ``pattern`` accepts (tries plain candidates; enough for id patterns)."""
    sizes = [int(n) for n in re.findall(r"\{(\d+)", pattern)] or [1]
    candidates = [preferred, *("0" * n for n in sizes), *("a" * n for n in sizes), "0", "a", "a-0"]
    for candidate in candidates:
        if re.search(pattern, candidate):
            return candidate
    return preferred
