"""The quick check every entity passes agrees with the full one that names the problem."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alumio_mistral.subscribers.base import MAX_DEPTH, _fine, _problem, entity_problem

TEXT = st.text(alphabet=st.sampled_from(["a", "é", "\ud800", "\udfff", "😀", " "]), max_size=4)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), TEXT,
                    st.sampled_from([0.5, math.nan, math.inf, -math.inf, -0.0]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(TEXT, st.integers()), inner, max_size=3)), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_the_quick_check_and_the_full_one_agree(value: Any) -> None:
    assert _fine(value, 0) == (_problem(value, 0) is None)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_the_depth_limit_is_the_same_in_both() -> None:
    assert entity_problem(nested(MAX_DEPTH)) is None
    assert "nested deeper than 200 levels" in (entity_problem(nested(MAX_DEPTH + 1)) or "")
    assert _fine(nested(MAX_DEPTH), 0) and not _fine(nested(MAX_DEPTH + 1), 0)
