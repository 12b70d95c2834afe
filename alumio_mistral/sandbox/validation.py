"""Request validation against a spec file's JSON schemas (OpenAPI 3.1 = JSON Schema 2020-12).

Operations are found in the spec by ``operationId`` (so inline schemas work as well as named
ones). One validator is built per schema, on first use, over the schema with its ``$ref``
inlined (recursive branches become "any value"): that validates twice as fast as following
references through a registry on every request.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.catalog.spec import load_spec, resolve_schema

_METHODS = ("get", "put", "post", "delete", "patch")
#: at most this many problems are reported in one 422 answer
MAX_PROBLEMS = 20


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class SpecSchemas:
    """Where each operation's request and response schemas are in one spec, and validators for them."""

    def __init__(self, spec_path: str | Path) -> None:
        self.spec = load_spec(spec_path)
        #: operationId -> JSON pointer of the operation node
        self.operations: dict[str, str] = {}
        for raw_path, item in self.spec.get("paths", {}).items():
            for method in _METHODS:
                op = item.get(method) if isinstance(item, dict) else None
                if isinstance(op, dict) and op.get("operationId"):
                    self.operations[op["operationId"]] = f"/paths/{_escape(raw_path)}/{method}"
        self._validators: dict[str, Draft202012Validator | None] = {}
        self._pointers: dict[tuple[str, str], str | None] = {}
        self._lock = threading.Lock()

    def node(self, pointer: str) -> Any:
        node: Any = self.spec
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def request_pointer(self, entity: Entity) -> str | None:
        """Pointer to the JSON request body schema of ``entity``, if the spec has one."""
        key = ("request", entity.operation_id)
        if key not in self._pointers:
            self._pointers[key] = self._request_pointer(entity)
        return self._pointers[key]

    def response_pointer(self, entity: Entity) -> str | None:
        """Pointer to the schema of the first success answer of ``entity`` (JSON, or one SSE event)."""
        key = ("response", entity.operation_id)
        if key not in self._pointers:
            self._pointers[key] = self._response_pointer(entity)
        return self._pointers[key]

    def _request_pointer(self, entity: Entity) -> str | None:
        base = self.operations.get(entity.operation_id)
        if base is None:
            return None
        content = self.node(base).get("requestBody", {}).get("content", {})
        return f"{base}/requestBody/content/application~1json/schema" if "application/json" in content else None

    def _response_pointer(self, entity: Entity) -> str | None:
        base = self.operations.get(entity.operation_id)
        if base is None:
            return None
        responses = self.node(base).get("responses", {})
        for code in sorted(str(c) for c in responses):
            if code.startswith("2"):
                content = responses[code].get("content") or {}
                for kind in ("application/json", "text/event-stream"):
                    if "schema" in content.get(kind, {}):
                        return f"{base}/responses/{code}/content/{_escape(kind)}/schema"
                return None
        return None

    def validator(self, pointer: str) -> Draft202012Validator:
        """A validator for the schema at ``pointer``, built once."""
        with self._lock:
            found = self._validators.get(pointer)
            if found is None:
                found = Draft202012Validator(resolve_schema(self.spec, self.node(pointer)))
                self._validators[pointer] = found
            return found

    def problems(self, entity: Entity, body: Any) -> list[dict[str, Any]]:
        """422 ``detail`` items for a JSON request body (empty when valid or not checkable)."""
        pointer = self.request_pointer(entity)
        if pointer is None:
            return []
        errors = sorted(self.validator(pointer).iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
        problems: list[dict[str, Any]] = []
        for error in errors[:MAX_PROBLEMS]:
            where = ["body", *error.absolute_path]
            if error.validator == "required" and isinstance(error.instance, dict):
                missing = [name for name in error.validator_value if name not in error.instance]
                problems += [{"loc": [*where, name], "msg": "Field required", "type": "missing"} for name in missing]
            else:
                problems.append({"loc": where, "msg": _short(error.message), "type": str(error.validator)})
        return problems


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."
