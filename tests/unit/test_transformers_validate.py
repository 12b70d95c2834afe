"""Validate: a field list built into a marshmallow schema; failures name the fields."""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import TransformConfigError, TransformError, compile_pipeline

RULES = {
    "id": {"type": "integer", "required": True},
    "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
    "status": {"type": "string", "one_of": ["open", "closed"]},
    "score": {"type": "number", "min": 0, "max": 1, "allow_null": True},
    "customer.name": {"type": "string", "required": True, "min_length": 1},
    "tags": {"type": "list", "max_length": 2},
    "when": {"type": "date"},
}


def check(entity: Any, on_failure: str = "fail") -> list[Any]:
    return compile_pipeline([{"type": "validate", "fields": RULES, "on_failure": on_failure}]).run(entity)


def test_a_valid_entity_passes_unchanged() -> None:
    entity = {
        "id": 1,
        "email": "a@b",
        "status": "open",
        "score": None,
        "customer": {"name": "N", "x": 1},
        "tags": [],
        "when": "2024-01-01T00:00:00",
        "extra": True,
    }
    assert check(entity) == [entity]


@pytest.mark.parametrize(
    "entity, field, message",
    [
        ({"customer": {"name": "n"}}, "id", "Missing data"),
        ({"id": "1", "customer": {"name": "n"}}, "id", "expects integer, got a string"),
        ({"id": True, "customer": {"name": "n"}}, "id", "expects integer, got a boolean"),
        ({"id": None, "customer": {"name": "n"}}, "id", "may not be null"),
        ({"id": 1, "customer": {"name": "n"}, "email": "nope"}, "email", "does not match"),
        ({"id": 1, "customer": {"name": "n"}, "status": "gone"}, "status", "Must be one of"),
        ({"id": 1, "customer": {"name": "n"}, "score": 2}, "score", "less than or equal"),
        ({"id": 1}, "customer", "Missing data"),
        ({"id": 1, "customer": {"name": ""}}, "customer.name", "Shorter than minimum"),
        ({"id": 1, "customer": "Ann"}, "customer", "Invalid input type"),
        ({"id": 1, "customer": {"name": "n"}, "tags": [1, 2, 3]}, "tags", "Longer than maximum"),
        ({"id": 1, "customer": {"name": "n"}, "when": "tuesday"}, "when", "ISO-8601"),
    ],
)
def test_failures_name_the_field(entity: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(TransformError, match=message) as caught:
        check(entity)
    assert f"field '{field}'" in str(caught.value)


def test_skip_drops_invalid_entities_and_non_objects() -> None:
    assert check({"id": "x"}, on_failure="skip") == []
    assert check([1], on_failure="skip") == []
    with pytest.raises(TransformError, match="expects an object, got a list"):
        check([1])


def test_unknown_rule_keys_and_types_fail_at_load() -> None:
    with pytest.raises(TransformConfigError) as caught:
        compile_pipeline([{"type": "validate", "fields": {"a": {"type": "float", "size": 3}}}], source="p.yaml")
    text = str(caught.value)
    assert (
        "p.yaml: [0].fields.a.value.type: Must be one of" in text and "[0].fields.a.value.size: unknown key; expected one of: allow_null" in text
    )
