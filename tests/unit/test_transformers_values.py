"""Value transformers: map, cast, coalesce, math, hash."""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import TransformError, compile_pipeline


def one(step: dict[str, Any], entity: Any) -> Any:
    """The single entity a one-step pipeline gives."""
    [result] = compile_pipeline([step]).run(entity)
    return result


def test_map_with_and_without_default() -> None:
    step = {"type": "map", "path": "p", "map": {"1": "low", "high": 3, "true": "yes"}}
    assert one(step, {"p": 1}) == {"p": "low"}
    assert one(step, {"p": "1"}) == {"p": "low"}
    assert one(step, {"p": True}) == {"p": "yes"}
    assert one(step, {"p": "other"}) == {"p": "other"}
    assert one(step, {"p": [1]}) == {"p": [1]}
    assert one(step, {}) == {}
    assert one(step, {"p": None}) == {"p": None}
    assert one({**step, "map": {"null": "none"}}, {"p": None}) == {"p": "none"}
    assert one({**step, "default": None}, {"p": "other"}) == {"p": None}
    assert one({**step, "to": "label"}, {"p": "high"}) == {"p": "high", "label": 3}
    assert one({"type": "map", "path": "$.l[*]", "map": {"a": "A"}}, {"l": ["a", "b"]}) == {"l": ["A", "b"]}


@pytest.mark.parametrize(
    "to, value, expected",
    [
        ("string", 1, "1"),
        ("string", True, "true"),
        ("string", {"a": 1}, '{"a": 1}'),
        ("integer", "42", 42),
        ("integer", " 7 ", 7),
        ("integer", 3.0, 3),
        ("integer", "3.0", 3),
        ("integer", "1e3", 1000),
        ("integer", "12345678901234567.0", 12345678901234567),  # through a float: ...568
        ("integer", True, 1),
        ("number", "1.5", 1.5),
        ("number", "2", 2),
        ("number", 4, 4),
        ("boolean", "yes", True),
        ("boolean", "0", False),
        ("boolean", "", False),
        ("boolean", 2, True),
        ("object", '{"a": [1]}', {"a": [1]}),
        ("object", {"already": 1}, {"already": 1}),
        ("json", {"a": 1}, '{"a": 1}'),
        ("json", [], "[]"),
        ("json", "s", '"s"'),
        ("date", 0, "1970-01-01T00:00:00Z"),
        ("date", "2024-01-02T03:04:05+01:00", "2024-01-02T02:04:05Z"),
        ("string", None, None),
        ("integer", None, None),
        ("object", None, None),
    ],
)
def test_cast(to: str, value: Any, expected: Any) -> None:
    assert one({"type": "cast", "path": "v", "to": to}, {"v": value}) == {"v": expected}


@pytest.mark.parametrize(
    "to, value, message",
    [
        ("integer", "abc", "cannot cast to integer"),
        ("integer", 1.5, "not a whole number"),
        ("integer", "12345678901234567.4", "12345678901234567.4 is not a whole number"),  # a float rounds it whole
        ("integer", "nan", "not a finite number"),
        ("integer", [1], "cannot cast a list to integer"),
        ("number", "nan", "not a finite number"),
        ("number", {}, "cannot cast an object to number"),
        ("boolean", "maybe", "cannot cast 'maybe' to boolean"),
        ("boolean", [], "cannot cast a list"),
        ("object", "{bad", "not valid JSON"),
        ("object", "NaN", "NaN is not valid JSON"),
        ("date", "yesterday", "cannot cast to date"),
        ("date", 10**20, "cannot cast to date"),
    ],
)
def test_cast_failures_name_the_pattern(to: str, value: Any, message: str) -> None:
    with pytest.raises(TransformError, match=message) as caught:
        one({"type": "cast", "path": "v", "to": to}, {"v": value})
    assert caught.value.pattern == "v" and caught.value.step_type == "cast"


def test_cast_missing_path_is_a_no_op() -> None:
    assert one({"type": "cast", "path": "v", "to": "integer"}, {"w": "x"}) == {"w": "x"}


def test_coalesce() -> None:
    step = {"type": "coalesce", "paths": ["a", "b", "c"], "to": "out"}
    assert one(step, {"a": None, "b": 0, "c": 2})["out"] == 0
    assert one(step, {"c": "x"})["out"] == "x"
    assert one(step, {})["out"] is None
    assert one({**step, "default": "&{name|anon}"}, {})["out"] == "anon"


@pytest.mark.parametrize(
    "op, operands, expected",
    [
        ("add", [1, 2, "&{x}"], 13),
        ("subtract", [10, "&{x}"], 0),
        ("multiply", [2, 3.5], 7.0),
        ("divide", [1, 4], 0.25),
        ("modulo", [7, 3], 1),
        ("min", [3, 1, 2], 1),
        ("max", ["&{x}", 2], 10),
        ("abs", [-2], 2),
        ("floor", [1.7], 1),
        ("ceil", [1.2], 2),
        ("round", [2.345], 2.35),
    ],
)
def test_math(op: str, operands: list[Any], expected: Any) -> None:
    step = {"type": "math", "to": "r", "op": op, "operands": operands}
    if op == "round":
        step["digits"] = 2
    assert one(step, {"x": 10})["r"] == expected


@pytest.mark.parametrize(
    "operands, message",
    [
        ([1, 0], "division by zero"),
        (["&{s}", 1], "operand 1 is a string"),
        ([None, 1], "operand 1 is null"),
        ([True, 1], "operand 1 is a boolean"),
        ([1e308, 1e-308], "not a finite number"),
        (["&{missing}", 1], "missing"),
    ],
)
def test_math_failures(operands: list[Any], message: str) -> None:
    with pytest.raises(TransformError, match=message):
        one({"type": "math", "to": "r", "op": "divide", "operands": operands}, {"s": "1"})


def test_hash_is_stable_and_order_insensitive_within_objects() -> None:
    step = {"type": "hash", "fields": ["a", "b"], "to": "id", "length": 12}
    first = one(step, {"a": {"x": 1, "y": 2}, "b": None})["id"]
    second = one(step, {"b": None, "a": {"y": 2, "x": 1}})["id"]
    assert first == second and len(first) == 12
    assert one(step, {"a": {"x": 1, "y": 2}})["id"] == first  # missing is null
    assert one(step, {"a": 1})["id"] != first
    assert len(one({"type": "hash", "fields": ["a"], "to": "h", "algorithm": "md5"}, {})["h"]) == 32
