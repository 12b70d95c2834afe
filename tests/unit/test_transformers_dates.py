"""Date transformer: ISO-8601, Unix seconds and milliseconds, formats, intervals."""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import TransformConfigError, TransformError, compile_pipeline


def one(step: dict[str, Any], entity: Any) -> Any:
    """The single entity a one-step pipeline gives."""
    [result] = compile_pipeline([step]).run(entity)
    return result


@pytest.mark.parametrize(
    "params, value, expected",
    [
        ({}, 1700000000, "2023-11-14T22:13:20Z"),
        ({"from": "unix_ms"}, 1700000000500, "2023-11-14T22:13:20.500000Z"),
        ({"from": "unix"}, "1700000000", "2023-11-14T22:13:20Z"),
        ({"to": "unix"}, "2023-11-14T22:13:20Z", 1700000000),
        ({"to": "unix_ms"}, "2023-11-14T22:13:20.5Z", 1700000000500),
        ({"to": "date"}, "2023-11-14T23:59:59-02:00", "2023-11-15"),
        ({}, "2024-02-29", "2024-02-29T00:00:00Z"),
        ({"add": {"days": 1, "hours": -1}}, "2024-02-28T12:00:00Z", "2024-02-29T11:00:00Z"),
        ({"from_format": "%d/%m/%Y", "to": "date"}, "31/12/2023", "2023-12-31"),
        ({"format": "%Y%m%d"}, 0, "19700101"),
    ],
)
def test_date_conversions(params: dict[str, Any], value: Any, expected: Any) -> None:
    assert one({"type": "date", "path": "d", **params}, {"d": value}) == {"d": expected}


def test_null_stays_null_and_missing_is_a_no_op() -> None:
    assert one({"type": "date", "path": "d"}, {"d": None}) == {"d": None}
    assert one({"type": "date", "path": "d"}, {}) == {}


@pytest.mark.parametrize(
    "params, value",
    [
        ({}, "not a date"),
        ({}, True),
        ({}, [1]),
        ({"from": "iso"}, 5),
        ({"from": "unix"}, "x"),
        ({}, 10**15),
        ({"add": {"days": 999_999}}, "9999-01-01"),
    ],
)
def test_bad_dates_fail_naming_the_value(params: dict[str, Any], value: Any) -> None:
    with pytest.raises(TransformError, match="cannot convert date"):
        one({"type": "date", "path": "d", **params}, {"d": value})


@pytest.mark.parametrize("add", [{"fortnights": 1}, {"days": 10**9}])
def test_bad_intervals_fail_at_load(add: dict[str, Any]) -> None:
    with pytest.raises(TransformConfigError, match=r"\[0\]\.add"):
        compile_pipeline([{"type": "date", "path": "d", "add": add}])
