"""The shipped sandbox schemas are exactly what the generator derives from the Mistral spec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alumio_mistral.catalog.spec import load_spec
from alumio_mistral.sandbox.derive import DEFAULT_OUT, derive, derive_file, dumps, main
from alumio_mistral.sandbox.validation import Schemas

SPEC = Path(__file__).parents[2].parent / "shared" / "mistral" / "openapi.yaml"
needs_spec = pytest.mark.skipif(not SPEC.exists(), reason="the Mistral spec is not beside the repo")
#: every keyword a derived schema may hold: no prose (description, title, examples) ever
KEYWORDS = {"type", "enum", "const", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
            "multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
            "minProperties", "maxProperties", "required", "anyOf", "oneOf", "allOf", "not", "propertyNames",
            "additionalProperties", "additionalItems", "properties", "items", "$ref"}


def schema_nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema inside ``node`` (property maps walked by value, not by name)."""
    if isinstance(node, list):
        for item in node:
            yield from schema_nodes(item)
        return
    if not isinstance(node, dict):
        return
    yield node
    for key, value in node.items():
        if key == "properties":
            for inner in value.values():
                yield from schema_nodes(inner)
        elif key in ("items", "anyOf", "oneOf", "allOf", "not", "propertyNames", "additionalProperties",
                     "additionalItems"):
            yield from schema_nodes(value)


@needs_spec
def test_committed_schemas_equal_a_fresh_derivation() -> None:
    assert dumps(derive_file(SPEC)) == DEFAULT_OUT.read_text(encoding="utf-8"), (
        "schemas.json is stale: run python -m alumio_mistral.sandbox.derive <spec>"
    )


@needs_spec
def test_command_line_writes_the_same_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "schemas.json"
    assert main([str(SPEC), "--out", str(out)]) == 0
    assert out.read_bytes() == DEFAULT_OUT.read_bytes()
    assert "288 operations" in capsys.readouterr().out


def test_shipped_schemas_hold_no_prose_and_only_known_keywords() -> None:
    shipped = Schemas.shipped()
    assert len(shipped.operations) == 288
    schemas = [*shipped.definitions.values()]
    for facts in shipped.operations.values():
        schemas += [facts.get("body", {}).get("schema"), facts.get("response", {}).get("schema")]
        schemas += [entry["schema"] for where in facts.get("params", {}).values() for entry in where.values()]
    unknown = {key for schema in schemas for node in schema_nodes(schema) for key in node} - KEYWORDS
    assert unknown == set()


def spec_with(schemas: dict[str, Any], body: Any) -> dict[str, Any]:
    return {"openapi": "3.1.0", "components": {"schemas": schemas}, "paths": {"/v1/things": {"post": {
        "operationId": "things_create", "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"201": {"description": "made", "content": {"application/json": {"schema": body}}}}}}}}


def test_refs_with_siblings_nested_defs_and_prefix_items_become_draft_7() -> None:
    schemas = {"Thing": {"type": "object", "title": "Thing", "description": "prose", "examples": [{}],
                         "properties": {"kind": {"$ref": "#/$defs/Kind"}, "pair": {"type": "array", "prefixItems": [
                             {"type": "integer"}, {"type": "number"}]},
                             "other": {"$ref": "#/components/schemas/Other", "maxLength": 3}},
                         "$defs": {"Kind": {"type": "string", "enum": ["a"]}}},
               "Other": {"type": "string", "format": "uuid", "x-speakeasy-name-override": "o"},
               "Unused": {"type": "string"}}
    derived = derive(spec_with(schemas, {"$ref": "#/components/schemas/Thing"}))
    thing = derived["definitions"]["Thing"]
    assert thing["properties"]["kind"] == {"$ref": "#/definitions/Thing.Kind"}
    assert derived["definitions"]["Thing.Kind"] == {"type": "string", "enum": ["a"]}
    assert thing["properties"]["pair"] == {"type": "array", "items": [{"type": "integer"}, {"type": "number"}]}
    assert thing["properties"]["other"] == {"allOf": [{"$ref": "#/definitions/Other"}, {"maxLength": 3}]}
    assert derived["definitions"]["Other"] == {"type": "string", "format": "uuid"}
    assert "Unused" not in derived["definitions"]
    operation = derived["operations"]["things_create"]
    assert operation["body"] == {"media": "json", "required": True, "schema": {"$ref": "#/definitions/Thing"}}
    assert operation["response"] == {"status": 201, "media": "application/json", "schema": {"$ref": "#/definitions/Thing"}}


def test_yaml_1_2_exponent_numbers_are_numbers(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.1.0\npaths: {}\ncomponents:\n  schemas:\n    Max:\n      type: number\n"
                    "      exclusiveMaximum: 1e+09\n      minimum: -2E-3\n", encoding="utf-8")
    schema = load_spec(spec)["components"]["schemas"]["Max"]
    assert schema["exclusiveMaximum"] == 1e9 and schema["minimum"] == -0.002
