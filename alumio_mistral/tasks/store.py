"""The task store interface: what the engine and the CLI may ask of durable tasks.

Callers depend on :class:`TaskStore` only, so that a PostgreSQL store can follow the SQLite
one without touching them. Storages (named key/value namespaces for de-duplication, lookups
and trigger state) live in the same store so that a de-dup mark and the task it guards are
written in one transaction.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator, Protocol, overload

from alumio_mistral.errors import AlumioError

STATUSES: tuple[str, ...] = ("new", "processing", "processed", "failed", "skipped", "review")
#: statuses a task may be finished with (``new`` and ``processing`` are set by the store)
FINAL_STATUSES: tuple[str, ...] = ("processed", "failed", "skipped", "review")

#: de-dup policies a store decides: skip a key already marked / skip an unchanged value
DEDUP_POLICIES: tuple[str, ...] = ("new", "changed")


class TaskStoreError(AlumioError):
    """The store refused a request (unknown task, bad status, unreadable database)."""


@dataclass(frozen=True)
class Dedup:
    """The "already seen?" question and the mark that answers it next time.

    The store asks and writes in the same transaction as the tasks, so two runs reading the
    same entity at once cannot both create its task. ``policy`` ``new`` skips a key already
    marked; ``changed`` skips it when the mark equals ``value`` (a content hash).
    """

    policy: str
    namespace: str
    key: str
    value: Any

    def __post_init__(self) -> None:
        if self.policy not in DEDUP_POLICIES:
            raise TaskStoreError(f"unknown de-dup policy {self.policy!r} (one of: {', '.join(DEDUP_POLICIES)})")

    def seen(self, marked: Any) -> bool:
        """Does the stored mark (``None``: none) make this entity one to skip?"""
        return marked is not None and (self.policy == "new" or marked == self.value)


@dataclass(frozen=True)
class Task:
    """One entity waiting for (or done with) one outgoing."""

    id: int
    incoming: str
    outgoing: str | None
    entity: Any
    identity: str | None
    status: str
    attempts: int
    created_at: str
    updated_at: str
    last_error: dict[str, Any] | None = None
    result: Any = None
    claimed_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record (entity, error and result are already JSON values)."""
        return asdict(self)


def worker_id(name: str = "") -> str:
    """A worker name that tells :meth:`TaskStore.stale` whether its process still lives.

    The form is ``host:pid:thread[:name]``; tasks claimed by a pid that no longer runs on this
    host are stale (a crash or SIGKILL left them in ``processing``).
    """
    base = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    return f"{base}:{name}" if name else base


def worker_is_alive(worker: str | None) -> bool:
    """True unless ``worker`` names a process on this host that no longer exists."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname():
        return True  # another machine: we cannot tell, so never steal its work
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TaskStore(Protocol):
    """Durable tasks plus storages; every write is one transaction."""

    def add_tasks(
        self,
        incoming: str,
        entity: Any,
        outgoings: Iterable[str | None],
        identity: str | None,
        dedup: Dedup | None = None,
    ) -> list[int]:
        """Insert one task per outgoing (one with outgoing ``None`` when there is none) and
        the de-dup mark, atomically; returns the new task ids (none when ``dedup`` says the
        entity was seen)."""

    def claim(
        self, outgoing: str | None, limit: int, worker: str, ids: Iterable[int] | None = None
    ) -> list[Task]:
        """Move up to ``limit`` ``new`` tasks of ``outgoing`` to ``processing`` for ``worker``;
        with ``ids``, only among those tasks (``tasks retry`` publishes just the ones named)."""

    def finish(
        self, task_id: int, status: str, result: Any = None, error: dict[str, Any] | None = None
    ) -> None:
        """Record the outcome of a claimed task."""

    def stale(self, outgoing: str | None) -> list[Task]:
        """Tasks left in ``processing`` by a worker that no longer runs."""

    def requeue(self, ids: Iterable[int] | None, statuses: Iterable[str] | None = None) -> int:
        """Put tasks (by id and/or status) back to ``new``; returns how many moved."""

    @overload
    def get(self, task_or_namespace: int) -> Task | None: ...

    @overload
    def get(self, task_or_namespace: str, key: str) -> Any | None: ...

    def get(self, task_or_namespace: int | str, key: str | None = None) -> Any:
        """``get(id)`` returns a task; ``get(namespace, key)`` a storage value (``None`` if absent)."""

    def list(
        self,
        status: str | None = None,
        incoming: str | None = None,
        outgoing: str | None = None,
        limit: int | None = None,
    ) -> list[Task]:
        """Tasks in id order, filtered."""

    def counts(self) -> dict[str, int]:
        """Number of tasks per status (every status present, zero included)."""

    def set(self, namespace: str, key: str, value: Any) -> None:
        """Store a JSON value under ``namespace``/``key``."""

    def delete(self, namespace: str, key: str) -> bool:
        """Remove one key; True when it existed."""

    def items(self, namespace: str) -> Iterator[tuple[str, Any]]:
        """Keys and values of one namespace, in key order."""

    def namespaces(self) -> dict[str, int]:
        """Storage namespaces and their number of keys."""

    def clear(self, namespace: str) -> int:
        """Remove a whole namespace; returns how many keys went."""

    def close(self) -> None:
        """Release connections (from every thread)."""
