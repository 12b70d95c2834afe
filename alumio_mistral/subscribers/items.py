"""Find the entities in a response: the jsonpath at which a page keeps its list.

Patterns are the shared ones of :mod:`alumio_mistral.transformers.patterns`; the usual
``$.data[*]`` form is served by walking to the list and copying it, which allocates far less
than a general jsonpath match per entity (it runs for every page of every read).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

from alumio_mistral.errors import AlumioError
from alumio_mistral.transformers.patterns import MISSING, PatternError, compile_pattern

Finder = Callable[[Any], list[Any]]


class ItemsPatternError(AlumioError):
    """A pattern to the entities that cannot be parsed."""


@lru_cache(maxsize=256)
def compile_items(pattern: str) -> Finder:
    """A function returning the entities ``pattern`` points at in a response (``[]`` if none)."""
    try:
        if pattern.endswith("[*]"):
            parent = compile_pattern(pattern[:-3] or "$")
            if parent.is_single:
                def spread(document: Any) -> list[Any]:
                    found = parent.get(document)
                    return list(found) if isinstance(found, list) else []

                return spread
        compiled = compile_pattern(pattern)
    except PatternError as error:
        raise ItemsPatternError(f"invalid pattern to the entities {pattern!r}: {error}") from None
    return compiled.find


def value_at(pattern: str, document: Any) -> Any:
    """The value at ``pattern`` in a response, ``None`` when absent."""
    found = compile_pattern(pattern).get(document, None)
    return None if found is MISSING else found
