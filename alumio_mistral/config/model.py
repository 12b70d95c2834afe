"""The validated project, as plain dataclasses the rest of the connector reads.

Subscriber and publisher settings stay dicts (shape checked by the schemas): each subscriber
or publisher module reads its own keys, so adding an option does not ripple through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from alumio_mistral.catalog import Catalog
from alumio_mistral.http import ClientConfig
from alumio_mistral.schedule import Schedule
from alumio_mistral.secrets import redact, redact_value
from alumio_mistral.tasks.store import DEFAULT_LEASE_SECONDS

DedupPolicy = Literal["always", "new", "changed"]


class _MaskedRepr:
    """A repr with every secret masked: settings hold ``${VAR}`` keys and tokens (a webhook's
    secret, a publisher's query key, a log's API key), and a repr ends up in logs and errors."""

    def __repr__(self) -> str:
        masked = redact_value(dict(vars(self)))
        return redact(f"{type(self).__name__}({', '.join(f'{name}={value!r}' for name, value in masked.items())})")


@dataclass(repr=False)
class IncomingConfig(_MaskedRepr):
    """Where entities come from and how they become tasks."""

    name: str
    subscriber: dict[str, Any]
    entity_transformers: list[dict[str, Any]] = field(default_factory=list)
    #: pattern to the field that identifies an entity (for de-duplication and task records)
    identity: str = "id"
    dedup: DedupPolicy = "always"
    #: when ``serve`` polls it (``None``: only when a command runs it)
    schedule: Schedule | None = None
    description: str = ""
    disabled: bool = False


@dataclass(repr=False)
class OutgoingConfig(_MaskedRepr):
    """How a task's entity is turned into a request, and what is kept of the answer."""

    name: str
    publisher: dict[str, Any]
    entity_transformers: list[dict[str, Any]] = field(default_factory=list)
    response_transformers: list[dict[str, Any]] = field(default_factory=list)
    #: a second publisher that receives the transformed response
    then: dict[str, Any] | None = None
    failure: dict[str, Any] = field(default_factory=lambda: {"policy": "retry", "attempts": 3, "backoff": 1.0})
    concurrency: int = 1
    #: when ``serve`` drains it (``None``: only ``run`` and ``worker`` publish it)
    schedule: Schedule | None = None
    #: ``direct`` (one request per task) or ``batch`` (Batch API jobs, set up by ``batch``)
    mode: str = "direct"
    batch: dict[str, Any] = field(default_factory=dict)
    #: interaction logging of its chat or generate calls (``to: reconify|jsonl|http``)
    log: dict[str, Any] | None = None
    description: str = ""
    disabled: bool = False


@dataclass
class Route:
    """One incoming's tasks go to each of these outgoing configurations."""

    incoming: str
    outgoing: list[str]
    description: str = ""
    disabled: bool = False


@dataclass
class StoreConfig:
    """Where tasks and storages live (an SQLite file, or a PostgreSQL database when ``url`` is
    set), and how long a claim on a task lasts."""

    path: Path
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: ``postgresql://...``; its password is registered as a secret at load, and kept out of reprs
    url: str | None = field(default=None, repr=False)
    #: the PostgreSQL schema of the project's own (``None``: the user's default)
    schema: str | None = None


@dataclass
class Project:
    """A loaded, validated project file. ``root`` is the folder relative paths start from."""

    path: Path
    root: Path
    clients: dict[str, ClientConfig]
    incoming: dict[str, IncomingConfig]
    outgoing: dict[str, OutgoingConfig]
    routes: list[Route]
    #: inline named transformer definitions (a list of steps, or a mapping with ``steps``)
    transformers: dict[str, Any]
    store: StoreConfig
    description: str = ""
    #: the entity catalog, extended by the project's ``spec:`` file when it names one
    catalog: Catalog = field(default_factory=Catalog.default, repr=False)
    #: the clients the project sends through that talk to the embedded sandbox (no key set)
    sandbox_clients: list[str] = field(default_factory=list)

    @property
    def uses_sandbox(self) -> bool:
        """Do its answers come from the embedded sandbox? Then they are fake, and its store is apart."""
        return bool(self.sandbox_clients)

    def __repr__(self) -> str:
        """Names only: short enough to read, and no client setting (or secret) can leak."""
        return (
            f"Project(path={str(self.path)!r}, clients={sorted(self.clients)}, incoming={sorted(self.incoming)}, "
            f"outgoing={sorted(self.outgoing)}, routes={len(self.routes)})"
        )

    def summary(self) -> str:
        """The one-line count ``validate`` prints."""
        return (
            f"{len(self.clients)} clients, {len(self.incoming)} incoming, "
            f"{len(self.outgoing)} outgoing, {len(self.routes)} routes"
        )
