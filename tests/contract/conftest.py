"""The stores the contract suite runs against: every test once on SQLite, once on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from store_backings import Backing, Clock

from alumio_mistral.tasks import TaskStore


@pytest.fixture(params=["sqlite", "postgres"])
def backing(request: pytest.FixtureRequest, tmp_path: Path) -> Backing:
    if request.param == "sqlite":
        return Backing("sqlite", str(tmp_path / "db" / "tasks.db"))
    return Backing("postgres", request.getfixturevalue("postgres_url")).fresh()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(backing: Backing, clock: Clock) -> Iterator[TaskStore]:
    """A store whose leases run on the test's hand-moved clock."""
    with backing.open(clock) as opened:
        yield opened
