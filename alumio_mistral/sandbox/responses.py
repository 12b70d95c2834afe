"""Answers built from response schemas: a realistic, valid instance of any derived schema.

Operations the sandbox keeps no state for still answer with something a client can parse and
validate: required fields filled, ids as uuids, timestamps, the first enum value, arrays of one
item; deterministic for a seed (each operation draws from its own seeded generator, so the
order of calls changes nothing). Binary answers are bytes of the documented media type.
"""

from __future__ import annotations

import random
import re
import struct
import uuid
from typing import Any

from jsonschema import Draft7Validator

from alumio_mistral.sandbox.validation import Schemas

#: when built answers say a thing happened (2026-01-01T00:00:00Z)
TIMESTAMP = 1767225600
_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "uri": "https://sandbox.invalid/",
    "email": "sandbox@example.com",
}
#: beyond this nesting only what the schema requires is built (recursive schemas end)
MAX_DEPTH = 10


def wav_bytes(seconds: float = 0.1, rate: int = 8000) -> bytes:
    """A short silent 8-bit mono WAV file: what an audio answer sends."""
    frames = b"\x80" * int(seconds * rate)
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8)
    return header + b"data" + struct.pack("<I", len(frames)) + frames


class Builder:
    """Builds instances of the derived schemas (``$ref`` followed in their definitions)."""

    def __init__(self, schemas: Schemas, seed: int = 0) -> None:
        self.schemas = schemas
        self.seed = seed
        self._rng = random.Random(seed)
        #: ``operationId`` -> (required names, properties) of its response schema, for ``complete``
        self._required: dict[str, tuple[list[str], dict[str, Any]]] = {}

    def _deref(self, schema: Any) -> Any:
        for _ in range(32):
            if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str)):
                break
            schema = self.schemas.definitions.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return schema

    def build(self, schema: Any, key: str = "") -> Any:
        """An instance of ``schema``, the same for the same seed and ``key`` (e.g. an operationId)."""
        self._rng = random.Random(f"{self.seed}:{key}")
        return self.example(schema)

    def example(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        """A value matching ``schema``; ``name`` (the property it fills) makes it more realistic."""
        schema = self._deref(schema)
        if not isinstance(schema, dict):
            return None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "allOf" in schema:
            return self.example(self._flatten(schema), name, depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._choice(schema, key, name, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None and "properties" in schema:
            kind = "object"
        return self._typed(schema, kind, name, depth)

    def _flatten(self, schema: dict[str, Any]) -> dict[str, Any]:
        """One schema for an ``allOf``: properties and required names of every part together
        (a part may require a field another part defines)."""
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties = dict(merged.get("properties", {}))
        required = list(merged.get("required", []))
        for part in schema["allOf"]:
            part = self._deref(part)
            if isinstance(part, dict) and "allOf" in part:
                part = self._flatten(part)
            if not isinstance(part, dict):
                continue
            properties.update(part.get("properties", {}))
            required += [name for name in part.get("required", []) if name not in required]
            for key, value in part.items():
                merged.setdefault(key, value)
        merged.update(properties=properties, required=required)
        return merged

    def _choice(self, schema: dict[str, Any], key: str, name: str, depth: int) -> Any:
        """The first option whose instance the whole schema accepts (``oneOf``: exactly one option)."""
        options = schema[key]
        real = [o for o in options if self._deref(o).get("type") != "null"]
        if not real or depth > MAX_DEPTH or (len(real) < len(options) and _is_page_link(name)):
            return None if len(real) < len(options) else self.example(options[0], name, depth + 1)
        rest = {k: v for k, v in schema.items() if k != key}
        candidates = [self.example({**rest, **self._deref(option)} if rest else option, name, depth + 1)
                      for option in real]
        check = Draft7Validator({"definitions": self.schemas.definitions, **schema})
        return next((c for c in candidates if check.is_valid(c)), candidates[0])

    def _typed(self, schema: dict[str, Any], kind: Any, name: str, depth: int) -> Any:
        if kind == "object":
            properties = schema.get("properties", {})
            return {key: self.example(properties.get(key, {}), key, depth + 1) for key in schema.get("required", [])}
        if kind == "array":
            items = schema.get("items", {})
            if isinstance(items, list):
                return [self.example(item, name, depth + 1) for item in items]
            count = max(int(schema.get("minItems", 0)), 0 if depth > MAX_DEPTH else 1)
            count = min(count, int(schema.get("maxItems", count)))
            return [self.example(items, name, depth + 1) for _ in range(count)]
        if kind == "string":
            return self._string(schema, name)
        if kind in ("integer", "number"):
            return self._number(schema, kind, name)
        if kind == "boolean":
            return False
        return None

    def _string(self, schema: dict[str, Any], name: str) -> str:
        form = schema.get("format", "")
        if form == "uuid" or (not form and (name == "id" or name.endswith("_id")) and "pattern" not in schema):
            text = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        else:
            text = _FORMATS.get(form, f"sandbox {name}".strip() if name else "sandbox")
        if "pattern" in schema:
            text = _matching(schema["pattern"], text)
        text = text.ljust(int(schema.get("minLength", 0)), "x")
        return text[: int(schema["maxLength"])] if "maxLength" in schema else text

    @staticmethod
    def _number(schema: dict[str, Any], kind: str, name: str) -> int | float:
        low = schema.get("minimum")
        if low is None and "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + (1 if kind == "integer" else 0.5)
        timestamp = name == "created" or name.endswith(("_at", "timestamp"))
        value = low if low is not None else (TIMESTAMP if timestamp else 0)
        high = schema.get("maximum")
        if high is None and "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - (1 if kind == "integer" else 0.5)
        if high is not None and value > high:
            value = high if low is None else low
        return int(value) if kind == "integer" else float(value)

    def stream_event(self, schema: Any, key: str = "") -> tuple[str | None, Any]:
        """(event name, data) of one event of a stream whose event schema is ``schema``."""
        self._rng = random.Random(f"{self.seed}:{key}")
        schema = self._deref(schema)
        if isinstance(schema, dict) and "allOf" in schema:
            schema = self._flatten(schema)
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if "data" not in properties:
            return None, self.example(schema)
        event = self.example(properties["event"]) if "event" in properties else None
        return (str(event) if event is not None else None), self.example(properties["data"])

    def error(self, schema: Any, message: str, key: str = "") -> Any:
        """An error answer in the shape ``schema`` documents, saying ``message`` in its message fields."""
        value = self.build(schema, key)
        _put_message(value, message)
        return value

    def complete(self, operation_id: str, schema: Any, value: Any) -> Any:
        """``value`` with the required top-level fields ``schema`` (and its ``allOf``) names added."""
        if not isinstance(value, dict):
            return value
        if operation_id not in self._required:
            flat = self._deref(schema)
            flat = self._flatten(flat) if isinstance(flat, dict) and "allOf" in flat else flat
            flat = flat if isinstance(flat, dict) else {}
            self._required[operation_id] = (flat.get("required", []), flat.get("properties", {}))
        required, properties = self._required[operation_id]
        for name in required:
            if name not in value:
                value[name] = self.example(properties.get(name, {}), name)
        return value


def _put_message(value: Any, message: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("message", "msg") and isinstance(inner, str):
                value[key] = message
            else:
                _put_message(inner, message)
    elif isinstance(value, list):
        for inner in value:
            _put_message(inner, message)


def _is_page_link(name: str) -> bool:
    """A field naming a further page: null in a built answer, so that clients stop paging."""
    return name.startswith(("next", "prev")) or name.endswith(("cursor", "page_token"))


def _matching(pattern: str, preferred: str) -> str:
    """A short string that ``pattern`` accepts (tries plain candidates; enough for id patterns)."""
    sizes = [int(n) for n in re.findall(r"\{(\d+)", pattern)] or [1]
    candidates = [preferred, *("0" * n for n in sizes), *("a" * n for n in sizes), "0", "a", "a-0", "en"]
    for candidate in candidates:
        if re.search(pattern, candidate):
            return candidate
    return preferred
