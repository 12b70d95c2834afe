"""The sandbox's JSON document generator: valid against the schema it was given, and deterministic."""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal, Optional, Union

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from alumio_mistral.sandbox.fake_json import fake


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Author(BaseModel):
    name: str = Field(min_length=3, max_length=10)
    age: int = Field(ge=18, lt=120)
    colors: list[Color] = Field(min_length=2)
    nick: Optional[str] = None
    pet: Union[Cat, Dog] = Field(discriminator="kind")
    tags: set[str] = set()
    scores: dict[str, float] = Field(min_length=1)


class Book(BaseModel):
    title: str
    authors: list[Author]
    kind: Literal["novel", "essay"]
    rating: float = Field(gt=0, le=5)
    isbn: str = Field(pattern=r"^\d{3}-\d{10}$")
    parent: Optional["Book"] = None


def test_a_pydantic_model_schema_with_refs_unions_and_bounds_parses_back() -> None:
    schema = Book.model_json_schema()
    document = fake(schema, "seed")
    jsonschema.validate(document, schema)
    Book.model_validate(document)
    assert document["authors"], "arrays get an item so answers look realistic"


def test_the_same_schema_and_seed_give_the_same_document_and_seeds_vary_it() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    assert fake(schema, "a") == fake(schema, "a")
    assert len({repr(fake(schema, seed)) for seed in "abcdef"}) > 1


def test_a_tool_parameter_schema_gets_every_required_argument() -> None:
    schema = {"type": "object", "additionalProperties": False, "required": ["location"],
              "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}}}
    arguments = fake(schema)
    jsonschema.validate(arguments, schema)
    assert arguments["unit"] == "c"


@pytest.mark.parametrize("schema", [
    {"type": "integer", "exclusiveMinimum": 5, "exclusiveMaximum": 7},
    {"type": "number", "minimum": 1, "maximum": 1},
    {"type": ["null", "array"], "items": {"type": "integer", "multipleOf": 5, "minimum": 3}, "uniqueItems": True,
     "minItems": 3},
    {"type": "array", "items": {"enum": [1, 2, 3]}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
    {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2},
    {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "integer"}]},
    {"allOf": [{"properties": {"a": {"type": "string"}}, "required": ["a"]}, {"required": ["b"]}]},
    {"type": "string", "pattern": r"^(ft|ag)_[A-Za-z0-9]{4,}$"},
    {"type": "string", "format": "date-time"},
    {"$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
     "$ref": "#/$defs/node"},
    {},
])
def test_edge_schemas(schema: dict[str, Any]) -> None:
    jsonschema.validate(fake(schema), schema)


@pytest.mark.parametrize("pattern", [r"^\d{3}-\d{10}$", r"^[a-z0-9_-]{3,}$", r"[^@]+@[^@]+\.com", r"^\w+(?:\.\w+)*$"])
def test_patterns_are_spelled_out(pattern: str) -> None:
    assert re.search(pattern, fake({"type": "string", "pattern": pattern}))


_leaf = st.one_of(
    st.builds(lambda low, span: {"type": "integer", "minimum": low, "maximum": low + span},
              st.integers(-50, 50), st.integers(0, 20)),
    st.builds(lambda low: {"type": "number", "exclusiveMinimum": low}, st.floats(-10, 10)),
    st.builds(lambda low, extra: {"type": "string", "minLength": low, "maxLength": low + extra},
              st.integers(0, 8), st.integers(0, 8)),
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4, unique=True).map(lambda v: {"enum": v}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), children, max_size=4).flatmap(
        lambda props: st.builds(
            lambda required: {"type": "object", "properties": props, "required": required,
                              "additionalProperties": False},
            st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([]),
        )
    )
    arrays = st.builds(lambda items, low: {"type": "array", "items": items, "minItems": low},
                       children, st.integers(0, 3))
    nullable = children.map(lambda child: {"anyOf": [child, {"type": "null"}]})
    return st.one_of(objects, arrays, nullable)


@settings(max_examples=150, deadline=None)
@given(st.recursive(_leaf, _extend, max_leaves=12))
def test_any_generated_schema_accepts_its_document(schema: dict[str, Any]) -> None:
    document = fake(schema, "property")
    jsonschema.validate(document, schema)
    assert fake(schema, "property") == document
