"""Registries of kinds: a subscriber or publisher ``type`` names its settings schema and its factory.

One registry per role (subscribers, publishers), filled next to the code of each kind. The
project schema reads the registry to know which kinds exist and what each accepts, and the
runtime reads it to build one, so adding a kind is one registration and nothing else lists it.
A factory gets the validated settings, the :class:`Wiring` of the process (project folder,
catalog, the shared clients) and the dotted path to name in its errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Generic, Mapping, TypeVar

from marshmallow import Schema

from alumio_mistral.errors import AlumioError
from alumio_mistral.schema import did_you_mean

if TYPE_CHECKING:
    from alumio_mistral.catalog import Catalog
    from alumio_mistral.http import Client

Built = TypeVar("Built")


class KindError(AlumioError):
    """A settings dict whose ``type`` no registered kind has."""


@dataclass(frozen=True)
class Wiring:
    """What a factory may use: the project's folder, its catalog and the process's clients.

    The clients are shared: every subscriber, publisher and http-enrich step of one process
    that names a client gets the same one (one session, one rate limit, one breaker).
    """

    root: Path
    catalog: Catalog
    clients: Mapping[str, Client]


Factory = Callable[[Mapping[str, Any], Wiring, str], Built]


@dataclass(frozen=True)
class Kind(Generic[Built]):
    name: str
    schema: type[Schema]
    build: Factory[Built]


class Registry(Generic[Built]):
    """The kinds of one role (``subscriber``, ``publisher``), by name."""

    def __init__(self, role: str, error: type[AlumioError] = KindError) -> None:
        self.role = role
        self._error = error
        self._kinds: dict[str, Kind[Built]] = {}
        self._schemas: dict[str, type[Schema]] = {}
        #: a live, read-only view for the project schema (kinds registered later appear in it)
        self.schemas: Mapping[str, type[Schema]] = MappingProxyType(self._schemas)

    def register(self, name: str, schema: type[Schema], build: Factory[Built]) -> None:
        if name in self._kinds:
            raise KindError(f"{self.role} kind {name!r} is registered twice")
        self._kinds[name] = Kind(name, schema, build)
        self._schemas[name] = schema

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def names(self) -> list[str]:
        return list(self._kinds)

    def build(self, spec: Mapping[str, Any], wiring: Wiring, where: str) -> Built:
        """The part ``spec`` describes (settings already validated by the kind's schema)."""
        name = spec.get("type")
        kind = self._kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            raise self._error(f"{where}.type: unknown {self.role} type {name!r}"
                            f"{did_you_mean(str(name), self._kinds)} (one of: {', '.join(self._kinds)})")
        return kind.build(spec, wiring, where)
