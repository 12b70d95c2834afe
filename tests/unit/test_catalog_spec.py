"""Spec reading helpers: caching, clear errors, ``$ref`` resolution that survives recursion."""

from __future__ import annotations

import pytest

from alumio_mistral.catalog.spec import (
    SpecError,
    deref,
    load_spec,
    ref_name,
    resolve_schema,
)
from alumio_mistral.errors import AlumioError

TREE_SPEC = {
    "paths": {},
    "components": {
        "schemas": {
            "Node": {
                "type": "object",
                "properties": {"name": {"$ref": "#/components/schemas/Name"}, "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}},
            },
            "Name": {"type": "string", "minLength": 1},
            "Alias": {"$ref": "#/components/schemas/Name"},
            "Loop": {"$ref": "#/components/schemas/Loop"},
        }
    },
}


def test_load_spec_parses_once_per_path(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("openapi: 3.1.0\npaths: {}\n", encoding="utf-8")
    first = load_spec(path)
    assert first == {"openapi": "3.1.0", "paths": {}}
    assert load_spec(str(path)) is first


def test_load_spec_reads_json(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text('{"paths": {"/x": {}}}', encoding="utf-8")
    assert load_spec(path)["paths"] == {"/x": {}}


@pytest.mark.parametrize(
    "content, message",
    [("paths: [unclosed", "not valid YAML"), ("just: text\n", "no 'paths' mapping")],
)
def test_load_spec_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SpecError, match=message) as caught:
        load_spec(path)
    assert "bad.yaml" in str(caught.value) and isinstance(caught.value, AlumioError)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError, match="cannot read the spec file"):
        load_spec(tmp_path / "absent.yaml")


def test_resolve_schema_inlines_refs_and_stops_at_recursion():
    resolved = resolve_schema(TREE_SPEC, {"$ref": "#/components/schemas/Node"})
    assert resolved["properties"]["name"] == {"type": "string", "minLength": 1}
    children = resolved["properties"]["children"]
    assert children["type"] == "array" and children["items"] == {}  # the recursive reference becomes "anything"
    assert resolve_schema(TREE_SPEC, {"$ref": "#/components/schemas/Loop"}) == {}


def test_resolve_schema_keeps_sibling_keywords():
    resolved = resolve_schema(TREE_SPEC, {"$ref": "#/components/schemas/Name", "description": "who"})
    assert resolved == {"type": "string", "minLength": 1, "description": "who"}


def test_deref_follows_chains_and_detects_cycles():
    assert deref(TREE_SPEC, {"$ref": "#/components/schemas/Alias"}) == {"type": "string", "minLength": 1}
    with pytest.raises(SpecError, match="cycle"):
        deref(TREE_SPEC, {"$ref": "#/components/schemas/Loop"})


def test_unresolvable_reference():
    with pytest.raises(SpecError, match="does not resolve"):
        resolve_schema(TREE_SPEC, {"$ref": "#/components/schemas/Missing"})
    with pytest.raises(SpecError, match="only local references"):
        resolve_schema(TREE_SPEC, {"$ref": "other.yaml#/X"})


def test_ref_name():
    assert ref_name({"$ref": "#/components/schemas/ChatCompletionRequest"}) == "ChatCompletionRequest"
    assert ref_name({"type": "object"}) is None and ref_name(None) is None
