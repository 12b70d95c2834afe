"""Field transformers: set, copy, move, remove, rename, pick/only."""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import TransformError, compile_pipeline


def one(step: dict[str, Any], entity: Any) -> Any:
    """The single entity a one-step pipeline gives."""
    [result] = compile_pipeline([step]).run(entity)
    return result


def test_set_fills_placeholders_and_creates_paths() -> None:
    step = {"type": "set", "path": "request.url", "value": "/v1/models/&{id}"}
    assert one(step, {"id": "m"}) == {"id": "m", "request": {"url": "/v1/models/m"}}


def test_set_null_and_raw_values_and_whole_entity() -> None:
    assert one({"type": "set", "path": "a", "value": None}, {}) == {"a": None}
    assert one({"type": "set", "path": "copy", "value": "&{items}"}, {"items": [1]}) == {"items": [1], "copy": [1]}
    assert one({"type": "set", "path": "$", "value": {"wrapped": "&{@}"}}, [1, 2]) == {"wrapped": [1, 2]}


def test_set_on_wrong_type_fails() -> None:
    with pytest.raises(TransformError, match="cannot set key 'b' on a list"):
        one({"type": "set", "path": "a.b", "value": 1}, {"a": []})


def test_copy_deep_copies_and_missing_source_rules() -> None:
    result = one({"type": "copy", "from": "a", "to": "b"}, {"a": {"x": 1}})
    result["b"]["x"] = 2
    assert result["a"] == {"x": 1}
    with pytest.raises(TransformError, match="path 'zz' is missing"):
        one({"type": "copy", "from": "zz", "to": "b"}, {})
    assert one({"type": "copy", "from": "zz", "to": "b", "default": 0}, {}) == {"b": 0}
    assert one({"type": "copy", "from": "zz", "to": "b", "required": False}, {}) == {}
    assert one({"type": "copy", "from": "n", "to": "b"}, {"n": None}) == {"n": None, "b": None}


def test_copy_from_jsonpath_collects_every_match() -> None:
    assert one({"type": "copy", "from": "$.data[*].id", "to": "ids"}, {"data": [{"id": 1}, {"id": 2}]})["ids"] == [1, 2]
    assert one({"type": "copy", "from": "$.data[*].id", "to": "ids"}, {"data": []})["ids"] == []


def test_move() -> None:
    assert one({"type": "move", "from": "a.b", "to": "c"}, {"a": {"b": 1}}) == {"a": {}, "c": 1}
    assert one({"type": "move", "from": "x", "to": "y", "required": False}, {"k": 1}) == {"k": 1}
    with pytest.raises(TransformError, match="missing"):
        one({"type": "move", "from": "x", "to": "y"}, {})


def test_remove_one_many_and_missing() -> None:
    assert one({"type": "remove", "path": "a"}, {"a": 1, "b": 2}) == {"b": 2}
    assert one(
        {"type": "remove", "paths": ["a", "c.d", "zz", "$.l[*].x"]},
        {"a": 1, "c": {"d": 2, "e": 3}, "l": [{"x": 1, "y": 2}]},
    ) == {"c": {"e": 3}, "l": [{"y": 2}]}
    assert one({"type": "remove", "path": "a.b"}, {"a": "text"}) == {"a": "text"}


def test_rename_keys_and_regex_keeping_order() -> None:
    step = {"type": "rename", "keys": {"firstName": "first_name"}, "regex": [{"match": "^x-", "replace": ""}]}
    result = one(step, {"firstName": "A", "x-id": 1, "other": 2})
    assert list(result.items()) == [("first_name", "A"), ("id", 1), ("other", 2)]


def test_rename_at_a_path_missing_and_wrong_type() -> None:
    step = {"type": "rename", "path": "meta", "keys": {"a": "b"}}
    assert one(step, {"meta": {"a": 1}}) == {"meta": {"b": 1}}
    assert one(step, {"other": 1}) == {"other": 1}
    with pytest.raises(TransformError, match="expects an object, got null"):
        one(step, {"meta": None})
    with pytest.raises(TransformError, match="expects an object, got a list"):
        one({"type": "rename", "keys": {"a": "b"}}, [])


@pytest.mark.parametrize("kind", ["pick", "only"])
def test_pick_keeps_listed_paths(kind: str) -> None:
    step = {"type": kind, "paths": ["id", "user.name", "missing", "tags[0]"]}
    assert one(step, {"id": 1, "user": {"name": "n", "pw": "x"}, "tags": ["a", "b"], "junk": 1}) == {
        "id": 1,
        "user": {"name": "n"},
        "tags": ["a"],
    }
    assert one(step, {}) == {}
    assert one(step, {"id": None}) == {"id": None}


@pytest.mark.parametrize("kind", ["copy", "move"])
def test_copy_and_move_into_a_scalar_fail_naming_the_target(kind: str) -> None:
    with pytest.raises(TransformError, match=r"pattern 'b.c'.*cannot set key 'c' on an integer"):
        one({"type": kind, "from": "a", "to": "b.c"}, {"a": 1, "b": 2})


def test_move_keeps_nulls_and_empty_lists() -> None:
    assert one({"type": "move", "from": "a", "to": "b"}, {"a": None}) == {"b": None}
    assert one({"type": "move", "from": "a", "to": "b"}, {"a": []}) == {"b": []}
