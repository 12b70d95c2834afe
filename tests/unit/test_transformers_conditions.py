"""The condition language: each operator, missing paths, wrong types, combinators, bad specs."""

from __future__ import annotations

import pytest

from alumio_mistral.transformers.conditions import ConditionError, compile_condition

DOC = {
    "status": "open",
    "n": 5,
    "flag": True,
    "tags": ["a", "b"],
    "text": "Hello World",
    "none": None,
    "empty": "",
    "obj": {"k": 1},
    "other": 5,
}


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"path": "status", "equals": "open"}, True),
        ({"path": "status", "equals": "closed"}, False),
        ({"path": "missing", "equals": None}, False),
        ({"path": "none", "equals": None}, True),
        ({"path": "flag", "equals": 1}, False),
        ({"path": "n", "equals": "&{other}"}, True),
        ({"path": "status", "not_equals": "closed"}, True),
        ({"path": "missing", "not_equals": "x"}, True),
        ({"path": "n", "gt": 4}, True),
        ({"path": "n", "gt": 5}, False),
        ({"path": "n", "gte": 5}, True),
        ({"path": "n", "lt": 6}, True),
        ({"path": "n", "lte": 4}, False),
        ({"path": "status", "gt": 3}, False),
        ({"path": "missing", "lt": 3}, False),
        ({"path": "none", "gt": 0}, False),
        ({"path": "status", "gt": "a"}, True),
        ({"path": "status", "in": ["open", "new"]}, True),
        ({"path": "n", "in": ["5"]}, False),
        ({"path": "text", "contains": "World"}, True),
        ({"path": "tags", "contains": "b"}, True),
        ({"path": "obj", "contains": "k"}, True),
        ({"path": "obj", "contains": ["k"]}, False),
        ({"path": "n", "contains": 5}, False),
        ({"path": "text", "matches": "^Hel+o"}, True),
        ({"path": "n", "matches": "5"}, False),
        ({"path": "missing", "exists": False}, True),
        ({"path": "none", "exists": True}, True),
        ({"path": "empty", "empty": True}, True),
        ({"path": "none", "empty": True}, True),
        ({"path": "missing", "empty": True}, True),
        ({"path": "n", "empty": False}, True),
        ({"path": "tags", "type": "list"}, True),
        ({"path": "flag", "type": "integer"}, False),
        ({"path": "none", "type": "null"}, True),
        ({"path": "missing", "type": "null"}, False),
        ({"all": [{"path": "n", "gt": 1}, {"path": "flag", "equals": True}]}, True),
        ({"all": [{"path": "n", "gt": 1}, {"path": "flag", "equals": False}]}, False),
        ({"any": [{"path": "n", "gt": 10}, {"path": "status", "equals": "open"}]}, True),
        ({"not": {"path": "status", "equals": "open"}}, False),
        ({"equals": 3}, False),
    ],
)
def test_operators(spec: dict, expected: bool) -> None:
    assert compile_condition(spec)(DOC) is expected


def test_conditions_on_a_whole_scalar_document() -> None:
    assert compile_condition({"equals": None})(None) is True
    assert compile_condition({"path": "@", "matches": "^a"})("abc") is True


@pytest.mark.parametrize(
    "spec, path, message",
    [
        ({"path": "a"}, "", "exactly one operator"),
        ({"path": "a", "gt": 1, "lt": 2}, "", "exactly one operator"),
        ({"path": "a", "bigger": 1}, "bigger", "unknown condition key"),
        ({"all": []}, "all", "non-empty list"),
        ({"all": [{"path": "a", "in": 3}]}, "all[0].in", "expects a list"),
        (
            {"any": [{"path": "a", "equals": 1}, {"not": {"path": "a", "matches": "("}}]},
            "any[1].not.matches",
            "invalid regular expression",
        ),
        ({"path": "a[", "equals": 1}, "path", "invalid jsonpath"),
        ({"path": "a", "exists": "yes"}, "exists", "true or false"),
        ({"path": "a", "type": "float"}, "type", "expects one of"),
        ({"all": [{"path": "a", "equals": 1}], "path": "b"}, "", "cannot be mixed"),
        ("status == open", "", "must be a mapping"),
    ],
)
def test_bad_conditions_name_their_path(spec: object, path: str, message: str) -> None:
    with pytest.raises(ConditionError, match=message) as caught:
        compile_condition(spec)
    assert caught.value.path == path
