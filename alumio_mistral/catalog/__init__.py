"""The Mistral entity catalog: every API operation under a stable name.

``Catalog.default()`` is the committed ``catalog.json`` (derived from the Mistral OpenAPI spec
by :mod:`alumio_mistral.catalog.generate`); ``Catalog.load(extra_spec)`` adds what a newer
spec file knows, so a user is not stuck waiting for a release when Mistral adds a route.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

from alumio_mistral.catalog.cohere import cohere_entities
from alumio_mistral.catalog.entity import Entity, Pagination, Param
from alumio_mistral.catalog.naming import NamingError
from alumio_mistral.catalog.router import Router
from alumio_mistral.errors import AlumioError

__all__ = ["AmbiguousTitleError", "Catalog", "Entity", "NamingError", "Pagination", "Param", "UnknownEntityError"]

CATALOG_FILE = Path(__file__).with_name("catalog.json")


class UnknownEntityError(AlumioError):
    """No entity has this name; the message lists the closest names."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else "; run `alumio-mistral entities` for the list"
        super().__init__(f"unknown entity {name!r}{hint}")


class AmbiguousTitleError(AlumioError):
    """A title that more than one operation has (a stream variant shares its plain one's)."""

    def __init__(self, title: str, candidates: list[Entity]) -> None:
        self.title = title
        self.candidates = candidates
        listed = ", ".join(f"{entity.name} ({entity.method} {entity.path})" for entity in candidates)
        super().__init__(f"the title {title!r} is ambiguous; use one of the names: {listed}")


class Catalog:
    """Entities by name or title, with search and request routing (``match``)."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        self._entities = {entity.name: entity for entity in sorted(entities, key=lambda e: e.name)}
        self._titled: dict[str, list[Entity]] = {}
        for entity in self._entities.values():
            if entity.title:
                self._titled.setdefault(_title_key(entity.title), []).append(entity)
        self._router = Router(self._entities.values())

    @classmethod
    def default(cls) -> Catalog:
        """The committed catalog (parsed once per process)."""
        return _default_catalog()

    @classmethod
    def from_file(cls, path: str | Path) -> Catalog:
        """A catalog from a ``catalog.json`` written by the generator."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise AlumioError(f"{path}: cannot read the entity catalog: {error}") from error
        return cls(Entity.from_dict(item) for item in data)

    @classmethod
    def load(cls, extra_spec: str | Path | None = None) -> Catalog:
        """The committed catalog, extended (and corrected) by the operations of ``extra_spec``.

        An operation the catalog already has (same method, path and Speakeasy fragment, or same
        operationId) keeps its name, so project files stay valid; a new one gets a derived name.
        """
        base = cls.default()
        if extra_spec is None:
            return base
        # imported here so that `python -m alumio_mistral.catalog.generate` runs a fresh module
        from alumio_mistral.catalog.generate import generate

        by_route = {_route(entity): entity for entity in base}
        by_operation_id = {entity.operation_id: entity for entity in base if entity.operation_id}
        context: dict[str, list[str]] = {}
        for entity in base:
            context.setdefault(entity.group, []).append(entity.path)
        merged = dict(base._entities)
        for entity in generate(extra_spec, context=context):
            # the same route, or the same operation moved to a new route: the newer facts win
            previous = by_route.get(_route(entity)) or by_operation_id.get(entity.operation_id)
            if previous is not None:
                entity = entity.renamed(previous.name)
            elif entity.name in merged:
                taken = merged[entity.name]
                raise NamingError(
                    f"{extra_spec}: {entity.method} {entity.path} would be named {entity.name!r}, "
                    f"which is already {taken.method} {taken.path}"
                )
            merged[entity.name] = entity
        return cls(merged.values())

    def get(self, name: str) -> Entity:
        """The entity of a stable name (``models.delete``) or of a title (``Delete Model``,
        any case): platform users pick operations by title, project files keep working by name."""
        entity = self._entities.get(name) or cohere_entities().get(name)
        if entity is not None:
            return entity
        titled = self._titled.get(_title_key(name), [])
        if len(titled) == 1:
            return titled[0]
        if titled:
            raise AmbiguousTitleError(name, titled)
        raise UnknownEntityError(name, self.suggest(name))

    def suggest(self, name: str, limit: int = 5) -> list[str]:
        """Names close to ``name`` (typos, a group given without its action, a mistyped title)."""
        names = list(self._entities)
        close = difflib.get_close_matches(name, names, n=limit, cutoff=0.6)
        under = [candidate for candidate in names if candidate.startswith(name + ".")]
        titles = difflib.get_close_matches(_title_key(name), list(self._titled), n=limit, cutoff=0.8)
        titled = [entity.name for title in titles for entity in self._titled[title]]
        return list(dict.fromkeys(close + under + titled))[:limit]

    def search(self, text: str) -> list[Entity]:
        """Entities whose name, title, method, path, group or operationId contain every word of ``text``."""
        words = text.lower().split()
        return [entity for entity in self._entities.values() if all(word in _haystack(entity) for word in words)]

    def match(self, method: str, path: str) -> tuple[Entity, dict[str, str]] | None:
        """Route a concrete request (``GET /v1/files/abc``) to its entity and path params."""
        return self._router.match(method, path)

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._entities.values())

    def __len__(self) -> int:
        return len(self._entities)

    def __contains__(self, name: object) -> bool:
        return name in self._entities

    def __repr__(self) -> str:
        return f"Catalog({len(self)} entities)"


def _haystack(entity: Entity) -> str:
    return " ".join((entity.name, entity.title, entity.method, entity.path, entity.group, entity.operation_id)).lower()


def _title_key(title: str) -> str:
    """Titles compare case-insensitively, with runs of spaces as one."""
    return " ".join(title.split()).casefold()


def _route(entity: Entity) -> tuple[str, str, str]:
    return entity.method, entity.path, str(entity.extra.get("fragment", ""))


@lru_cache(maxsize=1)
def _default_catalog() -> Catalog:
    return Catalog.from_file(CATALOG_FILE)
