"""Route a concrete request path to its entity, fast enough for a busy sandbox.

Templates are compiled into regexes once and bucketed by method and segment count, so a
lookup tries only the few templates of the right shape. Within a bucket, templates are
ordered so that at the first segment where two differ a literal beats a parameter
(``/v1/agents/pages`` before ``/v1/agents/{agent_id}``), and an operation reached through a
Speakeasy ``#stream`` variant never shadows the plain one on the same path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from alumio_mistral.catalog.entity import Entity

PARAM = re.compile(r"^\{([^}]+)\}$")
_Route = tuple[re.Pattern[str], tuple[str, ...], Entity]


class Router:
    """``match(method, path) -> (entity, path params) | None``."""

    def __init__(self, entities: Iterable[Entity]) -> None:
        chosen: dict[tuple[str, str], Entity] = {}
        for entity in entities:
            key = (entity.method, entity.path)
            if key not in chosen or _preference(entity) < _preference(chosen[key]):
                chosen[key] = entity
        buckets: dict[tuple[str, int], list[tuple[tuple[int, ...], str, _Route]]] = {}
        for (method, path), entity in chosen.items():
            segments = _split(path)
            rank = tuple(1 if PARAM.match(segment) else 0 for segment in segments)
            buckets.setdefault((method, len(segments)), []).append((rank, path, _compile(segments, entity)))
        self._buckets = {key: [route for _, _, route in sorted(routes)] for key, routes in buckets.items()}

    def match(self, method: str, path: str) -> tuple[Entity, dict[str, str]] | None:
        path = path.split("?", 1)[0]
        segments = _split(path)
        routes = self._buckets.get((method.upper(), len(segments)))
        if not routes:
            return None
        candidate = "/" + "/".join(segments)
        for pattern, names, entity in routes:
            found = pattern.fullmatch(candidate)
            if found:
                return entity, {name: unquote(value) for name, value in zip(names, found.groups(), strict=True)}
        return None


def _preference(entity: Entity) -> tuple[bool, bool, str]:
    """Lower wins: plain before stream variants, live before retired, then by name."""
    return entity.extra.get("fragment") == "stream", entity.retired, entity.name


def _split(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _compile(segments: list[str], entity: Entity) -> _Route:
    parts, names = [], []
    for segment in segments:
        param = PARAM.match(segment)
        if param:
            names.append(param.group(1))
            parts.append("([^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts)), tuple(names), entity
