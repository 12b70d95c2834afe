"""Flow transformers: filter, conditional, use/chain, for-each, recursive, branches, merge."""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import Library, TransformError, compile_pipeline


def run(steps: list[dict[str, Any]], entity: Any, library: Library | None = None) -> list[Any]:
    return compile_pipeline(steps, library=library).run(entity)


def test_filter_drops_when_the_condition_holds() -> None:
    steps = [
        {"type": "filter", "when": {"path": "status", "equals": "closed"}},
        {"type": "set", "path": "seen", "value": 1},
    ]
    assert run(steps, {"status": "closed"}) == []
    assert run(steps, {"status": "open"}) == [{"status": "open", "seen": 1}]
    assert run(steps, {}) == [{"seen": 1}]
    unless = [{"type": "filter", "unless": {"path": "n", "gt": 1}}]
    assert run(unless, {"n": 0}) == [] and run(unless, {"n": 2}) == [{"n": 2}] and run(unless, {"n": "x"}) == []


def test_conditional_then_else_and_filtering_inside() -> None:
    steps = [
        {
            "type": "conditional",
            "if": {"path": "n", "gt": 10},
            "then": [{"type": "set", "path": "size", "value": "big"}],
            "else": [
                {"type": "filter", "when": {"path": "n", "exists": False}},
                {"type": "set", "path": "size", "value": "small"},
            ],
        }
    ]
    assert run(steps, {"n": 11}) == [{"n": 11, "size": "big"}]
    assert run(steps, {"n": 1}) == [{"n": 1, "size": "small"}]
    assert run(steps, {}) == []
    assert run([{"type": "conditional", "if": {"path": "n", "gt": 1}, "then": []}], {"n": 0}) == [{"n": 0}]


def test_errors_inside_nested_pipelines_name_the_nested_step() -> None:
    steps = [
        {
            "type": "conditional",
            "if": {"path": "n", "exists": True},
            "then": [{"type": "cast", "path": "n", "to": "integer"}],
        }
    ]
    with pytest.raises(TransformError, match=r"\[0\]\.then\[0\] \(cast, pattern 'n'") as caught:
        run(steps, {"n": "x"})
    assert caught.value.step_type == "cast"


def test_use_and_chain_run_a_named_definition_with_parameters() -> None:
    library = Library.for_project(
        None,
        {
            "greet": {
                "parameters": {"who": {"default": "world"}},
                "steps": [{"type": "set", "path": "msg", "value": "hi %{who} &{n}"}],
            }
        },
    )
    assert run([{"use": "greet"}], {"n": 1}, library) == [{"n": 1, "msg": "hi world 1"}]
    assert run([{"type": "chain", "name": "greet", "with": {"who": "you"}}], {"n": 2}, library)[0]["msg"] == "hi you 2"


def test_for_each_applies_steps_to_every_element() -> None:
    steps = [
        {
            "type": "for-each",
            "path": "items",
            "steps": [
                {"type": "filter", "when": {"path": "qty", "equals": 0}},
                {"type": "math", "to": "total", "op": "multiply", "operands": ["&{qty}", "&{price}"]},
            ],
        }
    ]
    result = run(steps, {"items": [{"qty": 2, "price": 3}, {"qty": 0, "price": 1}]})
    assert result == [{"items": [{"qty": 2, "price": 3, "total": 6}]}]
    assert run(steps, {"items": []}) == [{"items": []}]
    assert run(steps, {"items": None}) == [{"items": None}]
    assert run(steps, {}) == [{}]
    with pytest.raises(TransformError, match="expects a list, got an object"):
        run(steps, {"items": {"qty": 1}})


def test_for_each_on_scalars_and_branching_elements() -> None:
    steps = [{"type": "for-each", "path": "tags", "steps": [{"type": "case", "path": "$", "case": "upper"}]}]
    assert run(steps, {"tags": ["a", "b"]}) == [{"tags": ["A", "B"]}]
    spread = [{"type": "for-each", "path": "l", "steps": [{"type": "branches", "path": "$"}]}]
    assert run(spread, {"l": [[1, 2], [3]]}) == [{"l": [1, 2, 3]}]


def test_recursive_values_at_any_depth() -> None:
    drop_nulls = [
        {"type": "recursive", "when": {"equals": None}, "steps": [{"type": "filter", "when": {"equals": None}}]}
    ]
    assert run(drop_nulls, {"a": None, "b": {"c": None, "d": [1, None, {"e": None}]}}) == [{"b": {"d": [1, {}]}}]
    trim_all = [{"type": "recursive", "when": {"type": "string"}, "steps": [{"type": "trim", "path": "$"}]}]
    assert run(trim_all, {"a": " x ", "b": [" y", 3]}) == [{"a": "x", "b": ["y", 3]}]
    assert run(trim_all, []) == [[]]


def test_recursive_keys() -> None:
    steps = [
        {
            "type": "recursive",
            "target": "keys",
            "when": {"matches": "[A-Z]"},
            "steps": [{"type": "case", "path": "$", "case": "lower"}],
        }
    ]
    assert run(steps, {"Id": 1, "Sub": [{"KEY": 2}], "ok": {"In": 3}}) == [
        {"id": 1, "sub": [{"key": 2}], "ok": {"in": 3}}
    ]
    bad = [{"type": "recursive", "target": "keys", "steps": [{"type": "set", "path": "$", "value": 1}]}]
    with pytest.raises(TransformError, match="a key must stay text"):
        run(bad, {"a": 1})


def test_branches_split_and_keep_parent_fields() -> None:
    steps = [{"type": "branches", "path": "lines", "keep": ["order_id", "customer.name", "missing"]}]
    order = {"order_id": 9, "customer": {"name": "Ann"}, "lines": [{"sku": "a"}, {"sku": "b"}]}
    assert run(steps, order) == [
        {"sku": "a", "order_id": 9, "customer": {"name": "Ann"}},
        {"sku": "b", "order_id": 9, "customer": {"name": "Ann"}},
    ]
    assert run(steps, {"lines": []}) == [] and run(steps, {}) == [] and run(steps, {"lines": None}) == []
    with pytest.raises(TransformError, match="expects a list, got a string"):
        run(steps, {"lines": "abc"})
    with pytest.raises(TransformError, match="cannot keep parent fields on an integer"):
        run(steps, {"order_id": 1, "lines": [1]})


def test_branches_from_jsonpath_matches_are_independent_copies() -> None:
    steps = [{"type": "branches", "path": "$.data[*]"}, {"type": "set", "path": "x", "value": 1}]
    entity = {"data": [{"id": 1}, {"id": 2}]}
    assert run(steps, entity) == [{"id": 1, "x": 1}, {"id": 2, "x": 1}]
    assert entity == {"data": [{"id": 1}, {"id": 2}]}


def test_merge_a_list_inside_the_entity() -> None:
    merge = [{"type": "merge", "path": "parts", "to": "merged"}]
    assert run(merge, {"parts": [{"a": 1}, {"b": 2, "a": 3}]}) == [
        {"parts": [{"a": 1}, {"b": 2, "a": 3}], "merged": {"a": 3, "b": 2}}
    ]
    assert run(merge, {"parts": []})[0]["merged"] == {}
    assert run(merge, {}) == [{}]
    assert run(merge, {"parts": None}) == [{"parts": None}]
    with pytest.raises(TransformError, match="can only merge objects, got an integer"):
        run(merge, {"parts": [1]})
    with pytest.raises(TransformError, match="expects a list"):
        run(merge, {"parts": {"a": 1}})


def test_merge_group_by() -> None:
    group = [{"type": "merge", "path": "l", "group_by": "kind"}]
    result = run(group, {"l": [{"kind": "a", "n": 1}, {"kind": "b"}, {"kind": "a", "n": 2}, {"n": 3}]})
    assert result[0]["l"] == [
        {"key": "a", "items": [{"kind": "a", "n": 1}, {"kind": "a", "n": 2}]},
        {"key": "b", "items": [{"kind": "b"}]},
        {"key": None, "items": [{"n": 3}]},
    ]
    with pytest.raises(TransformError, match="group key must be a plain value"):
        run(group, {"l": [{"kind": [1]}]})


def test_merge_the_pipelines_entities_after_branches() -> None:
    steps = [{"type": "branches", "path": "l"}, {"type": "merge", "group_by": "k", "key_as": "kind", "items_as": "all"}]
    assert run(steps, {"l": [{"k": 1}, {"k": 2}, {"k": 1}]}) == [
        {"kind": 1, "all": [{"k": 1}, {"k": 1}]},
        {"kind": 2, "all": [{"k": 2}]},
    ]
    assert run([{"type": "branches", "path": "l"}, {"type": "merge"}], {"l": [{"a": 1}, {"b": 2}]}) == [
        {"a": 1, "b": 2}
    ]
