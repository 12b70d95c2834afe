"""String transformers: trim, case, replace, regex-replace, split, join, template, truncate."""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import TransformConfigError, TransformError, compile_pipeline


def one(step: dict[str, Any], entity: Any) -> Any:
    """The single entity a one-step pipeline gives."""
    [result] = compile_pipeline([step]).run(entity)
    return result


@pytest.mark.parametrize(
    "step, value, expected",
    [
        ({"type": "trim"}, "  a b \n", "a b"),
        ({"type": "trim", "chars": "-", "side": "left"}, "--a--", "a--"),
        ({"type": "trim", "side": "right"}, " a ", " a"),
        ({"type": "case", "case": "upper"}, "abc", "ABC"),
        ({"type": "case", "case": "title"}, "hello world", "Hello World"),
        ({"type": "replace", "old": "a", "new": "o"}, "banana", "bonono"),
        ({"type": "regex-replace", "pattern": r"(\d+)", "replace": r"<\1>"}, "a1b22", "a<1>b<22>"),
        ({"type": "regex-replace", "pattern": "a", "replace": "", "count": 1}, "aaa", "aa"),
        ({"type": "split", "separator": ","}, "a,b,,c", ["a", "b", "", "c"]),
        ({"type": "split"}, " a  b ", ["a", "b"]),
        ({"type": "split", "separator": ",", "limit": 1}, "a,b,c", ["a", "b,c"]),
        ({"type": "split", "separator": ","}, "", [""]),
        ({"type": "join", "separator": "|"}, ["a", 1, None, {"k": 1}], 'a|1||{"k": 1}'),
        ({"type": "join"}, [], ""),
        ({"type": "truncate", "length": 5, "ellipsis": "..."}, "abcdefgh", "ab..."),
        ({"type": "truncate", "length": 5}, "abc", "abc"),
        ({"type": "truncate", "length": 2, "ellipsis": "..."}, "abcdef", ".."),
    ],
)
def test_string_operations(step: dict[str, Any], value: Any, expected: Any) -> None:
    assert one({**step, "path": "s"}, {"s": value}) == {"s": expected}


@pytest.mark.parametrize(
    "kind, extra",
    [
        ("trim", {}),
        ("case", {"case": "lower"}),
        ("replace", {"old": "a", "new": "b"}),
        ("regex-replace", {"pattern": "a", "replace": "b"}),
        ("split", {}),
        ("join", {}),
        ("truncate", {"length": 1}),
    ],
)
def test_null_stays_null_missing_is_a_no_op_and_wrong_types_fail(kind: str, extra: dict[str, Any]) -> None:
    step = {"type": kind, "path": "s", **extra}
    assert one(step, {"s": None}) == {"s": None}
    assert one(step, {"t": 1}) == {"t": 1}
    with pytest.raises(TransformError, match="expects a (string|list), got an integer") as caught:
        one(step, {"s": 5})
    assert caught.value.step_type == kind and caught.value.pattern == "s"


def test_string_operations_write_to_another_path_and_every_match() -> None:
    assert one({"type": "case", "path": "a", "to": "b", "case": "upper"}, {"a": "x"}) == {"a": "x", "b": "X"}
    assert one({"type": "trim", "path": "$.l[*].n"}, {"l": [{"n": " a"}, {"n": "b "}]}) == {
        "l": [{"n": "a"}, {"n": "b"}]
    }


def test_regex_replace_bad_group_reference_fails_at_load() -> None:
    with pytest.raises(TransformConfigError, match=r"\[0\]\.replace: replacement refers to group 9; the pattern has 0"):
        compile_pipeline([{"type": "regex-replace", "path": "s", "pattern": "a", "replace": r"\9"}])


def test_bad_regex_fails_at_load() -> None:
    with pytest.raises(TransformConfigError, match=r"\[0\]\.pattern: invalid regular expression"):
        compile_pipeline([{"type": "regex-replace", "path": "s", "pattern": "(", "replace": ""}])


def test_template() -> None:
    step = {"type": "template", "to": "title", "template": "Ticket &{id}: &{subject|(none)}"}
    assert one(step, {"id": 3})["title"] == "Ticket 3: (none)"
    assert one({"type": "template", "to": "t", "template": "&{n}"}, {"n": 4})["t"] == "4"
    assert one({"type": "template", "to": "t", "template": "plain"}, {})["t"] == "plain"
    with pytest.raises(TransformError, match="path 'id' is missing"):
        one(step, {})
