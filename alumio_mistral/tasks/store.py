"""The task store interface: what the engine and the CLI may ask of durable tasks.

Callers depend on :class:`TaskStore` only, so that a PostgreSQL store can follow the SQLite
one without touching them. Storages (named key/value namespaces for de-duplication, lookups
and trigger state) live in the same store so that a de-dup mark and the task it guards are
written in one transaction.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Protocol, Sequence, overload

from alumio_mistral.errors import AlumioError

STATUSES: tuple[str, ...] = ("new", "processing", "processed", "failed", "skipped", "review")
#: statuses a task may be finished with (``new`` and ``processing`` are set by the store)
FINAL_STATUSES: tuple[str, ...] = ("processed", "failed", "skipped", "review")

#: how long a claim lasts without renewal, in seconds (``store: {lease: N}`` sets it per project)
DEFAULT_LEASE_SECONDS = 60.0
#: the bounds a lease setting must stay within: short enough to recover, long enough to renew
LEASE_BOUNDS: tuple[float, float] = (1.0, 3600.0)
#: statuses a person may settle a checked task from (``tasks resolve``)
RESOLVABLE_STATUSES: tuple[str, ...] = ("review", "failed")
#: tasks per page of :meth:`TaskStore.page` unless asked otherwise (a screenful)
PAGE_SIZE = 50

#: de-dup policies a store decides: skip a key already marked / skip an unchanged value
DEDUP_POLICIES: tuple[str, ...] = ("always", "new", "changed")
#: the policies that leave a mark in a storage (``always`` makes a task every time and marks nothing)
MARKING_POLICIES: tuple[str, ...] = ("new", "changed")


class TaskStoreError(AlumioError):
    """The store refused a request (unknown task, bad status, unreadable database)."""


class LeaseHeldError(TaskStoreError):
    """A task is ``processing`` under a live lease: a worker is on it, so it is not touched."""


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
        if self.policy not in MARKING_POLICIES:
            raise TaskStoreError(f"unknown de-dup policy {self.policy!r} (one of: {', '.join(MARKING_POLICIES)})")

    def seen(self, marked: Any) -> bool:
        """Does the stored mark (``None``: none) make this entity one to skip?"""
        return marked is not None and (self.policy == "new" or marked == self.value)


class NewEntity(NamedTuple):
    """One entity of a batch for :meth:`TaskStore.add_many`: what to store and how to de-dup it
    (a tuple: an incoming run makes one per entity, a page of them in C, and the collector keeps
    no track of a tuple once what it holds is plain data)."""

    entity: Any
    identity: str | None
    dedup: Dedup | None = None


class Settled(NamedTuple):
    """How the task of one entity of a batch ended before it was stored: a file target that
    writes ahead (see :meth:`TaskStore.add_many`) wrote its record while the batch was read."""

    status: str
    result: Any = None
    error: dict[str, Any] | None = None


#: a message for the outbox: (topic, JSON payload); written with the outcome of a task
OutboxEntry = tuple[str, Any]

#: the states of an outbox message, for :meth:`TaskStore.outbox_counts` and ``outbox_list``
OUTBOX_STATES: tuple[str, ...] = ("pending", "delivered", "gave_up")


@dataclass(frozen=True)
class TaskOutcome:
    """How one claimed task ended, for :meth:`TaskStore.finish_many`; ``outbox``: messages
    written in the same transaction (an interaction log, a trigger), so a finished task never
    lacks its message and a rolled-back one never has it."""

    task_id: int
    status: str
    result: Any = None
    error: dict[str, Any] | None = None
    outbox: tuple[OutboxEntry, ...] = ()


@dataclass(frozen=True)
class OutboxMessage:
    """One message waiting for (or done with) delivery; times are epoch seconds."""

    id: int
    topic: str
    payload: Any
    created_at: float
    attempts: int
    next_attempt_at: float
    delivered_at: float | None = None
    last_error: str | None = None
    #: delivery refused for good (a permanent 4xx): kept so that a person sees it
    gave_up: bool = False
    claimed_by: str | None = None
    lease_until: float | None = None

    @property
    def state(self) -> str:
        """``pending``, ``delivered`` or ``gave_up``."""
        return "delivered" if self.delivered_at is not None else "gave_up" if self.gave_up else "pending"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}


#: the SQL condition of each outbox state, and the state of a row, in both dialects
OUTBOX_STATE_SQL: dict[str, str] = {
    "pending": "delivered_at IS NULL AND gave_up = FALSE",
    "delivered": "delivered_at IS NOT NULL",
    "gave_up": "gave_up = TRUE",
}
OUTBOX_COUNTS_SQL = (
    "SELECT topic, CASE WHEN delivered_at IS NOT NULL THEN 'delivered' WHEN gave_up = TRUE THEN 'gave_up'"
    " ELSE 'pending' END AS state, COUNT(*) FROM outbox GROUP BY topic, state"
)


def tally_outbox(rows: Iterable[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    """(topic, state, count) rows as counts per topic, every state present."""
    counts: dict[str, dict[str, int]] = {}
    for topic, state, count in rows:
        counts.setdefault(topic, dict.fromkeys(OUTBOX_STATES, 0))[state] = int(count)
    return counts


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
    #: while ``processing``: the time (epoch seconds) the claim lapses unless renewed
    lease_until: float | None = None
    #: how a person settled the task by hand (``tasks resolve``): status, note, by, at, from
    resolution: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record (entity, error and result are already JSON values)."""
        return asdict(self)


def check_statuses(statuses: Iterable[str], allowed: tuple[str, ...] = STATUSES) -> list[str]:
    """``statuses`` as a list, or :class:`TaskStoreError` naming the first one not ``allowed``."""
    chosen = list(statuses)
    unknown = [s for s in chosen if s not in allowed]
    if unknown:
        raise TaskStoreError(f"unknown task status {unknown[0]!r} (one of: {', '.join(allowed)})")
    return chosen


def settled(status: str, resolution: dict[str, Any], was: str, error: Any) -> tuple[dict[str, Any], Any]:
    """The resolution record and last error of a task settled as ``status`` (it was ``was``).

    A processed task keeps no last error, which `tasks list` would show as its trouble (an
    "uncertain send" that reconcile found landed); the error moves into the resolution, so
    its history stays. A failed or review task keeps its error: the reason, and what
    ``tasks reconcile`` looks with.
    """
    record = {**resolution, "from": was}
    if status != "processed" or error is None:
        return record, error
    return {**record, "error": error}, None


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def worker_id(name: str = "") -> str:
    """A worker label for task records: who claimed a task, for people reading ``tasks show``.

    The form is ``host:pid:token[:name]``; the random token keeps two workers apart even when a
    restarted container reuses the host name and pid. Liveness is never read from it: a
    claim holds a lease (see :meth:`TaskStore.claim`), and only an expired lease makes a task stale.
    """
    base = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return f"{base}:{name}" if name else base


def new_targets(outgoings: Iterable[str | None], written_ahead: Mapping[str, Sequence[Settled]] | None,
                entities: Sequence[NewEntity]) -> list[str | None]:
    """The outgoings whose tasks :meth:`TaskStore.add_many` stores ``new`` (``[None]`` for an
    incoming with no route), once ``written_ahead`` is found fit to store with ``entities``."""
    targets = list(outgoings)
    if not written_ahead:
        return targets or [None]
    if any(new.dedup is not None for new in entities):
        raise TaskStoreError("tasks written ahead cannot be de-duplicated: their records were written first")
    for outgoing, outcomes in written_ahead.items():
        if outgoing in targets:
            raise TaskStoreError(f"outgoing {outgoing!r} is both new and written ahead")
        if len(outcomes) != len(entities):
            raise TaskStoreError(
                f"outgoing {outgoing!r}: {len(outcomes)} tasks written ahead for {len(entities)} entities")
        check_statuses({outcome.status for outcome in outcomes}, FINAL_STATUSES)
    return targets


class StoreShortcuts:
    """What each store derives from its own batch and transaction methods, written once for
    every dialect: one task's finish is a batch of one, and a lone outbox message is queued in
    a write transaction of its own."""

    def finish(
        self,
        task_id: int,
        status: str,
        result: Any = None,
        error: dict[str, Any] | None = None,
        outbox: Sequence[OutboxEntry] = (),
    ) -> None:
        self.finish_many([TaskOutcome(task_id, status, result, error, tuple(outbox))])  # type: ignore[attr-defined]

    def outbox_add(self, entries: Sequence[OutboxEntry]) -> list[int]:
        with self._write() as transaction:  # type: ignore[attr-defined]
            return self._queue_outbox(transaction, entries)  # type: ignore[attr-defined, no-any-return]


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

    def add_many(
        self, incoming: str, entities: Sequence[NewEntity], outgoings: Iterable[str | None],
        written_ahead: Mapping[str, Sequence[Settled]] | None = None,
    ) -> list[int]:
        """The tasks of a batch of entities (a page) in ONE transaction; returns, per entity,
        how many tasks it got (0 when de-dup says it was seen).

        A batch means exactly what :meth:`add_tasks` called for each entity in turn means: the
        de-dup of every entity is decided inside the transaction, against the stored marks and
        against the entities before it in the batch, so two runs adding at once never both
        create a task for one entity, and a crash leaves the whole batch written or none of it.
        Each entity is serialised once whatever the number of outgoings. A store may keep such
        a batch as one record until tasks are next read or chosen (SQLite does, for a batch
        without de-dup marks); every other method sees its tasks as if they were rows already.

        ``written_ahead`` maps an outgoing (not among ``outgoings``) to the outcome of each
        entity's task, in order: a file target wrote their records while the batch was read, so
        those tasks are stored already finished, claimed once, in the same transaction. Only a
        batch without de-dup marks may carry them (the records were written before the store
        could decide), else :class:`TaskStoreError`; with ``written_ahead`` and no
        ``outgoings``, no task of outgoing ``None`` is made."""

    def claim(
        self,
        outgoing: str | None,
        limit: int,
        worker: str,
        ids: Iterable[int] | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> list[Task]:
        """Move up to ``limit`` ``new`` tasks of ``outgoing`` to ``processing`` for ``worker``,
        each leased for ``lease_seconds``; with ``ids``, only among those tasks (``tasks retry``
        publishes just the ones named)."""

    def renew(self, ids: Iterable[int], worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> list[int]:
        """Extend the leases ``worker`` still holds among ``ids``; returns the ids renewed (a
        task missing from the answer was finished, or taken over after its lease lapsed)."""

    def finish(
        self,
        task_id: int,
        status: str,
        result: Any = None,
        error: dict[str, Any] | None = None,
        outbox: Sequence[OutboxEntry] = (),
    ) -> None:
        """Record the outcome of a claimed task, and its ``outbox`` messages in the same transaction."""

    def finish_many(self, outcomes: Sequence[TaskOutcome]) -> None:
        """Record the outcomes of several claimed tasks in ONE transaction (a publish batch made
        durable together), with their outbox messages; an unknown task id raises and records
        none of them."""

    def release(self, ids: Iterable[int], worker: str) -> int:
        """Give back claims ``worker`` holds on tasks it sent nothing for: they are ``new``
        again, their attempt not counted; returns how many moved."""

    def stale(self, outgoing: str | None) -> list[Task]:
        """Tasks of ``outgoing`` left in ``processing`` whose lease has lapsed (their worker
        stopped renewing: it died, or its host went away)."""

    def leased(self, outgoing: str | None) -> list[Task]:
        """Tasks of ``outgoing`` in ``processing`` under a live lease (a worker is on them)."""

    def requeue(self, ids: Iterable[int] | None, statuses: Iterable[str] | None = None) -> int:
        """Put tasks (by id and/or status) back to ``new``; returns how many moved. A task
        ``processing`` under a live lease raises :class:`LeaseHeldError` and nothing moves."""

    def resolve(self, task_id: int, status: str, resolution: dict[str, Any], result: Any = None) -> Task:
        """Settle a ``review`` or ``failed`` task as ``processed`` or ``failed`` (by hand, or by
        ``tasks reconcile`` with what it found as ``result``), keeping ``resolution`` (note,
        who, when) in the task's record; ``status`` ``review`` keeps a review task where it is
        and only records the note (``tasks reconcile`` could not tell)."""

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
        after: int | None = None,
    ) -> list[Task]:
        """Tasks in id order, filtered; ``after``: only ids above it (to read page by page)."""

    def import_tasks(self, tasks: Sequence[Task]) -> None:
        """Write tasks exactly as given, ids and all, in one transaction (``store copy``)."""

    def counts(self) -> dict[str, int]:
        """Number of tasks per status (every status present, zero included)."""

    def counts_by_outgoing(self) -> dict[tuple[str | None, str], int]:
        """Number of tasks per (outgoing, status) pair that has any (outgoing ``None``: tasks of
        an incoming without routes); for ``status`` and ``/metrics``, one grouped query."""

    # -- the outbox: messages delivered after the transaction that made them ------------------

    def outbox_add(self, entries: Sequence[OutboxEntry]) -> list[int]:
        """Queue messages on their own (no task to finish, e.g. the SDK logger); returns their ids."""

    def outbox_claim(
        self,
        topics: Iterable[str] | None,
        limit: int,
        worker: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        early: bool = False,
    ) -> list[OutboxMessage]:
        """Lease up to ``limit`` due messages (pending, next attempt reached, no live lease) of
        ``topics`` (``None``: any) to ``worker``, oldest first, counting an attempt each; two
        workers claiming at once get disjoint messages. A worker that dies leaves its lease to
        lapse, and the message is claimed again. ``early``: pending messages whose retry delay
        has not passed too (a new process tries its backlog at once: the endpoint may be back)."""

    def outbox_delivered(self, ids: Iterable[int], worker: str) -> int:
        """Mark messages ``worker`` holds as delivered; returns how many."""

    def outbox_retry(self, message_id: int, worker: str, error: str, delay_seconds: float) -> bool:
        """Give a message back after a failed attempt that may succeed later (429, 5xx, no
        answer), due again in ``delay_seconds``; False when ``worker`` no longer held it."""

    def outbox_give_up(self, message_id: int, worker: str, error: str) -> bool:
        """Stop delivering a message (a permanent refusal); it is kept, with ``error``, for people."""

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        """Messages per topic and state (``pending``, ``delivered``, ``gave_up``; zero included)."""

    def outbox_list(
        self, topic: str | None = None, state: str | None = None, limit: int | None = None
    ) -> list[OutboxMessage]:
        """Messages in id order, filtered by topic and state."""

    def page(
        self,
        status: str | None = None,
        incoming: str | None = None,
        outgoing: str | None = None,
        text: str | None = None,
        before: int | None = None,
        limit: int = PAGE_SIZE,
        after: int | None = None,
    ) -> list[Task]:
        """Up to ``limit`` tasks, newest first, with ids below ``before`` (the last id of the
        page before: keyset paging, so page 1000 costs what page 1 does) and above ``after``
        (a bound on how far a ``text`` search reads); ``text``: a substring of the entity,
        identity or error. Reads the ``(status, id)`` and ``(outgoing, status, id)`` indexes
        backwards and stops at ``limit`` rows."""

    def finished_per_hour(self, since: datetime, until: datetime | None = None) -> dict[tuple[str, str], int]:
        """Tasks that ended ``processed`` or ``failed`` from ``since`` to before ``until``
        (``None``: no end), per (UTC hour as ``YYYY-MM-DDTHH``, status), by their last update
        (the dashboard's chart); hours without any are left out."""

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

    def snapshot(self, folder: Path) -> TaskStore:
        """A private, writable copy kept in ``folder``, for a dry run that must change nothing here."""

    def close(self) -> None:
        """Release connections (from every thread)."""

    def __enter__(self) -> TaskStore: ...

    def __exit__(self, *exc: object) -> None:
        """Close."""
