"""What every subscriber yields: one entity at a time, with where it came from (a paged source
can also hand over a whole :class:`Page`).

A source that cannot parse one row (a CSV row with the wrong field count, a JSONL line that
is not JSON) yields a :class:`Record` carrying the error instead of raising, so that the run
records it with file and line and goes on with the other rows. :func:`entity_problem` says
why a parsed entity still cannot be taken in (too deep, not valid Unicode, not valid JSON).
"""

from __future__ import annotations

import json
import math
import re
from functools import partial
from itertools import chain, compress, repeat
from operator import is_
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Protocol, runtime_checkable

#: how deeply an entity may nest objects and lists: far beyond real data, and far enough
#: below Python's recursion limit that no transformer or serializer ever meets that limit
MAX_DEPTH = 200

_SURROGATE = re.compile("[\ud800-\udfff]")


class Record(NamedTuple):
    """One entity and where it came from (a tuple: subscribers make one per entity, and a
    tuple is the cheapest object to make; see :func:`records_of`)."""

    entity: Any
    #: where the entity came from: "tickets.csv:12", "files.list page 3"
    origin: str
    #: why this row could not be read (``entity`` is then ``None``)
    error: str | None = None


#: ``Record`` from an ``(entity, origin, error)`` tuple without a Python-level call
_record_from_tuple = partial(tuple.__new__, Record)


def records_of(entities: Iterable[Any], origin: str) -> Iterator[Record]:
    """A record per entity of one page, all from ``origin``, made in C (``zip`` builds the
    tuples, ``tuple.__new__`` retypes them): a third of the cost of ``Record(...)`` in a loop."""
    return map(_record_from_tuple, zip(entities, repeat(origin), repeat(None)))


class Subscriber(Protocol):
    def records(self) -> Iterator[Record]:
        """Read the source lazily, one record at a time."""


class Page(NamedTuple):
    """The entities of one page of a paged source, all from ``origin``."""

    entities: list[Any]
    origin: str
    #: every entity is known to pass :func:`entity_problem` (its decoder vouched for the page),
    #: so a reader may skip checking them one by one
    vouched: bool = False


@runtime_checkable
class PagedSubscriber(Subscriber, Protocol):
    """A subscriber that can also hand over a page at a time, for readers that take a page in
    at once; ``records()`` yields the same entities one by one."""

    def pages(self) -> Iterator[Page]:
        """Read the source lazily, one page at a time."""


def printable(text: str) -> str:
    """``text`` with unpaired surrogates written as ``\\udcff``: an error message holding one
    could not be printed, logged or stored."""
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def _text_problem(text: str) -> str | None:
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return (
        f"text holds \\u{ord(found.group()):04x}, an unpaired surrogate, which is not valid Unicode "
        "(an escape such as \\ud800 without its pair, or a byte the file's encoding cannot decode)"
    )


def _problem(value: Any, depth: int) -> tuple[str, list[Any]] | None:
    """The first problem under ``value`` and the path to it (innermost key first)."""
    kind = type(value)
    if kind is str:
        problem = _text_problem(value)
        return None if problem is None else (problem, [])
    if kind is float and not math.isfinite(value):
        return f"{json.dumps(value)} is not a valid JSON number", []
    if kind is not dict and kind is not list:
        return None
    if depth >= MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels", []
    for key, item in value.items() if kind is dict else enumerate(value):
        problem = _text_problem(key) if type(key) is str else None
        found = (problem, []) if problem else _problem(item, depth + 1)
        if found is not None:
            found[1].append(key)
            return found
    return None


_INFINITIES = (math.inf, -math.inf)
_search_surrogate = _SURROGATE.search


def _fine(value: Any, depth: int) -> bool:
    """No problem anywhere under ``value``: the check every entity passes, kept to one look per
    value (ASCII text cannot hold a surrogate, and is checked in C); :func:`_problem` then says
    what and where for the rare entity that fails it."""
    kind = type(value)
    if kind is dict:
        if depth >= MAX_DEPTH:
            return False
        for key, item in value.items():
            if type(key) is str and not key.isascii() and _search_surrogate(key):
                return False
            if not _fine_item(item, depth):
                return False
        return True
    if kind is list:
        if depth >= MAX_DEPTH:
            return False
        for item in value:
            if not _fine_item(item, depth):
                return False
        return True
    return _fine_item(value, depth - 1)


def _fine_item(item: Any, depth: int) -> bool:
    """``_fine`` for a member of a container at ``depth``, without a call for scalars."""
    kind = type(item)
    if kind is str:
        return item.isascii() or not _search_surrogate(item)
    if kind is float:
        return item == item and item not in _INFINITIES
    if kind is dict or kind is list:
        return _fine(item, depth + 1)
    return True


def entity_problem(entity: Any) -> str | None:
    """Why ``entity`` cannot become a task, or ``None``: objects and lists nested deeper than
    :data:`MAX_DEPTH`, text that is not valid Unicode (it could never be stored or sent), or a
    NaN or infinite number (no JSON output could hold it). Names the path to the problem."""
    if _fine(entity, 0):
        return None
    found = _problem(entity, 0)
    if found is None:
        return None
    message, path = found
    where = "".join(f"[{key}]" if type(key) is int else f".{printable(str(key))}" for key in reversed(path))
    return f"at ${where if len(where) <= 80 else where[:80] + '...'}: {message}"


def page_vouched(body: bytes, entities: list[Any], finite: bool = False) -> bool:
    """Whether every one of ``entities``, read by ``json.loads`` from the JSON ``body``, passes
    :func:`entity_problem`, found without a Python step per value (``False`` means only "not
    vouched for": check each entity). ``finite``: the reader vouched that no number is NaN or
    infinite (see :func:`~alumio_mistral.fastjson.loads_finite`).

    ``json.loads`` takes an unpaired surrogate in only from an escape (``\\ud800``) or from the
    UTF-8 form of one (bytes ED A0..BF), so a body with no ED byte and no ``\\ud`` holds none
    (a backslash or an ED byte is found by ``memchr``, at gigabytes per second, and the slower
    search for the escape runs only where there is a backslash). Depth is told from the
    body's brackets when they are few enough (:func:`_few_brackets`), else counted a level of
    the whole page at a time, where NaN and infinities are looked for too.
    """
    if b"\xed" in body:
        return False
    if b"\\" in body and (b"\\ud" in body or b"\\uD" in body):
        return False
    if finite and _few_brackets(body, entities):
        return True
    return _finite_and_shallow(entities)


def _few_brackets(body: bytes, entities: list[Any]) -> bool:
    """Whether no entity can hold a container :data:`MAX_DEPTH` levels down, told by counting
    brackets (``bytes.count``, in C) instead of visiting values: when every entity is an object or
    a list, each opens one bracket of ``body``, so the brackets beyond one per entity bound the
    containers nested inside any one of them, and reaching level N takes N of those (a bracket
    inside a text, or the page's own, only loosens the bound)."""
    if not set(map(type, entities)) <= _CONTAINERS:
        return False
    return body.count(b"{") + body.count(b"[") - len(entities) < MAX_DEPTH


_CONTAINERS = {dict, list}
_NOT_PLAIN = {float, dict, list}


def _finite_and_shallow(entities: list[Any]) -> bool:
    """No NaN or infinity under any of ``entities`` and no container at :data:`MAX_DEPTH` or
    deeper (each entity at depth 0), looking at a level of them all at once, the loops in C."""
    level = entities
    depth = 0
    while True:
        kinds = set(map(type, level))
        if float in kinds and not all(map(math.isfinite, compress(level, map(is_, map(type, level), repeat(float))))):
            return False
        if dict not in kinds and list not in kinds:
            return True
        if depth == MAX_DEPTH:
            return False
        children = _children(level, kinds)
        if not set(map(type, children())) & _NOT_PLAIN:
            return True  # text, integers, booleans and nulls only (the usual last level): no list of it made
        level = list(children())
        depth += 1


def _children(level: list[Any], kinds: set[type]) -> Callable[[], Iterator[Any]]:
    """What iterates afresh over the values inside the objects and lists of ``level``."""
    if kinds == {dict}:
        return lambda: chain.from_iterable(map(dict.values, level))
    types = list(map(type, level))
    dicts = list(compress(level, map(is_, types, repeat(dict))))
    lists = list(compress(level, map(is_, types, repeat(list))))
    return lambda: chain(chain.from_iterable(map(dict.values, dicts)), chain.from_iterable(lists))
