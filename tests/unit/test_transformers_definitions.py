"""Every saved test of every shipped definition runs as part of the suite."""

from __future__ import annotations

import pytest

from alumio_mistral.transformers import Library
from alumio_mistral.transformers.saved_tests import diff, run_saved_test, saved_tests

SHIPPED = Library.for_project(None)


def test_every_shipped_definition_carries_tests() -> None:
    assert SHIPPED.names() and all(SHIPPED.get(name).tests for name in SHIPPED.names())


@pytest.mark.parametrize("name, index", saved_tests(SHIPPED), ids=lambda value: str(value))
def test_shipped_definition(name: str, index: int) -> None:
    result = run_saved_test(SHIPPED, name, index)
    assert result.ok, f"{name}: {result.name}\n{result.problem}"


def test_a_wrong_expectation_is_reported_with_a_diff() -> None:
    library = Library.for_project(
        None,
        {
            "t": {
                "steps": [{"type": "set", "path": "a", "value": 2}],
                "tests": [{"input": {}, "expect": [{"a": 1}]}, {"input": {}, "expect_error": "boom"}],
            }
        },
    )
    wrong, no_error = run_saved_test(library, "t", 0), run_saved_test(library, "t", 1)
    assert wrong.problem == diff([{"a": 1}], [{"a": 2}]) and '-    "a": 1' in wrong.problem
    assert no_error.problem is not None and "expected an error containing 'boom'" in no_error.problem
