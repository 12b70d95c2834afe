"""Run incoming configurations: subscriber -> entity transformers -> identity and de-dup -> tasks.

One bad entity never aborts a run: it is recorded (with file and line for local sources),
counted as failed, and the run goes on; callers turn ``stats.failed`` into a non-zero exit.
An entity too deep, holding text that is not valid Unicode or a NaN is such a bad entity
(see :func:`~alumio_mistral.subscribers.base.entity_problem`).
The de-dup check, its mark and the tasks it guards are one transaction, so a crash between
entities never leaves an entity marked but without its task (or the reverse), and two runs
of one incoming at once never both create a task for the same entity.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import repeat
from typing import Any, Protocol, runtime_checkable

from alumio_mistral.errors import AlumioError
from alumio_mistral.subscribers import build_subscriber
from alumio_mistral.subscribers.base import Page, PagedSubscriber, Record, entity_problem, records_of
from alumio_mistral.tasks.store import Dedup, NewEntity, Settled, TaskStore
from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.pipeline import compile_pipeline
from alumio_mistral.transformers.patterns import MISSING, KeyPattern, compile_pattern

#: failures kept for the report; beyond this they are only counted (memory stays flat)
MAX_REPORTED_FAILURES = 1000
#: entities stored per transaction: a page of most sources (one transaction each cost 16x a bare read)
BATCH_SIZE = 1000
#: batches handed to the writer thread and not yet counted: reading goes on while a write
#: stalls on the disk (10-50 ms while a checkpoint runs, the time of several pages), memory
#: bounded at this many batches
WRITES_AHEAD = 3

log = logging.getLogger("alumio_mistral.incoming")


class EntityRejected(AlumioError):
    """A posted entity that its incoming's transformers or identity refuse (nothing was stored)."""


@runtime_checkable
class MarkingSubscriber(Protocol):
    """A subscriber that keeps marks (a trigger's high-water mark, outbox messages taken) in the
    task store: it reads them through ``use_storage`` (its namespace is the incoming's), and the
    incoming calls ``stored`` only once every entity read is stored, when the marks may move
    on; a crash in between reads the same again."""

    def use_storage(self, storages: TaskStore, namespace: str) -> None: ...

    def stored(self) -> None: ...


class WriteAhead(Protocol):
    """An outgoing whose records ``run`` writes while its incomings read (a batched file target,
    see ``Outgoing.write_ahead``), and what counts their outcomes once their tasks are stored."""

    def write_ahead(self, entities: list[Any]) -> list[Settled]: ...

    def written(self, outcomes: list[Settled]) -> None: ...


#: what storing a batch gave: the tasks made per entity, and the outcomes of those written ahead
_Written = tuple[list[int], dict[str, list[Settled]]]


class IdentityError(AlumioError):
    """An entity without the field that identifies it, under a de-dup policy that needs one."""


@dataclass(frozen=True)
class EntityFailure:
    incoming: str
    origin: str
    message: str

    def __str__(self) -> str:
        return f"incoming {self.incoming}: {self.origin}: {self.message}"


@dataclass
class IncomingStats:
    """What a run did; ``failed`` counts entities (and whole sources) that could not be read."""

    read: int = 0
    created: int = 0
    skipped: int = 0
    failed: int = 0
    duration: float = 0.0
    failures: list[EntityFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failures"] = [asdict(failure) for failure in self.failures]
        return data


def canonical_json(value: Any) -> str:
    """One text per JSON value whatever its key order: the basis of identities and hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def content_hash(entity: Any) -> str:
    return hashlib.sha256(canonical_json(entity).encode()).hexdigest()


def identity_of(entity: Any, pattern: str) -> str | None:
    """The identity at ``pattern`` as text (``None`` when absent or null)."""
    return _as_identity(compile_pattern(pattern).get(entity))


def identities_of(entities: list[Any], pattern: str) -> list[str | None]:
    """:func:`identity_of` each entity of a page: for the usual one-key pattern over objects,
    read in C loops (a page costs no Python call per entity unless an identity is not text)."""
    compiled = compile_pattern(pattern)
    if isinstance(compiled, KeyPattern) and set(map(type, entities)) == {dict}:
        found: list[Any] = list(map(dict.get, entities, repeat(compiled.key)))
    else:
        found = [compiled.get(entity) for entity in entities]
    if set(map(type, found)) <= _TEXT_OR_NONE:
        return found
    return list(map(_as_identity, found))


_TEXT_OR_NONE = {str, type(None)}
#: ``NewEntity`` from an ``(entity, identity, dedup)`` tuple without a Python-level call
_new_entity_from_tuple = partial(tuple.__new__, NewEntity)


def _as_identity(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    return value if isinstance(value, str) else canonical_json(value)


class _Incoming:
    """One incoming configuration, ready to turn records into tasks."""

    def __init__(
        self, project: Any, store: TaskStore, config: Any, clients: Mapping[str, Any], library: Library,
        dry_run: bool = False, ahead: Mapping[str, WriteAhead] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clients = clients
        self.namespace = f"dedup:{config.name}"
        self.outgoings = routed_outgoings(project, config.name)
        routed = self.outgoings or []
        #: the routed outgoings that write ahead: not when de-dup decides, which it does in the
        #: store's transaction, after their records would have been written
        self.ahead = {name: ahead[name] for name in routed if name in ahead} \
            if ahead and config.dedup == "always" else {}
        #: the routed outgoings whose tasks are stored ``new``
        self.queued = [name for name in routed if name not in self.ahead]
        self.pipeline = compile_pipeline(
            config.entity_transformers,
            source=str(project.path),
            where=f"incoming.{config.name}.entity_transformers",
            library=library,
            context=TransformContext(storages=store, clients=clients, dry_run=dry_run),
        ) if config.entity_transformers else None

    def prepare(self, entity: Any) -> NewEntity:
        """What the store needs of one (transformed) entity: its identity and de-dup mark."""
        return self._new_entity(entity, identity_of(entity, self.config.identity))

    def prepare_page(self, entities: list[Any]) -> list[NewEntity] | None:
        """:meth:`prepare` each entity of a page, or ``None`` when one of them lacks the identity
        its de-dup needs (the caller then takes the page an entity at a time, failing that one)."""
        identities = identities_of(entities, self.config.identity)
        if self.config.dedup == "always":
            return list(map(_new_entity_from_tuple, zip(entities, identities, repeat(None))))
        if None in identities:
            return None
        return list(map(self._new_entity, entities, identities))

    def _new_entity(self, entity: Any, identity: str | None) -> NewEntity:
        if self.config.dedup == "always":
            return NewEntity(entity, identity)
        if identity is None:
            raise IdentityError(
                f"no identity at {self.config.identity!r} (needed by dedup {self.config.dedup!r}; "
                "set `identity` to the field that identifies an entity)"
            )
        return NewEntity(entity, identity, Dedup(self.config.dedup, self.namespace, identity, content_hash(entity)))

    def ingest(self, entities: list[Any]) -> dict[str, int]:
        """Store posted entities (a webhook's) all or nothing: transformed, de-duplicated and
        written in ONE transaction, so the caller may answer 2xx once this returns; an entity
        the pipeline or identity refuses raises :class:`EntityRejected` and nothing is stored."""
        prepared: list[NewEntity] = []
        for index, entity in enumerate(entities):
            try:
                problem = entity_problem(entity)
                if problem is not None:
                    raise AlumioError(problem)
                outputs = self.pipeline.run(entity) if self.pipeline else [entity]
                prepared.extend(self.prepare(output) for output in outputs)
            except AlumioError as error:
                raise EntityRejected(f"incoming {self.config.name}: item {index}: {error}") from error
        if self.outgoings == [] or not prepared:
            return {"received": len(entities), "created": 0}
        created = self.store.add_many(self.config.name, prepared, self.outgoings or [])
        return {"received": len(entities), "created": sum(created)}

    def write(self, entities: list[NewEntity]) -> _Written:
        """Store a batch (on the writer thread): the outgoings that write ahead publish it
        first, and their tasks are stored finished with the others' new ones; returns what
        the store created per entity and each outgoing's outcomes.

        An outgoing that cannot write the batch (a full disk) gets its tasks ``new``: the
        publish pass after the read tries them again, and reports what fails."""
        written: dict[str, list[Settled]] = {}
        queued = self.queued
        records = [new.entity for new in entities] if self.ahead else []
        for name, ahead in self.ahead.items():
            try:
                written[name] = ahead.write_ahead(records)
            except (AlumioError, OSError) as error:
                log.warning("incoming %s: outgoing %s could not write a batch ahead (%s); its tasks wait as new",
                            self.config.name, name, error)
                queued = [*queued, name]
        return self.store.add_many(self.config.name, entities, queued, written), written

    def run(self, project: Any, stats: IncomingStats, progress: Any) -> None:
        """Read every record; store their entities a batch (about a page) per transaction.

        A record's entities go into one batch together, so a crash leaves each record wholly
        stored or not at all; what a crash loses is at most the batches handed to the writer
        (:data:`WRITES_AHEAD`) and the one being filled, which the next run reads again (and
        de-dup keeps from being stored twice).
        """
        batch = _Batch(self, stats, progress)
        spec = self.config.subscriber
        source = spec.get("entity") or spec.get("path") or spec.get("type", "subscriber")
        read = 0
        failed_before = stats.failed
        subscriber = None
        try:
            subscriber = build_subscriber(self.config.subscriber, project, self.clients,
                                          where=f"incoming.{self.config.name}.subscriber")
            if isinstance(subscriber, MarkingSubscriber):
                subscriber.use_storage(self.store, f"marks:{self.config.name}")
            if isinstance(subscriber, PagedSubscriber):
                for page in subscriber.pages():
                    read += len(page.entities)
                    self._take_page(page, batch)
            else:
                for record in subscriber.records():
                    read += 1
                    self._take(record, batch, check=True)
        except AlumioError as error:
            batch.failure(f"{source} (reading stopped after {read} entities)", str(error), record=False)
        finally:
            batch.finish()
        if isinstance(subscriber, MarkingSubscriber) and stats.failed == failed_before and self.outgoings != []:
            subscriber.stored()  # every entity read is a task now: only then may its marks move on

    def _take_page(self, page: Page, batch: _Batch) -> None:
        """A page at once when its decoder vouched for it and nothing transforms its entities;
        else an entity at a time, each checked unless vouched for."""
        if page.vouched and self.pipeline is None and self.outgoings != []:
            prepared = self.prepare_page(page.entities)
            if prepared is not None:
                batch.add_page(page.origin, prepared)
                return
        for record in records_of(page.entities, page.origin):
            self._take(record, batch, check=not page.vouched)

    def _take(self, record: Record, batch: _Batch, check: bool) -> None:
        """One record: checked (when ``check``), transformed and prepared, or failed alone."""
        problem = record.error if record.error is not None else entity_problem(record.entity) if check else None
        if problem is not None:
            batch.failure(record.origin, problem)
            return
        try:
            # the record's entity is ours (fresh from the source): transformed in place
            outputs = self.pipeline.run_owned(record.entity) if self.pipeline else [record.entity]
            entities = [self.prepare(output) for output in outputs] if self.outgoings != [] else []
        except AlumioError as error:
            batch.failure(record.origin, str(error))
            return
        batch.add(record.origin, entities)


class _Batch:
    """Records read and not yet stored, and the counting of what became of each.

    A full batch goes to a writer thread, which stores it in one transaction while the next
    one fills: the store's work (SQLite steps with the GIL released, a PostgreSQL round trip)
    overlaps fetching and decoding the next page. Up to :data:`WRITES_AHEAD` batches wait for
    the writer; each is counted once written, oldest first and before anything read after it,
    so counts and failures come in reading order.
    """

    def __init__(self, incoming: _Incoming, stats: IncomingStats, progress: Any) -> None:
        self.incoming = incoming
        self.stats = stats
        self.progress = progress
        self.entities: list[NewEntity] = []
        #: per record waiting: its origin, and how many of ``entities`` are its own
        self.origins: list[str] = []
        self.sizes: list[int] = []
        #: records read and not counted yet (counted a batch at a time, not one by one)
        self.unreported = 0
        self._writer: ThreadPoolExecutor | None = None
        #: the batch being written: its records' origins and sizes, and the store's answer to come
        self._writing: deque[tuple[list[str], list[int], Future[_Written] | None]] = deque()

    def add(self, origin: str, entities: list[NewEntity]) -> None:
        self.unreported += 1
        self.entities.extend(entities)
        self.origins.append(origin)
        self.sizes.append(len(entities))
        if len(self.entities) >= BATCH_SIZE or len(self.origins) >= BATCH_SIZE:
            self.store()

    def add_page(self, origin: str, entities: list[NewEntity]) -> None:
        """A page's records, one entity each, added at once."""
        count = len(entities)
        self.unreported += count
        self.entities.extend(entities)
        self.origins.extend(repeat(origin, count))
        self.sizes.extend(repeat(1, count))
        if len(self.entities) >= BATCH_SIZE or len(self.origins) >= BATCH_SIZE:
            self.store()

    def failure(self, origin: str, message: str, record: bool = True) -> None:
        """A record that could not be read or prepared (or, ``record`` false, the whole source).

        The records before it are stored and counted first, so counts and failures come in
        reading order (failures are rare: the wait for the writer is theirs)."""
        self.flush()
        if record:
            self.unreported += 1
            self._report_reads()
        self._fail(origin, message)

    def store(self) -> None:
        """Hand the waiting records to the writer, once the batch before them is written and counted."""
        origins, sizes, entities = self.origins, self.sizes, self.entities
        self.origins, self.sizes, self.entities = [], [], []
        self._report_reads()
        if not origins:
            return
        while len(self._writing) >= WRITES_AHEAD:
            self._collect()
        incoming = self.incoming
        written = None
        if entities:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"incoming-{incoming.config.name}")
            written = self._writer.submit(incoming.write, entities)
        self._writing.append((origins, sizes, written))

    def flush(self) -> None:
        """Store every record read, and wait until they are written and counted."""
        self.store()
        while self._writing:
            self._collect()

    def finish(self) -> None:
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._writer.shutdown()

    def _collect(self) -> None:
        """Wait for the oldest batch handed to the writer; count each of its records created or skipped."""
        origins, sizes, written = self._writing.popleft()
        try:
            created, ahead = written.result() if written is not None else ([], {})
        except AlumioError as error:
            for origin in origins:
                self._fail(origin, str(error))
            return
        for name, outcomes in ahead.items():
            self.incoming.ahead[name].written(outcomes)
        if sizes.count(1) == len(sizes):  # a record per entity (a page's): counted in C
            made_total, skipped = sum(created), created.count(0)
        else:
            position = made_total = skipped = 0
            for size in sizes:
                made = sum(created[position:position + size])
                position += size
                made_total += made
                skipped += not made
        self._count("created", made_total)
        self._count("skipped", skipped)

    def _fail(self, origin: str, message: str) -> None:
        self._count("failed")
        if len(self.stats.failures) < MAX_REPORTED_FAILURES:
            self.stats.failures.append(EntityFailure(self.incoming.config.name, origin, message))

    def _report_reads(self) -> None:
        self._count("read", self.unreported)
        self.unreported = 0

    def _count(self, counter: str, amount: int = 1) -> None:
        if not amount:
            return
        setattr(self.stats, counter, getattr(self.stats, counter) + amount)
        if self.progress is not None:
            self.progress.add(counter, amount)


def routed_outgoings(project: Any, incoming: str) -> list[str] | None:
    """Where ``incoming``'s tasks go: the enabled outgoings of its enabled routes.

    ``None`` when it has no route at all (its tasks are stored with outgoing ``None``);
    ``[]`` when it has routes but every one is off (disabled, or to a disabled outgoing).
    """
    routes = [route for route in project.routes if route.incoming == incoming]
    if not routes:
        return None
    return list(dict.fromkeys(
        name for route in routes if not route.disabled
        for name in route.outgoing if not project.outgoing[name].disabled
    ))


def chosen_incomings(project: Any, names: list[str] | None = None) -> list[Any]:
    """The incoming configurations a run reads.

    Named ones run even when disabled: naming one is a deliberate request (a one-off backfill,
    a test read). Unnamed, a run takes every enabled incoming except those whose routes are all
    off (reading costs requests and what it read could go nowhere) and webhook incomings (their
    entities are posted to ``serve``; named, one fails saying so).
    """
    if names:
        unknown = [name for name in names if name not in project.incoming]
        if unknown:
            raise AlumioError(
                f"{project.path}: no incoming named {unknown[0]!r} "
                f"(known: {', '.join(project.incoming) or 'none'})"
            )
        return [project.incoming[name] for name in names]
    return [config for name, config in project.incoming.items()
            if not config.disabled and routed_outgoings(project, name) != []
            and config.subscriber.get("type") != "webhook"]


def receiver(project: Any, store: TaskStore, name: str, *, clients: Mapping[str, Any],
             library: Library) -> Callable[[list[Any]], dict[str, int]]:
    """What stores the entities posted to webhook incoming ``name`` (see :meth:`_Incoming.ingest`)."""
    return _Incoming(project, store, project.incoming[name], clients, library).ingest


def run_incoming(
    project: Any,
    store: TaskStore,
    names: list[str] | None = None,
    *,
    clients: Mapping[str, Any],
    library: Library,
    progress: Any = None,
    dry_run: bool = False,
    ahead: Mapping[str, WriteAhead] | None = None,
) -> IncomingStats:
    """Run the named incoming configurations (see :func:`chosen_incomings` for which run unnamed)
    with the process's shared ``clients`` (a :class:`~alumio_mistral.runtime.Runtime` passes its own).

    ``dry_run`` keeps transformer steps that would call a server (http-enrich) from sending;
    ``ahead`` names the outgoings that write ahead (``run`` gives them, see :class:`WriteAhead`).

    A disabled route, or one to a disabled outgoing, gets no tasks; an incoming whose routes
    are all off reads and transforms but stores nothing, not even de-dup marks.
    """
    chosen = chosen_incomings(project, names)
    stats = IncomingStats()
    started = time.monotonic()
    try:
        # compile every pipeline first: a configuration error stops the run before any read
        for ready in [_Incoming(project, store, config, clients, library, dry_run, ahead) for config in chosen]:
            ready.run(project, stats, progress)
    finally:
        stats.duration = time.monotonic() - started
    return stats
