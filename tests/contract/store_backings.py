"""The databases the contract suite opens stores on (a module of its own: child processes import it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from alumio_mistral.tasks import SqliteTaskStore, TaskStore


class Clock:
    """A clock the test moves by hand (epoch seconds)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Backing:
    """One database (an SQLite file, or a schema of a PostgreSQL database) that tests may open
    many stores on, as several processes or machines would; picklable, for child processes."""

    kind: str
    #: the SQLite file, or the PostgreSQL URL
    where: str
    schema: str | None = None

    def open(self, clock: Callable[[], float] | None = None) -> TaskStore:
        """Another store on this database (``clock``: lease time; ``None``: real time)."""
        if self.kind == "sqlite":
            return SqliteTaskStore(self.where, **({"clock": clock} if clock else {}))
        from alumio_mistral.tasks.postgres import PostgresTaskStore

        return PostgresTaskStore(self.where, schema=self.schema, clock=clock, max_connections=8)

    def fresh(self) -> Backing:
        """A new, empty database of the same kind."""
        if self.kind == "sqlite":
            return Backing("sqlite", str(Path(self.where).parent.parent / uuid.uuid4().hex[:8] / "tasks.db"))
        return Backing("postgres", self.where, f"t_{uuid.uuid4().hex[:12]}")
