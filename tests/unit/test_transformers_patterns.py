"""Patterns and placeholders: plain paths walked directly, jsonpath for the rest, parsed once."""

from __future__ import annotations

import pytest

from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import (
    MISSING,
    PatternError,
    compile_pattern,
    compile_template,
    compile_value,
    to_text,
)

DOC = {"a": {"b": [10, {"c": "x"}]}, "n": None, "data": [{"id": 1}, {"id": 2}]}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a.b[0]", 10),
        ("$.a.b[1].c", "x"),
        ("a.b[-1].c", "x"),
        ("n", None),
        ("$", DOC),
        ("@", DOC),
        ("a.missing", MISSING),
        ("a.b[5]", MISSING),
        ("a.b.c", MISSING),
        ("n.deeper", MISSING),
        ("$.data[*].id", 1),
        ("$..c", "x"),
        ("$.nothing[*]", MISSING),
    ],
)
def test_get(text: str, expected: object) -> None:
    assert compile_pattern(text).get(DOC) == expected


def test_find_lists_every_match_and_plain_paths_zero_or_one() -> None:
    assert compile_pattern("$.data[*].id").find(DOC) == [1, 2]
    assert compile_pattern("a.b[0]").find(DOC) == [10]
    assert compile_pattern("zzz").find(DOC) == []


def test_plain_paths_skip_jsonpath_and_rich_ones_use_it() -> None:
    assert compile_pattern("messages[0].content").expr is None
    assert compile_pattern("x-request-id").segments == ("x-request-id",)
    assert compile_pattern("$.data[*].id").segments is None


def test_patterns_are_parsed_once_per_text() -> None:
    assert compile_pattern("$.data[?(@.id > 1)]") is compile_pattern("$.data[?(@.id > 1)]")


@pytest.mark.parametrize("text", ["a[", "$.[", "", "   ", "$.a[?(@.x >)]"])
def test_invalid_patterns_are_refused(text: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(text)


def test_set_creates_objects_and_lists_as_needed() -> None:
    doc: dict = {}
    compile_pattern("a.b").set(doc, 1)
    compile_pattern("list[0].x").set(doc, 2)
    assert doc == {"a": {"b": 1}, "list": [{"x": 2}]}
    assert compile_pattern("$").set(doc, 5) == 5


def test_set_through_a_scalar_or_out_of_range_fails() -> None:
    with pytest.raises(StepFailure, match="cannot set key 'b' on a string"):
        compile_pattern("a.b").set({"a": "text"}, 1)
    with pytest.raises(StepFailure, match="cannot set index 3"):
        compile_pattern("l[3]").set({"l": []}, 1)


def test_set_and_update_with_jsonpath() -> None:
    doc = {"data": [{"id": 1}, {"id": 2}]}
    compile_pattern("$.data[*].id").update(doc, lambda value: value * 10)
    assert doc == {"data": [{"id": 10}, {"id": 20}]}
    compile_pattern("$.data[*].id").set(doc, 0)
    assert doc == {"data": [{"id": 0}, {"id": 0}]}


def test_delete_plain_and_jsonpath_and_missing() -> None:
    doc = {"a": {"b": 1, "c": 2}, "l": [1, 2, 3], "data": [{"id": 1, "x": 1}]}
    compile_pattern("a.b").delete(doc)
    compile_pattern("l[0]").delete(doc)
    compile_pattern("nope.deeper").delete(doc)
    compile_pattern("$.data[*].x").delete(doc)
    assert doc == {"a": {"c": 2}, "l": [2, 3], "data": [{"id": 1}]}
    with pytest.raises(StepFailure):
        compile_pattern("$").delete(doc)


def test_update_leaves_missing_paths_alone() -> None:
    doc = {"a": 1}
    compile_pattern("b.c").update(doc, lambda value: 1 / 0)
    assert doc == {"a": 1}


def test_placeholders_in_text() -> None:
    render = compile_template("Ticket &{id}: &{subject} (&{tags}) &{none}|")
    assert render({"id": 7, "subject": "Hi", "tags": ["a"], "none": None}) == 'Ticket 7: Hi (["a"]) |'


def test_a_lone_placeholder_keeps_the_raw_value_and_copies_it() -> None:
    entity = {"obj": {"k": [1]}}
    value = compile_value("&{obj}")(entity)
    assert value == {"k": [1]} and value is not entity["obj"]
    assert compile_value("&{@}")(entity) == entity


def test_missing_placeholder_names_the_path_unless_a_default_is_given() -> None:
    with pytest.raises(StepFailure, match="path 'user.name' is missing"):
        compile_value("Hi &{user.name}")({})
    assert compile_value("Hi &{user.name|there}")({}) == "Hi there"
    assert compile_value("&{count|0}")({}) == 0
    assert compile_value("&{count|}")({}) == ""
    assert compile_value("&{list|[]}")({}) == []


def test_values_in_containers_are_rebuilt_per_entity() -> None:
    evaluate = compile_value({"path": "/v1/models/&{id}", "fixed": [1, {"k": None}]})
    first, second = evaluate({"id": "a"}), evaluate({"id": "b"})
    assert first == {"path": "/v1/models/a", "fixed": [1, {"k": None}]}
    assert second["path"] == "/v1/models/b" and first["fixed"] is not second["fixed"]


def test_a_bad_placeholder_path_fails_at_compile_time() -> None:
    with pytest.raises(PatternError):
        compile_value("&{a[}")


def test_to_text() -> None:
    assert [to_text(v) for v in ("s", None, 1, 1.5, True, {"a": 1})] == ["s", "", "1", "1.5", "true", '{"a": 1}']
