"""Deterministic JSON documents valid against a client's JSON schema.

A client that forces a tool call or asks for a ``json_schema`` answer parses what comes back
with its own models (pydantic in the SDKs), so the sandbox must answer a document that schema
accepts: tool-call ``arguments`` and structured outputs both come from :func:`fake`. The same
schema and seed always give the same document, so tests can compare answers.

Handles what JSON-schema generators (pydantic, zod, hand-written tool specs) emit: local
``$ref`` (``#/$defs/...``, ``#/definitions/...``), ``allOf``/``anyOf``/``oneOf``, ``enum``,
``const``, nullable type lists, bounds, lengths, ``pattern`` for simple id-like patterns,
``uniqueItems`` and common ``format`` values.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

try:  # the regex parser moved in Python 3.11
    from re import _parser as _regex_parser  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _regex_parser  # type: ignore[no-redef]

from jsonschema import validators

#: nesting depth after which optional properties and array items are left out (keeps answers small)
SHALLOW_DEPTH = 4
#: nesting depth after which nothing more is generated (recursive schemas end here)
MAX_DEPTH = 16
_FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "12:00:00Z",
    "duration": "P1D",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "uri": "https://example.com/sandbox",
    "url": "https://example.com/sandbox",
    "uri-reference": "/sandbox",
    "email": "sandbox@example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def fake(schema: Any, seed: str = "", root: Any = None) -> Any:
    """A document valid against ``schema``; its local ``$ref`` resolve within ``root`` (a whole
    OpenAPI document, say) or, by default, within ``schema`` itself."""
    return _Faker(schema if root is None else root, seed).value(schema, "", 0)


class _Faker:
    def __init__(self, root: Any, seed: str) -> None:
        self.root = root
        self.seed = seed
        self._validator: Any = None

    # -- helpers ------------------------------------------------------------------------------

    def _number(self, path: str) -> int:
        """A stable pseudo-random number for one position in the document."""
        return int(hashlib.sha256(f"{self.seed}|{path}".encode()).hexdigest()[:8], 16)

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node = self.root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def _deref(self, schema: Any, depth: int) -> Any:
        while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and depth < MAX_DEPTH:
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            target = self._resolve(schema["$ref"])
            schema = {**target, **siblings} if isinstance(target, dict) else target
            depth += 1
        return schema

    def _valid(self, schema: Any, value: Any) -> bool:
        """Whether ``value`` matches ``schema`` (``$ref`` resolved against the root schema)."""
        if not isinstance(self.root, dict):
            return True
        if self._validator is None:
            cls = validators.validator_for(self.root, default=validators.Draft202012Validator)
            self._validator = cls(self.root)
        return bool(self._validator.evolve(schema=schema).is_valid(value))

    # -- generation ---------------------------------------------------------------------------

    def value(self, schema: Any, path: str, depth: int) -> Any:
        schema = self._deref(schema, depth)
        if schema is True or schema == {} or schema is None:
            return self._string({}, path)
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "allOf" in schema:
            return self.value(self._merge(schema, depth), path, depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return self._choice(schema, key, path, depth)
        return self._typed(schema, _kind(schema), path, depth)

    def _merge(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """One schema for an ``allOf``: properties and required names of all parts together."""
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties = dict(merged.get("properties", {}))
        required = list(merged.get("required", []))
        for part in schema["allOf"]:
            part = self._deref(part, depth)
            if isinstance(part, dict) and "allOf" in part:
                part = self._merge(part, depth + 1)
            if not isinstance(part, dict):
                continue
            properties.update(part.get("properties", {}))
            required += [name for name in part.get("required", []) if name not in required]
            for key, item in part.items():
                merged.setdefault(key, item)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def _choice(self, schema: dict[str, Any], key: str, path: str, depth: int) -> Any:
        """The first option (``null`` last) whose document the whole schema accepts."""
        options = schema[key]
        real = [o for o in options if self._deref(o, depth) not in ({"type": "null"},)]
        ordered = real + [o for o in options if o not in real]
        rest = {k: v for k, v in schema.items() if k != key}
        candidates = []
        for option in ordered:
            option = self._deref(option, depth)
            combined = {**rest, **option} if isinstance(option, dict) and rest else option
            candidate = self.value(combined, path, depth + 1)
            if self._valid(schema, candidate):
                return candidate
            candidates.append(candidate)
        return candidates[0] if candidates else None

    def _typed(self, schema: dict[str, Any], kind: str, path: str, depth: int) -> Any:
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, path, depth)
        if kind == "integer":
            return self._integer(schema, path)
        if kind == "number":
            return self._float(schema, path)
        if kind == "boolean":
            return self._number(path) % 2 == 0
        if kind == "null":
            return None
        return self._string(schema, path)

    def _object(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties = schema.get("properties", {})
        required = list(schema.get("required", []))
        names = list(properties) if depth < SHALLOW_DEPTH else []
        names += [name for name in required if name not in names]
        document = {name: self.value(properties.get(name, {}), f"{path}.{name}", depth + 1) for name in names}
        extra = schema.get("additionalProperties")
        wanted = int(schema.get("minProperties", 0))
        index = 0
        while len(document) < wanted:
            key = f"key_{index}"
            index += 1
            if key not in document:
                value_schema = extra if isinstance(extra, dict) else {}
                document[key] = self.value(value_schema, f"{path}.{key}", depth + 1)
        return document

    def _array(self, schema: dict[str, Any], path: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or (schema["items"] if isinstance(schema.get("items"), list) else [])
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        count = max(int(schema.get("minItems", 0)), len(prefix), 1 if depth < SHALLOW_DEPTH else 0)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        values: list[Any] = []
        attempt = 0
        while len(values) < count and attempt < 4 * count:
            index = len(values)
            item_schema = prefix[index] if index < len(prefix) else items
            value = self._item(item_schema, f"{path}[{attempt}]", depth, attempt)
            attempt += 1
            if not (schema.get("uniqueItems") and value in values):
                values.append(value)
        return values

    def _item(self, schema: Any, path: str, depth: int, index: int) -> Any:
        """Item ``index`` of an array: enums take their ``index``-th value so unique items stay unique."""
        resolved = self._deref(schema, depth)
        if isinstance(resolved, dict) and resolved.get("enum"):
            return resolved["enum"][index % len(resolved["enum"])]
        return self.value(schema, path, depth + 1)

    def _integer(self, schema: dict[str, Any], path: str) -> int:
        low, high = _bounds(schema, integer=True)
        value = low + self._number(path) % 100 if high is None else low + self._number(path) % (high - low + 1)
        step = schema.get("multipleOf")
        if isinstance(step, int) and step > 0:
            value = -(-value // step) * step
            if high is not None and value > high:
                value -= step
        return int(value)

    def _float(self, schema: dict[str, Any], path: str) -> float:
        low, high = _bounds(schema, integer=False)
        value = round(low + (self._number(path) % 1000) / 1000 * (100.0 if high is None else high - low), 3)
        return float(value if high is None or low <= value <= high else low)

    def _string(self, schema: dict[str, Any], path: str) -> str:
        name = path.rsplit(".", 1)[-1].split("[")[0] or "value"
        text = _FORMATS.get(str(schema.get("format", "")))
        if text is None:
            text = f"{name} {_WORDS[self._number(path) % len(_WORDS)]}"
        if "pattern" in schema:
            text = _matching(str(schema["pattern"]), text)
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(text) < low:
            text = text + "x" * (low - len(text))
        if high is not None and len(text) > int(high):
            text = text[: int(high)]
        return text


def _kind(schema: dict[str, Any]) -> str:
    """The JSON type to generate: the first non-null of ``type``, else what the keywords imply."""
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "additionalProperties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "string"


def _bounds(schema: dict[str, Any], integer: bool) -> tuple[float, float | None]:
    """The inclusive (low, high) range a number may take (``high`` ``None`` when unbounded)."""
    nudge = 1 if integer else 0.001
    low: float = 0
    high: float | None = None
    if "minimum" in schema:
        low = schema["minimum"]
    elif isinstance(schema.get("exclusiveMinimum"), (int, float)) and not isinstance(schema["exclusiveMinimum"], bool):
        low = schema["exclusiveMinimum"] + nudge
    if "maximum" in schema:
        high = schema["maximum"]
    elif isinstance(schema.get("exclusiveMaximum"), (int, float)) and not isinstance(schema["exclusiveMaximum"], bool):
        high = schema["exclusiveMaximum"] - nudge
    if high is not None and low > high:
        low = high if "minimum" not in schema and "exclusiveMinimum" not in schema else low
    if integer:
        low = -(-low // 1)
        high = None if high is None else high // 1
    return low, high


def _matching(pattern: str, preferred: str) -> str:
    """``preferred`` when ``pattern`` accepts it, else the shortest string the pattern spells out."""
    try:
        if re.search(pattern, preferred):
            return preferred
        return "".join(_spell(_regex_parser.parse(pattern)))
    except (re.error, ValueError, TypeError):
        return preferred


def _spell(parsed: Any) -> list[str]:
    """Characters of one string a parsed regex matches: minimum repeats, first branch, first char of a set."""
    out: list[str] = []
    for op, arg in parsed:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append("a" if chr(arg) != "a" else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_member(arg))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _, item = arg
            out += _spell(item) * int(low)
        elif name == "SUBPATTERN":
            out += _spell(arg[-1])
        elif name == "ATOMIC_GROUP":
            out += _spell(arg)
        elif name == "BRANCH":
            out += _spell(arg[1][0])
        elif name == "CATEGORY":
            out.append(_CATEGORIES.get(str(arg), "a"))
        elif name not in ("AT", "ASSERT", "ASSERT_NOT"):
            raise ValueError(f"unsupported regex element {name}")
    return out


def _member(items: Any) -> str:
    """A character of a ``[...]`` set (negated sets get a letter outside the common exclusions)."""
    first_op, first_arg = items[0]
    if str(first_op) == "NEGATE":
        excluded = "".join(_spell([item]) for item in items[1:] if str(item[0]) != "RANGE")
        return next(c for c in "aZ0_-x" if c not in excluded)
    name = str(first_op)
    if name == "RANGE":
        return chr(first_arg[0])
    if name == "CATEGORY":
        return _CATEGORIES.get(str(first_arg), "a")
    return chr(first_arg) if name == "LITERAL" else "a"


_CATEGORIES = {"CATEGORY_DIGIT": "0", "CATEGORY_NOT_DIGIT": "a", "CATEGORY_WORD": "a", "CATEGORY_NOT_WORD": "-",
               "CATEGORY_SPACE": " ", "CATEGORY_NOT_SPACE": "a"}
