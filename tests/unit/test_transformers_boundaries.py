"""Boundary cases of cast, truncate and rename that the per-family tests did not pin down."""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import TransformError, compile_pipeline


def one(step: dict[str, Any], entity: Any) -> Any:
    [result] = compile_pipeline([step]).run(entity)
    return result


def as_boolean(value: Any) -> Any:
    return one({"type": "cast", "path": "v", "to": "boolean"}, {"v": value})["v"]


@pytest.mark.parametrize(
    "value, expected",
    [(0, False), (-0.0, False), (0.0, False), (-1, True), (-0.5, True), (-(2**70), True), (1, True),
     ("0", False), (" 0 ", False), ("", False), ("1", True)],
)
def test_zero_is_false_and_every_other_number_negative_included_is_true(value: Any, expected: bool) -> None:
    assert as_boolean(value) is expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_neither_true_nor_false(value: float) -> None:
    """Old code: NaN != 0, so NaN (and Infinity) cast to true without a word."""
    with pytest.raises(TransformError, match="cannot cast to boolean: .* is neither true nor false"):
        as_boolean(value)


@pytest.mark.parametrize("text", ["-1", "-0", "0.0", "2", "maybe"])
def test_text_that_is_not_one_of_the_boolean_words_is_refused(text: str) -> None:
    with pytest.raises(TransformError, match=f"cannot cast {text!r} to boolean"):
        as_boolean(text)


def test_text_exactly_at_the_truncate_limit_is_kept_whole() -> None:
    step = {"type": "truncate", "path": "s", "length": 5, "ellipsis": "…"}
    assert one(step, {"s": "abcde"}) == {"s": "abcde"}  # at the limit: no ellipsis, nothing cut
    assert one(step, {"s": "abcdef"}) == {"s": "abcd…"}  # one over: cut, ellipsis inside the limit
    assert one(step, {"s": "abcd"}) == {"s": "abcd"}
    assert one(step, {"s": ""}) == {"s": ""}
    assert one({**step, "length": 0}, {"s": "a"}) == {"s": ""}
    assert one({**step, "ellipsis": "[more]"}, {"s": "abcdef"}) == {"s": "[more"}  # never longer than length
    assert one({**step, "to": "short"}, {"s": "abcde"}) == {"s": "abcde", "short": "abcde"}


def test_a_key_in_the_rename_table_gets_that_name_even_when_a_regex_also_matches() -> None:
    """Old code ran the regex rules over the table's output too, so ``id`` renamed to
    ``order_id`` came out as ``orderId``: no name the regex would change could be chosen."""
    step = {"type": "rename", "keys": {"id": "order_id"}, "regex": [{"match": "_id$", "replace": "Id"}]}
    assert one(step, {"id": 1, "user_id": 2, "name": "n"}) == {"order_id": 1, "userId": 2, "name": "n"}


def test_two_keys_renamed_to_one_name_are_an_error_not_a_silent_loss() -> None:
    """Old code kept whichever came last and dropped the other value without a word."""
    by_regex = {"type": "rename", "regex": [{"match": "_id$", "replace": "Id"}]}
    with pytest.raises(TransformError, match="two keys would both be named 'userId' \\(one of them 'user_id'\\)"):
        one(by_regex, {"userId": 1, "user_id": 2})
    by_table = {"type": "rename", "keys": {"a": "b"}}
    with pytest.raises(TransformError, match="two keys would both be named 'b'"):
        one(by_table, {"a": 1, "b": 2})
    assert one({"type": "rename", "keys": {"a": "b", "b": "a"}}, {"a": 1, "b": 2}) == {"b": 1, "a": 2}  # a swap
