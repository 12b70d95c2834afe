"""Durable tasks and storages (see :mod:`alumio_mistral.tasks.store` for the interface)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alumio_mistral.tasks.sqlite import SqliteTaskStore, snapshot
from alumio_mistral.tasks.store import (
    DEFAULT_LEASE_SECONDS,
    FINAL_STATUSES,
    LEASE_BOUNDS,
    RESOLVABLE_STATUSES,
    STATUSES,
    Dedup,
    LeaseHeldError,
    NewEntity,
    OutboxEntry,
    OutboxMessage,
    Settled,
    Task,
    TaskOutcome,
    TaskStore,
    TaskStoreError,
    worker_id,
)
from alumio_mistral.tasks.urls import is_postgres_url, redact_url

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "Dedup",
    "FINAL_STATUSES",
    "LEASE_BOUNDS",
    "LeaseHeldError",
    "NewEntity",
    "OutboxEntry",
    "OutboxMessage",
    "RESOLVABLE_STATUSES",
    "STATUSES",
    "Settled",
    "SqliteTaskStore",
    "Task",
    "TaskOutcome",
    "TaskStore",
    "TaskStoreError",
    "open_location",
    "open_store",
    "snapshot_store",
    "worker_id",
]


def snapshot_store(project: Any, folder: Path) -> TaskStore:
    """A writable copy of ``project``'s store in ``folder`` (empty when it has none yet), for a
    dry run. An SQLite store is read without being opened, created or migrated; a PostgreSQL
    one is read through its own connection."""
    if project.store.url:
        with open_store(project) as store:
            return store.snapshot(folder)
    return snapshot(project.store.path, folder)


def open_store(project: Any) -> TaskStore:
    """The store configured for ``project``: PostgreSQL when ``store.url`` is set, else SQLite at
    ``store.path``."""
    if project.store.url:
        return open_location(project.store.url, schema=project.store.schema)
    return SqliteTaskStore(project.store.path)


def open_location(where: str | Path, schema: str | None = None) -> TaskStore:
    """A store by where it lives: a ``postgresql://`` URL, or an SQLite file path."""
    if not is_postgres_url(str(where)):
        return SqliteTaskStore(where)
    try:
        from alumio_mistral.tasks.postgres import PostgresTaskStore
    except ImportError as error:
        raise TaskStoreError(
            f"{redact_url(str(where))}: a PostgreSQL store needs its driver: pip install 'alumio-mistral[postgres]'"
        ) from error
    return PostgresTaskStore(str(where), schema=schema)
