"""Running the ``tests:`` saved in named definitions (for ``transform test`` and the test suite)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.errors import TransformConfigError, TransformError
from alumio_mistral.transformers.library import Library


@dataclass(frozen=True)
class SavedTestResult:
    """One saved test's outcome; ``problem`` is a diff or an error text when it failed."""

    definition: str
    name: str
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines(keepends=True)


def diff(expected: Any, actual: Any) -> str:
    """A unified diff of two JSON values (expected first)."""
    return "".join(difflib.unified_diff(_lines(expected), _lines(actual), "expected", "actual"))


def saved_tests(library: Library, names: list[str] | None = None) -> list[tuple[str, int]]:
    """(definition, test index) for every saved test of ``names`` (default: all definitions)."""
    chosen = names or library.names()
    return [(name, index) for name in chosen for index in range(len(library.get(name).tests))]


def run_saved_test(library: Library, name: str, index: int, context: TransformContext | None = None) -> SavedTestResult:
    """Run one saved test: compile with its ``with:``, run its input, compare with ``expect``."""
    test = library.get(name).tests[index]
    label = test.get("name", f"test {index + 1}")
    try:
        pipeline = library.compile(name, test["with_"], context)
        actual = pipeline.run(test["input"])
    except (TransformError, TransformConfigError) as error:
        wanted = test.get("expect_error")
        if wanted is not None and wanted in str(error):
            return SavedTestResult(name, label)
        return SavedTestResult(name, label, f"failed: {error}")
    if "expect_error" in test:
        return SavedTestResult(
            name, label, f"expected an error containing {test['expect_error']!r}, got {json.dumps(actual)}"
        )
    expected = test.get("expect", [])
    if actual != expected:
        return SavedTestResult(name, label, diff(expected, actual))
    return SavedTestResult(name, label)


def run_saved_tests(library: Library, names: list[str] | None = None) -> list[SavedTestResult]:
    """Every saved test of ``names`` (all definitions when empty)."""
    return [run_saved_test(library, name, index) for name, index in saved_tests(library, names)]
