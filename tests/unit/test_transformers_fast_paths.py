"""The fast paths of patterns and steps answer exactly what the general ones do."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alumio_mistral.transformers import compile_pipeline
from alumio_mistral.transformers.conditions import _compare, compile_condition
from alumio_mistral.transformers.errors import StepFailure, TransformError
from alumio_mistral.transformers.patterns import MISSING, KeyPattern, KeysPattern, Pattern, clone, compile_pattern

DOCUMENTS: list[Any] = [{"a": 1}, {"a": None}, {"b": 2}, {}, [1, 2], "text", None, {"a": {"b": [1]}},
                        {"a": {"b": {"c": 3}}}, {"a": [{"b": 1}]}, {"a": {"b": None}}]


def general(text: str) -> Pattern:
    """The same path without its fast class: the reference answers."""
    pattern = compile_pattern(text)
    reference = object.__new__(Pattern)
    reference.text, reference.segments, reference.expr = pattern.text, pattern.segments, pattern.expr
    return reference


@pytest.mark.parametrize(("text", "fast_class"), [("a", KeyPattern), ("$.a", KeyPattern), ("@.a", KeyPattern),
                                                  ("a.b", KeysPattern), ("$.a.b.c", KeysPattern)])
@pytest.mark.parametrize("document", DOCUMENTS)
def test_a_path_of_keys_answers_like_the_general_walk(text: str, fast_class: type, document: Any) -> None:
    fast, slow = compile_pattern(text), general(text)
    assert type(fast) is fast_class and type(slow) is Pattern
    assert fast.get(document, "default") == slow.get(document, "default")
    assert fast.find(document) == slow.find(document)
    assert fast.delete(clone(document)) == slow.delete(clone(document))
    assert fast.update(clone(document), repr) == slow.update(clone(document), repr)
    try:
        expected: Any = slow.set(clone(document), 5)
    except StepFailure as error:
        with pytest.raises(StepFailure) as fast_error:
            fast.set(clone(document), 5)
        assert str(fast_error.value) == str(error)
    else:
        assert fast.set(clone(document), 5) == expected


def test_paths_with_indexes_keep_the_general_walk() -> None:
    assert type(compile_pattern("a[0]")) is Pattern and type(compile_pattern("[0].a")) is Pattern
    assert type(compile_pattern("$")) is Pattern


def test_clone_copies_containers_and_keeps_scalars() -> None:
    original = {"a": [1, {"b": "x"}], "c": 2.5, "d": None}
    copied = clone(original)
    assert copied == original and copied["a"] is not original["a"] and copied["a"][1] is not original["a"][1]


def test_renaming_two_keys_to_one_name_is_still_an_error() -> None:
    pipeline = compile_pipeline([{"type": "rename", "keys": {"a": "b"}}])
    assert pipeline.run({"a": 1, "c": 2}) == [{"b": 1, "c": 2}]
    with pytest.raises(TransformError, match="two keys would both be named 'b'"):
        pipeline.run({"a": 1, "b": 2})


def test_a_template_keeps_literal_braces_and_writes_values_as_json() -> None:
    pipeline = compile_pipeline([{"type": "template", "to": "t", "template": "{x} &{a}/&{b}/&{c}/&{d|none} {}"}])
    assert pipeline.run({"a": "é", "b": 2.5, "c": [1, {"k": None}]}) == [
        {"a": "é", "b": 2.5, "c": [1, {"k": None}], "t": '{x} é/2.5/[1, {"k": null}]/none {}'}]


def test_a_template_of_keys_fails_like_the_general_one() -> None:
    pipeline = compile_pipeline([{"type": "template", "to": "t", "template": "&{a}-&{b}"}])
    assert pipeline.run({"a": None, "b": {"x": 1}}) == [{"a": None, "b": {"x": 1}, "t": '-{"x": 1}'}]
    with pytest.raises(TransformError, match="placeholder &\\{b\\}: path 'b' is missing"):
        pipeline.run({"a": 1})
    with pytest.raises(TransformError, match="placeholder &\\{a\\}: path 'a' is missing"):
        pipeline.run([1, 2])


def test_a_move_with_a_default_or_a_missing_source_goes_the_general_way() -> None:
    moved = compile_pipeline([{"type": "move", "from": "a.b", "to": "c", "default": 0}])
    assert moved.run({"a": {"b": 1}}) == [{"a": {}, "c": 1}]
    assert moved.run({"a": {}}) == [{"a": {}, "c": 0}]
    with pytest.raises(TransformError, match="path 'x' is missing"):
        compile_pipeline([{"type": "move", "from": "x", "to": "y"}]).run({})
    assert compile_pipeline([{"type": "move", "from": "x", "to": "y", "required": False}]).run({}) == [{}]


def test_a_template_of_keys_writes_each_value_as_json_text() -> None:
    pipeline = compile_pipeline([{"type": "template", "to": "t", "template": "100% &{a} &{b} &{c} &{d} &{e}"}])
    entity = {"a": True, "b": None, "c": 1.5, "d": 7, "e": "x"}
    assert pipeline.run(entity)[0]["t"] == "100% true  1.5 7 x"


CONSTANTS = st.one_of(st.integers(-3, 3), st.floats(allow_nan=True), st.sampled_from(["", "a", "b", "1"]))
VALUES = st.one_of(CONSTANTS, st.booleans(), st.none(), st.just([1]), st.just({"a": 1}))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["equals", "not_equals", "gt", "gte", "lt", "lte"]), CONSTANTS,
       st.one_of(VALUES, st.just(MISSING)))
def test_a_comparison_with_a_constant_decides_like_the_general_one(operator: str, operand: Any, value: Any) -> None:
    condition = compile_condition({"path": "v", operator: operand})
    document = {} if value is MISSING else {"v": value}
    assert condition(document) == _compare(operator, operand, operator)(value, operand)
