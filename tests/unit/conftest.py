"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest


class Clock:
    """A clock the test moves by hand (epoch seconds), for stores whose leases run on it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()
