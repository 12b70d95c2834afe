"""A compiled pipeline (one function, steps bound to closures with their paths resolved) answers
exactly what the step-by-step definitions do: the same records, the same errors naming the step."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from alumio_mistral.transformers import TransformError, compile_pipeline
from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import (
    MISSING,
    Constant,
    Pattern,
    clone,
    compile_pattern,
    compile_value,
)

DOCUMENTS: list[Any] = [{"a": 1}, {"a": None}, {"b": 2}, {}, [1, 2], [], "text", 7, None, {"a": {"b": [1]}},
                        {"a": {"b": {"c": 3}}}, {"a": [{"b": 1}]}, {"a": {"b": None}}, {"a": "x"}]
PATHS = ["a", "$.a", "a.b", "a.b.c", "a[0]", "a[0].b", "$", "$..b", "$.a[*]"]


def general(text: str) -> Pattern:
    """The same path without its fast class: the reference answers."""
    pattern = compile_pattern(text)
    reference = object.__new__(Pattern)
    reference.text, reference.segments, reference.expr = pattern.text, pattern.segments, pattern.expr
    return reference


def outcome(function: Callable[[Any], Any], document: Any) -> Any:
    """What ``function`` does to a copy of ``document``: the result, or the failure's text."""
    try:
        return ("result", function(clone(document)))
    except StepFailure as error:
        return ("failure", str(error), error.pattern)


@pytest.mark.parametrize("text", PATHS)
@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("evaluate", [Constant(5), compile_value("x &{a|none}"), lambda _doc: MISSING],
                         ids=["constant", "placeholder", "nothing"])
def test_a_writer_answers_like_set(text: str, document: Any, evaluate: Callable[[Any], Any]) -> None:
    slow = general(text)

    def reference(doc: Any) -> Any:
        value = evaluate(doc)
        return doc if value is MISSING else slow.set(doc, value)

    assert outcome(compile_pattern(text).writer(evaluate), document) == outcome(reference, document)


@pytest.mark.parametrize("text", PATHS)
@pytest.mark.parametrize("document", DOCUMENTS)
def test_an_updater_answers_like_update(text: str, document: Any) -> None:
    def change(value: Any) -> Any:
        if value is None:
            raise StepFailure("no nulls here", "change")
        return [value]

    assert outcome(compile_pattern(text).updater(change), document) == outcome(
        lambda doc: general(text).update(doc, change), document)


@pytest.mark.parametrize("text", [path for path in PATHS if compile_pattern(path).is_single])
@pytest.mark.parametrize("document", DOCUMENTS)
def test_pop_answers_like_get_then_delete(text: str, document: Any) -> None:
    popped = clone(document)
    try:
        value = compile_pattern(text).pop(popped)
    except StepFailure as error:
        assert text == "$" and str(error) == "cannot delete the whole entity"
        return
    reference = clone(document)
    assert value == general(text).get(reference)
    if value is not MISSING:
        reference = general(text).delete(reference)
    assert popped == reference


def run(steps: list[dict[str, Any]], record: Any) -> Any:
    """The records a pipeline gives, or the text of its error."""
    try:
        return compile_pipeline(steps, source="p.yaml", where="steps").run(record)
    except TransformError as error:
        return str(error)


@pytest.mark.parametrize(("step", "record", "expected"), [
    ({"type": "copy", "from": "a.b", "to": "c"}, {"a": {"b": [1]}}, [{"a": {"b": [1]}, "c": [1]}]),
    ({"type": "copy", "from": "a.b", "to": "c"}, {"a": 1}, "p.yaml: steps[0] (copy, pattern 'a.b', step 1): path 'a.b' is missing"),
    ({"type": "copy", "from": "a.b", "to": "c", "default": {"d": 1}}, {}, [{"c": {"d": 1}}]),
    ({"type": "copy", "from": "a.b", "to": "c", "required": False}, {}, [{}]),
    ({"type": "copy", "from": "a", "to": "c.d"}, {"a": 1, "c": 2}, "p.yaml: steps[0] (copy, pattern 'c.d', step 1): cannot set key 'd' on an integer"),
    ({"type": "copy", "from": "a", "to": "c"}, [1], "p.yaml: steps[0] (copy, pattern 'a', step 1): path 'a' is missing"),
    ({"type": "copy", "from": "a", "to": "c", "default": 0}, [1], "p.yaml: steps[0] (copy, pattern 'c', step 1): cannot set key 'c' on a list"),
    ({"type": "copy", "from": "$.a[*]", "to": "c"}, {"b": 1}, [{"b": 1, "c": []}]),
    ({"type": "move", "from": "a.b", "to": "c"}, {"a": {"b": None}}, [{"a": {}, "c": None}]),
    ({"type": "move", "from": "a.b", "to": "a"}, {"a": {"b": 2}}, [{"a": 2}]),
    ({"type": "move", "from": "a.b", "to": "c"}, {"a": "x"}, "p.yaml: steps[0] (move, pattern 'a.b', step 1): path 'a.b' is missing"),
    ({"type": "move", "from": "a", "to": "$"}, {"a": [1]}, [[1]]),
    ({"type": "move", "from": "$", "to": "a"}, {"a": 1}, "p.yaml: steps[0] (move, pattern '$', step 1): cannot delete the whole entity"),
    ({"type": "move", "from": "a[0]", "to": "b"}, {"a": [1, 2]}, [{"a": [2], "b": 1}]),
    ({"type": "move", "from": "$.a[*]", "to": "b"}, {"a": [1, 2]}, [{"a": [], "b": [1, 2]}]),
    ({"type": "move", "from": "a", "to": "b", "default": 0}, {}, [{"b": 0}]),
    ({"type": "set", "path": "a", "value": "x"}, "text", "p.yaml: steps[0] (set, pattern 'a', step 1): cannot set key 'a' on a string"),
    ({"type": "set", "path": "a", "value": "&{b}"}, "text", "p.yaml: steps[0] (set, pattern 'b', step 1): placeholder &{b}: path 'b' is missing"),
    ({"type": "set", "path": "a", "value": {"k": "v"}}, {}, [{"a": {"k": "v"}}]),
    ({"type": "template", "to": "t", "template": "&{a}"}, {"a": [1, None]}, [{"a": [1, None], "t": "[1, null]"}]),
    ({"type": "template", "to": "t", "template": "&{a}"}, {"a": None}, [{"a": None, "t": ""}]),
    ({"type": "template", "to": "t", "template": "&{a}"}, {}, "p.yaml: steps[0] (template, pattern 'a', step 1): placeholder &{a}: path 'a' is missing"),
    ({"type": "template", "to": "t", "template": "plain"}, {}, [{"t": "plain"}]),
    ({"type": "remove", "path": "a.b"}, {"a": "x"}, [{"a": "x"}]),
    ({"type": "remove", "paths": ["a", "b"]}, {"a": 1, "b": 2, "c": 3}, [{"c": 3}]),
    ({"type": "cast", "path": "a", "to": "integer"}, {"a": "x"}, "p.yaml: steps[0] (cast, pattern 'a', step 1): cannot cast to integer: could not convert string to float: 'x'"),
    ({"type": "map", "path": "a", "map": {"1": "one"}}, [1], [[1]]),
    ({"type": "filter", "unless": {"path": "a", "exists": True}}, {"b": 1}, []),
    ({"type": "filter", "unless": {"path": "a", "exists": True}}, {"a": 1}, [{"a": 1}]),
])
def test_each_compiled_step_keeps_its_answers_and_errors(step: dict[str, Any], record: Any, expected: Any) -> None:
    assert run([step], record) == expected


def test_every_kind_of_step_in_one_pipeline_names_the_failing_step() -> None:
    steps = [
        {"type": "filter", "when": {"path": "skip", "exists": True}},
        {"type": "branches", "path": "items"},
        {"type": "cast", "path": "n", "to": "integer"},
        {"type": "merge"},
        {"type": "set", "path": "done", "value": True},
    ]
    assert run(steps, {"skip": 1}) == []
    assert run(steps, {"items": []}) == []
    assert run(steps, {"items": [{"n": "1"}]}) == [{"n": 1, "done": True}]
    assert run(steps, {"items": [{"n": "1"}, {"n": "2", "m": 0}]}) == [{"n": 2, "m": 0, "done": True}]
    assert run(steps, {"items": [{"n": "1"}, {"n": "x"}]}) == (
        "p.yaml: steps[2] (cast, pattern 'n', step 3): cannot cast to integer: could not convert string to float: 'x'")
    assert run(steps, {"items": [{"n": "1"}, 2]}) == "p.yaml: steps[3] (merge, step 4): can only merge objects, got an integer"
    assert run(steps, {"items": "x"}) == "p.yaml: steps[1] (branches, pattern 'items', step 2): expects a list, got a string"
    assert run(steps[3:], [{"a": 1}]) == "p.yaml: steps[0] (merge, step 1): can only merge objects, got a list"


@pytest.mark.parametrize(("then", "record", "expected"), [
    ([{"type": "set", "path": "big", "value": True}], {"n": 5}, [{"n": 5, "big": True}]),
    ([{"type": "set", "path": "big", "value": True}], {"n": 1}, [{"n": 1, "small": True}]),
    ([{"type": "set", "path": "big.x", "value": True}], {"n": 5, "big": 1},
     "p.yaml: steps[0].then[0] (set, pattern 'big.x', step 1): cannot set key 'x' on an integer"),
    ([{"type": "filter", "when": {"path": "n", "equals": 5}}], {"n": 5}, []),
    ([{"type": "branches", "path": "items"}], {"n": 5, "items": [1, 2]}, [1, 2]),
    ([], {"n": 5}, [{"n": 5}]),
])
def test_a_conditional_runs_its_branch_and_names_the_nested_step(then: list[Any], record: Any, expected: Any) -> None:
    steps = [{"type": "conditional", "if": {"path": "n", "gt": 2}, "then": then,
              "else": [{"type": "set", "path": "small", "value": True}]}]
    assert run(steps, record) == expected


def test_a_conditional_without_else_passes_the_record_on() -> None:
    steps = [{"type": "conditional", "if": {"path": "n", "gt": 2}, "then": [{"type": "set", "path": "big", "value": 1}]}]
    assert run(steps, {"n": 1}) == [{"n": 1}]
    assert run(steps, {"n": 3}) == [{"n": 3, "big": 1}]
    assert run(steps, "text") == ["text"]


def test_run_copies_objects_inside_objects_and_leaves_the_input_alone() -> None:
    record = {"a": {"b": {"c": [1]}, "d": [2, {"e": 3}]}, "f": 1}
    steps = [{"type": "remove", "paths": ["a.b.c", "a.d"]}, {"type": "set", "path": "a.x", "value": 0}]
    assert run(steps, record) == [{"a": {"b": {}, "x": 0}, "f": 1}]
    assert record == {"a": {"b": {"c": [1]}, "d": [2, {"e": 3}]}, "f": 1}
    copied = clone(record)
    assert copied == record and copied["a"] is not record["a"] and copied["a"]["b"] is not record["a"]["b"]
    assert copied["a"]["d"] is not record["a"]["d"] and copied["a"]["d"][1] is not record["a"]["d"][1]


def test_explain_shows_a_filter_dropping_the_record() -> None:
    pipeline = compile_pipeline([{"type": "filter", "when": {"path": "a", "equals": 1}},
                                 {"type": "set", "path": "b", "value": 2}])
    traces = pipeline.explain({"a": 1})
    assert [(trace.type, trace.output) for trace in traces] == [("filter", [])]
    assert [trace.output for trace in pipeline.explain({"a": 0})] == [[{"a": 0}], [{"a": 0, "b": 2}]]


@pytest.mark.parametrize(("value", "expected"), [(1, "one"), ("1", "one"), (True, "yes"), (1.5, "half"),
                                                 (None, "none"), (2, "other"), ([1], "other")])
def test_map_compares_numbers_booleans_and_null_as_text(value: Any, expected: str) -> None:
    step = {"type": "map", "path": "v", "map": {1: "one", "true": "yes", "1.5": "half", "null": "none"},
            "default": "other"}
    assert run([step], {"v": value}) == [{"v": expected}]


def test_a_pipeline_named_with_any_characters_compiles_and_names_itself() -> None:
    pipeline = compile_pipeline([{"type": "set", "path": "a.b", "value": 1}], source="we\x00ird \"'\n{}", where="x")
    assert pipeline.run({}) == [{"a": {"b": 1}}]
    with pytest.raises(TransformError) as caught:
        pipeline.run({"a": 1})
    assert str(caught.value) == "we\x00ird \"'\n{}: x[0] (set, pattern 'a.b', step 1): cannot set key 'b' on an integer"
