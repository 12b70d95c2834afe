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
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from alumio_mistral.errors import AlumioError
from alumio_mistral.subscribers import build_subscriber
from alumio_mistral.subscribers.base import entity_problem
from alumio_mistral.tasks.store import Dedup, TaskStore
from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.pipeline import compile_pipeline
from alumio_mistral.transformers.patterns import MISSING, compile_pattern

#: failures kept for the report; beyond this they are only counted (memory stays flat)
MAX_REPORTED_FAILURES = 1000


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
    value = compile_pattern(pattern).get(entity)
    if value is MISSING or value is None:
        return None
    return value if isinstance(value, str) else canonical_json(value)


class _Incoming:
    """One incoming configuration, ready to turn records into tasks."""

    def __init__(
        self, project: Any, store: TaskStore, config: Any, clients: Mapping[str, Any], library: Library,
        dry_run: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.clients = clients
        self.namespace = f"dedup:{config.name}"
        self.outgoings = routed_outgoings(project, config.name)
        self.pipeline = compile_pipeline(
            config.entity_transformers,
            source=str(project.path),
            where=f"incoming.{config.name}.entity_transformers",
            library=library,
            context=TransformContext(storages=store, clients=clients, dry_run=dry_run),
        ) if config.entity_transformers else None

    def add(self, entity: Any) -> int:
        """Tasks for one (transformed) entity; 0 when de-dup skips it or every route is off."""
        if self.outgoings == []:
            return 0  # no de-dup mark either: once a route is back on, the entity is still new to it
        identity = identity_of(entity, self.config.identity)
        if identity is None and self.config.dedup != "always":
            raise IdentityError(
                f"no identity at {self.config.identity!r} (needed by dedup {self.config.dedup!r}; "
                "set `identity` to the field that identifies an entity)"
            )
        mark = None
        if self.config.dedup != "always":
            mark = Dedup(self.config.dedup, self.namespace, identity, content_hash(entity))
        return len(self.store.add_tasks(self.config.name, entity, self.outgoings or [], identity, mark))

    def run(self, project: Any, stats: IncomingStats, progress: Any) -> None:
        def count(counter: str, amount: int = 1) -> None:
            setattr(stats, counter, getattr(stats, counter) + amount)
            if progress is not None:
                progress.add(counter, amount)

        def failure(origin: str, message: str) -> None:
            count("failed")
            if len(stats.failures) < MAX_REPORTED_FAILURES:
                stats.failures.append(EntityFailure(self.config.name, origin, message))

        spec = self.config.subscriber
        source = spec.get("entity") or spec.get("path") or spec.get("type", "subscriber")
        read = 0
        try:
            for record in build_subscriber(self.config.subscriber, project, self.clients,
                                            where=f"incoming.{self.config.name}.subscriber").records():
                read += 1
                count("read")
                problem = record.error if record.error is not None else entity_problem(record.entity)
                if problem is not None:
                    failure(record.origin, problem)
                    continue
                created = 0
                try:
                    outputs = self.pipeline.run(record.entity) if self.pipeline else [record.entity]
                    for output in outputs:
                        added = self.add(output)
                        if added:
                            created += added
                            count("created", added)
                except AlumioError as error:
                    failure(record.origin, str(error))
                    continue
                if not created:
                    count("skipped")
        except AlumioError as error:
            failure(f"{source} (reading stopped after {read} entities)", str(error))


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
    off: reading costs requests and what it read could go nowhere.
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
            if not config.disabled and routed_outgoings(project, name) != []]


def run_incoming(
    project: Any,
    store: TaskStore,
    names: list[str] | None = None,
    *,
    clients: Mapping[str, Any],
    library: Library,
    progress: Any = None,
    dry_run: bool = False,
) -> IncomingStats:
    """Run the named incoming configurations (see :func:`chosen_incomings` for which run unnamed)
    with the process's shared ``clients`` (a :class:`~alumio_mistral.runtime.Runtime` passes its own).

    ``dry_run`` keeps transformer steps that would call a server (http-enrich) from sending.

    A disabled route, or one to a disabled outgoing, gets no tasks; an incoming whose routes
    are all off reads and transforms but stores nothing, not even de-dup marks.
    """
    chosen = chosen_incomings(project, names)
    stats = IncomingStats()
    started = time.monotonic()
    try:
        # compile every pipeline first: a configuration error stops the run before any read
        for ready in [_Incoming(project, store, config, clients, library, dry_run) for config in chosen]:
            ready.run(project, stats, progress)
    finally:
        stats.duration = time.monotonic() - started
    return stats
