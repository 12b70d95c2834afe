"""The long-lived parts of one project in one process: what every command and ``serve`` share.

A :class:`Runtime` owns, for as long as the process needs them, the loaded project, its
catalog, the transformer library, one task store, and one HTTP client per named client. One
client per name means one session, one rate limit and one circuit breaker shared by every
subscriber, publisher and http-enrich step that names it, in every thread. ``run``,
``incoming run``, ``tasks retry``, ``serve`` and ``worker`` are thin uses of it.

"sandbox" as a client's base URI is resolved here, when the client is first built, to the
embedded sandbox (started then): the transport layer never knows the sandbox exists.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from alumio_mistral import heap
from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client
from alumio_mistral.http.prototypes import SANDBOX
from alumio_mistral.incoming import IncomingStats, WriteAhead, run_incoming
from alumio_mistral.outgoing import Outgoing
from alumio_mistral.tasks import TaskStore, open_store
from alumio_mistral.transformers.library import Library


class ClientPool(Mapping[str, Client]):
    """The project's clients, each built on first use and shared by every part and thread."""

    def __init__(self, configs: Mapping[str, Any], catalog: Catalog) -> None:
        self._configs = configs
        self._catalog = catalog
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Client:
        client = self._clients.get(name)
        if client is None:
            with self._lock:
                client = self._clients.get(name)
                if client is None:
                    client = self._clients[name] = Client(resolved(self._configs[name]), self._catalog)
        return client

    def __iter__(self) -> Iterator[str]:
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


def resolved(config: Any) -> Any:
    """``config`` with "sandbox" replaced by the base URI of this process's embedded sandbox."""
    if config.base_uri != SANDBOX:
        return config
    from alumio_mistral.sandbox import embedded_base_uri

    return dataclasses.replace(config, base_uri=embedded_base_uri())


class Runtime:
    """One project's catalog, library, store and clients; close it (or use ``with``) when done."""

    def __init__(self, project: Any, *, store: TaskStore | None = None) -> None:
        self.project = project
        self.catalog: Catalog = project.catalog
        self.library = Library.for_project(project.root, project.transformers, source=str(project.path))
        self.clients = ClientPool(project.clients, self.catalog)
        self._store = store
        self._owns_store = store is None
        self._outgoings: dict[str, Outgoing] = {}
        self._store_lock = threading.Lock()
        self._outgoings_lock = threading.Lock()

    @property
    def store(self) -> TaskStore:
        """The project's task store, opened on first use (commands that only plan never open it)."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    self._store = open_store(self.project)
        return self._store

    def read(self, names: list[str] | None = None, *, progress: Any = None, dry_run: bool = False,
             ahead: Mapping[str, WriteAhead] | None = None) -> IncomingStats:
        """Run the named incomings (see :func:`~alumio_mistral.incoming.chosen_incomings`) into
        tasks; the outgoings of ``ahead`` write their records as they read."""
        with heap.settled():
            return run_incoming(self.project, self.store, names, progress=progress, dry_run=dry_run,
                                clients=self.clients, library=self.library, ahead=ahead)

    def outgoing(self, name: str) -> Outgoing:
        """The compiled outgoing ``name``, built once and reused by every publish pass."""
        with self._outgoings_lock:
            if name not in self._outgoings:
                self._outgoings[name] = self.planner(name, dry_run=False)
            return self._outgoings[name]

    def planner(self, name: str, *, dry_run: bool = True) -> Outgoing:
        """A fresh outgoing compiled for planning (its http-enrich steps send nothing)."""
        return Outgoing(self.project, self.project.outgoing[name], self.clients, store=self.store,
                        library=self.library, dry_run=dry_run)

    def close(self) -> None:
        """Release the clients' connections and, when this runtime opened it, the store."""
        self.clients.close()
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Runtime({str(self.project.path)!r})"
