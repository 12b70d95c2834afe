"""Stable, readable entity names (``files.list``, ``batch_jobs.cancel``) for spec operations.

A name is ``<group>.<action>``: the group comes from the operation's tag, the action from the
method and the path below the group's common prefix (GET on a collection lists, POST creates,
a trailing verb segment names the action...). Names are part of users' project files, so they
must not drift: a small overrides table (``naming_overrides.json``, keyed by operationId) fixes
the few the rule gets wrong, and a duplicate name is an error, never silently renamed.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from alumio_mistral.catalog.spec import Operation
from alumio_mistral.errors import AlumioError

OVERRIDES_FILE = Path(__file__).with_name("naming_overrides.json")
VERSION = re.compile(r"^v\d+$")
#: tag words renamed for readability
GROUP_RENAMES = {"batch": "batch_jobs", "fine_tuning": "fine_tuning.jobs"}
#: a trailing path segment starting with one of these words is an action, not a sub-resource
VERBS = frozenset(
    {
        "activate", "add", "aggregate", "archive", "call", "cancel", "deactivate", "execute", "invite",
        "pause", "process", "remove", "reprocess", "reset", "restart", "resume", "search", "share",
        "start", "stop", "sync", "terminate", "trigger", "unarchive",
    }
)
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


class NamingError(AlumioError):
    """Two operations would share a name, or a derived name is not readable."""


def snake(text: str) -> str:
    """``chat-completion-events`` / ``pageToken`` -> ``chat_completion_events`` / ``page_token``."""
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def singular(word: str) -> str:
    """English singular of a path noun, good enough for API resource names."""
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ases", "uses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def is_plural(word: str) -> bool:
    return singular(word) != word


def group_of(operation: Operation) -> str:
    """``beta.libraries.documents`` -> ``libraries.documents``; the most specific tag wins."""
    tags = operation.tags or [_first_literal(operation.path)]
    tag = max(tags, key=lambda t: (t.count("."), len(t)))
    parts = [snake(part) for part in tag.split(".") if part != "beta"]
    dotted = ".".join(parts)
    for old, new in GROUP_RENAMES.items():
        if dotted == old or dotted.startswith(old + "."):
            dotted = new + dotted[len(old):]
    return dotted


def _first_literal(path: str) -> str:
    return next((s for s in _segments(path) if not _is_param(s)), "api")


def _segments(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part]
    if parts and VERSION.match(parts[0]):
        parts = parts[1:]
    return parts


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _common_prefix(paths: list[list[str]]) -> list[str]:
    prefix: list[str] = []
    for column in zip(*paths, strict=False):
        if len(set(column)) != 1:
            break
        prefix.append(column[0])
    return prefix


def _collapse(rest: list[str]) -> list[str]:
    """Drop the singular segment of ``/indexes/index/{index_id}`` style paths (it adds no meaning)."""
    kept: list[str] = []
    for segment in rest:
        if kept and not _is_param(segment) and not _is_param(kept[-1]) and singular(kept[-1]) == segment != kept[-1]:
            continue
        kept.append(segment)
    return kept


def derive_action(method: str, rest: list[str], *, has_patch: bool) -> str:
    """The action word of an operation from its method and the path below its group."""
    rest = _collapse(rest)
    words = [snake(segment) for segment in rest if not _is_param(segment)]
    if not words:
        return {"GET": "list" if not rest else "get", "POST": "create", "DELETE": "delete"}.get(
            method, "replace" if method == "PUT" and has_patch else "update"
        )
    ends_with_param = _is_param(rest[-1])
    noun = "_".join([singular(word) for word in words[:-1]] + [words[-1]])
    last = words[-1]
    if ends_with_param:
        target = "_".join(singular(word) for word in words)
        verb = {"GET": "get", "POST": "create", "DELETE": "delete"}.get(method, "update")
        return f"{verb}_{target}"
    if last.split("_")[0] in VERBS:
        head = "_".join(singular(word) for word in words[:-1])
        return f"{last}_{head}" if head else last
    if method == "GET":
        return f"list_{noun}" if is_plural(last) else f"get_{noun}"
    if method == "POST":
        return f"create_{singular(noun)}" if is_plural(last) else noun
    if method == "DELETE":
        return f"delete_{noun}"
    return f"update_{noun}"


class Naming:
    """Assigns names to operations: overrides first, then the rule."""

    def __init__(self, overrides: dict[str, str]) -> None:
        self.overrides = overrides

    @classmethod
    def default(cls) -> Naming:
        return _default_naming()

    def assign(
        self, ops: list[Operation], context: Mapping[str, list[str]] | None = None
    ) -> list[tuple[Operation, str]]:
        """``(operation, name)`` pairs. A group's path prefix is computed over its operations
        together, plus the paths ``context`` already knows for that group."""
        groups: dict[str, list[Operation]] = defaultdict(list)
        for op in ops:
            groups[group_of(op)].append(op)
        patched = {op.path for op in ops if op.method == "PATCH"}
        named = []
        for group, members in groups.items():
            paths = [op.path for op in members] + list((context or {}).get(group, ()))
            prefix = _common_prefix([_segments(path) for path in paths])
            while prefix and _is_param(prefix[-1]):  # an item path stays an item: GET is "get"
                prefix.pop()
            for op in members:
                rest = _segments(op.path)[len(prefix):]
                named.append((op, self.name_of(op, group, rest, op.path in patched)))
        self.check_unique((name, f"{op.method} {op.raw_path}") for op, name in named)
        return named

    def name_of(self, op: Operation, group: str, rest: list[str], has_patch: bool) -> str:
        name = self.overrides.get(op.operation_id)
        if name is None:
            action = derive_action(op.method, rest, has_patch=has_patch)
            if op.fragment == "stream":
                action += "_stream"
            name = f"{group}.{action}"
        if not NAME_PATTERN.match(name):
            raise NamingError(f"{op.method} {op.raw_path}: derived name {name!r} is not a readable dotted name")
        return name

    @staticmethod
    def check_unique(named: Iterable[tuple[str, str]]) -> None:
        """Fail on any name given to more than one route (``(name, "METHOD /path")`` pairs)."""
        routes: dict[str, list[str]] = defaultdict(list)
        for name, route in named:
            routes[name].append(route)
        clashes = [f"{name} ({' and '.join(found)})" for name, found in sorted(routes.items()) if len(found) > 1]
        if clashes:
            raise NamingError(
                "several operations would share a name: " + "; ".join(clashes)
                + f". Add an entry to {OVERRIDES_FILE.name} (operationId -> name)."
            )


@lru_cache(maxsize=1)
def _default_naming() -> Naming:
    return Naming(json.loads(OVERRIDES_FILE.read_text(encoding="utf-8")))
