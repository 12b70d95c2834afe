"""Durable tasks and storages (see :mod:`alumio_mistral.tasks.store` for the interface)."""

from __future__ import annotations

from typing import Any

from alumio_mistral.tasks.sqlite import SqliteTaskStore
from alumio_mistral.tasks.store import (
    DEFAULT_LEASE_SECONDS,
    FINAL_STATUSES,
    LEASE_BOUNDS,
    RESOLVABLE_STATUSES,
    STATUSES,
    Dedup,
    LeaseHeldError,
    NewEntity,
    Task,
    TaskOutcome,
    TaskStore,
    TaskStoreError,
    worker_id,
)

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "Dedup",
    "FINAL_STATUSES",
    "LEASE_BOUNDS",
    "LeaseHeldError",
    "NewEntity",
    "RESOLVABLE_STATUSES",
    "STATUSES",
    "SqliteTaskStore",
    "Task",
    "TaskOutcome",
    "TaskStore",
    "TaskStoreError",
    "open_store",
    "worker_id",
]


def open_store(project: Any) -> TaskStore:
    """The store configured for ``project`` (SQLite at ``project.store.path``)."""
    return SqliteTaskStore(project.store.path)
