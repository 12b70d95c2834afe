"""Reading a project file (YAML or JSON) into plain data, keeping what a good error message needs.

Plain ``yaml.safe_load`` and ``json.load`` silently keep the last of two equal keys, which hides
a second ``incoming`` of the same name; here duplicates are findings. For YAML the line of every
dotted path is kept too, so problems can say where to look.

A project file may come from anywhere (a pull request, a shared folder), so reading it is
bounded: its size, how deep it nests, how many values it holds once aliases are expanded (a
"billion laughs" file is a few lines that expand to billions of values), how long a number may
be. Past a bound the file is a finding with a line, never a hang, a traceback or a memory blow-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from alumio_mistral.config.problems import Finding, join_path

#: names tried, in order, when PROJECT is a folder
PROJECT_FILE_NAMES = ("alumio.yaml", "alumio.yml", "alumio.json")

#: the largest project file read (a real one is a few kilobytes)
MAX_DOCUMENT_BYTES = 1024 * 1024
#: the most values (mappings, lists and scalars, aliases counted each time they are used)
MAX_VALUES = 50_000
#: the deepest nesting of mappings and lists
MAX_DEPTH = 64
#: the longest number, in characters: no setting needs more, and Python refuses to parse
#: integers past 4,300 digits
MAX_NUMBER_DIGITS = 100

#: libyaml when installed (its parser is several times faster), else the pure-Python one
_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_COLLECTION_TAGS = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Refused(Exception):
    """A bound was passed or a value cannot be read; ``finding`` says which, ``line`` where."""

    def __init__(self, path: str, message: str, line: int | None) -> None:
        super().__init__(message)
        self.finding: Finding = (path, message)
        self.line = line


@dataclass
class Source:
    """The raw content of one project file, before interpolation and validation."""

    path: Path
    data: Any = None
    findings: list[Finding] = field(default_factory=list)
    #: dotted path -> 1-based line (YAML only)
    lines: dict[str, int] = field(default_factory=dict)
    #: line of a whole-file problem (a syntax error)
    error_line: int | None = None

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` or, for a key that is missing, of its nearest parent that exists."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return self.lines.get("", self.error_line)

    def fail(self, message: str, line: int | None = None, path: str = "") -> None:
        """A problem that makes the whole file unusable."""
        self.data = None
        self.error_line = line
        self.findings.append((path, message))


def resolve_project_file(path: str | Path) -> Path:
    """A folder means the project file inside it (``alumio.yaml`` first)."""
    path = Path(path)
    if path.is_dir():
        for name in PROJECT_FILE_NAMES:
            if (path / name).is_file():
                return path / name
        return path / PROJECT_FILE_NAMES[0]
    return path


def read_source(path: Path) -> Source:
    """Parse ``path``; a missing file, a syntax error or a passed bound is a finding, not an exception."""
    source = Source(path)
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            source.fail(f"the file is {size} bytes; a project file may have at most {MAX_DOCUMENT_BYTES}")
            return source
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        source.findings.append(("", "no such file"))
        return source
    except (OSError, UnicodeDecodeError) as error:
        source.findings.append(("", f"cannot read the file: {error}"))
        return source
    if "\0" in text:
        source.fail("a NUL character: is this a binary file?", _line_at(text, text.index("\0")))
        return source
    if path.suffix.lower() == ".json":
        _read_json(text, source)
    else:
        _read_yaml(text, source)
    if source.data is None and not source.findings:
        source.fail("the file is empty", 1)
    elif source.data is not None and not isinstance(source.data, dict):
        source.findings.append(("", f"expected a mapping at the top level, got {type(source.data).__name__}"))
        source.data = None
    return source


def _line_at(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


# -- JSON ------------------------------------------------------------------------------------


def _read_json(text: str, source: Source) -> None:
    duplicates: list[tuple[dict[str, Any], str]] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                duplicates.append((result, key))
            result[key] = value
        return result

    def short_int(digits: str) -> int:
        if len(digits) > MAX_NUMBER_DIGITS:
            raise ValueError(f"a number of {len(digits)} digits (at most {MAX_NUMBER_DIGITS})")
        return int(digits)

    try:
        data = json.loads(text, object_pairs_hook=keep_pairs, parse_int=short_int)
    except json.JSONDecodeError as error:
        source.fail(f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})", error.lineno)
        return
    except ValueError as error:
        source.fail(f"invalid JSON: {error}")
        return
    except RecursionError:
        source.fail(f"invalid JSON: nested more than {MAX_DEPTH} levels deep")
        return
    try:
        paths = {id(mapping): mapping_path for mapping_path, mapping in _mappings(data)}
    except _Refused as error:
        source.fail(error.finding[1], path=error.finding[0])
        return
    source.data = data
    source.findings.extend((join_path(paths[id(mapping)], key), "duplicate key") for mapping, key in duplicates)


def _mappings(data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping inside ``data`` with its dotted path; raises ``_Refused`` past a bound."""
    pending: list[tuple[str, Any, int]] = [("", data, 0)]
    count = 0
    while pending:
        path, value, depth = pending.pop()
        count += 1
        _check_bounds(path, value, depth, count, None)
        children: Any = ()
        if isinstance(value, dict):
            yield path, value
            children = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        pending.extend((join_path(path, key), child, depth + 1) for key, child in children)


def _check_bounds(path: str, value: Any, depth: int, count: int, line: int | None) -> None:
    if count > MAX_VALUES:
        raise _Refused(path, f"more than {MAX_VALUES} values (aliases counted each time they are used)", line)
    if depth > MAX_DEPTH:
        raise _Refused(path, f"nested more than {MAX_DEPTH} levels deep", line)
    if isinstance(value, str) and "\0" in value:
        raise _Refused(path, "a NUL character in a text value", line)


# -- YAML ------------------------------------------------------------------------------------


def _read_yaml(text: str, source: Source) -> None:
    """Bounds first (from the event stream, cheap), then the nodes, then values with their lines."""
    loader = _YamlLoader(text)
    try:
        _check_events(_YamlLoader(text))
        node = loader.get_single_node()
        if node is not None:
            source.data = _Builder(loader, source).value(node, "", 0)
    except _Refused as error:
        source.fail(error.finding[1], error.line, error.finding[0])
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        source.fail(f"invalid YAML: {error}".replace("\n", " "), mark.line + 1 if mark else None)
    except yaml.reader.ReaderError as error:
        source.fail(f"invalid YAML: {error}".replace("\n", " "), _line_at(text, error.position))
    except (yaml.YAMLError, RecursionError) as error:
        source.fail(f"invalid YAML: {error}".replace("\n", " "))
    finally:
        loader.dispose()


def _check_events(parser: Any) -> None:
    """Refuse a document that nests too deep, refers to itself, or expands past ``MAX_VALUES``.

    Counted on parser events, before any node exists: an alias adds the size of what it
    stands for, so an alias bomb is refused after reading a few lines, not after expanding.
    """
    open_sizes: list[list[Any]] = [[None, 0]]  # [anchor, values so far] per open collection
    sizes: dict[str, int] = {}
    try:
        while (event := parser.get_event()) is not None and not isinstance(event, yaml.StreamEndEvent):
            line = event.start_mark.line + 1
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                open_sizes.append([event.anchor, 0])
                if len(open_sizes) - 1 > MAX_DEPTH:
                    raise _Refused("", f"nested more than {MAX_DEPTH} levels deep", line)
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, size = open_sizes.pop()
                added = size + 1
                if anchor is not None:
                    sizes[anchor] = added
            elif isinstance(event, yaml.AliasEvent):
                if any(anchor == event.anchor for anchor, _ in open_sizes):
                    raise _Refused("", f"alias *{event.anchor} refers to a value that contains it", line)
                added = sizes.get(event.anchor, 1)
            elif isinstance(event, yaml.ScalarEvent):
                added = 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
            else:
                continue
            open_sizes[-1][1] += added
            if open_sizes[-1][1] > MAX_VALUES:
                raise _Refused("", f"more than {MAX_VALUES} values (aliases counted each time they are used)", line)
    finally:
        parser.dispose()


class _Builder:
    """Plain data from YAML nodes, recording each dotted path's line and each duplicate key.

    Done here rather than by PyYAML's constructor so that a bad value (a complex key, a number
    too long to parse, an unknown tag) is a finding at its own path, and keys are recorded as
    the values they become (``~`` is the key None, written ``None`` in a dotted path).
    """

    def __init__(self, loader: Any, source: Source) -> None:
        self.loader = loader
        self.source = source
        self.count = 0

    def value(self, node: yaml.Node, path: str, depth: int) -> Any:
        line = node.start_mark.line + 1
        self.count += 1
        _check_bounds(path, None, depth, self.count, line)
        self.source.lines.setdefault(path, line)
        expected_tag = _COLLECTION_TAGS.get(type(node))
        if expected_tag is not None and node.tag != expected_tag:
            raise _Refused(path, f"unsupported tag {node.tag!r}", line)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, join_path(path, index), depth + 1) for index, item in enumerate(node.value)]
        return self.scalar(node, path, line)

    def mapping(self, node: yaml.MappingNode, path: str, depth: int) -> dict[Any, Any]:
        merged: dict[Any, Any] = {}
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:  # ``<<: *defaults``: the keys given here win
                for key, value in self.merge(value_node, path, depth).items():
                    merged.setdefault(key, value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(path, "a key must be a plain name, not a mapping or a list", key_line)
            key = self.scalar(key_node, path, key_line)
            child = join_path(path, key)
            if key in result:
                self.source.findings.append((child, f"duplicate key (again on line {key_line})"))
                continue
            result[key] = self.value(value_node, child, depth + 1)
        return {**merged, **result} if merged else result

    def merge(self, node: yaml.Node, path: str, depth: int) -> dict[Any, Any]:
        """The keys ``<<`` brings in: from one mapping, or from a list of them (the first wins)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise _Refused(path, "'<<' merges mappings only", source.start_mark.line + 1)
            for key, value in self.mapping(source, path, depth).items():
                merged.setdefault(key, value)
        return merged

    def scalar(self, node: yaml.ScalarNode, path: str, line: int) -> Any:
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_DIGITS:
            raise _Refused(path, f"a number of {len(node.value)} characters (at most {MAX_NUMBER_DIGITS})", line)
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, IndexError, TypeError, OverflowError) as error:  # ``!!int ""``, ``!!float x``...
            kind = node.tag.rpartition(":")[2]
            raise _Refused(path, f"cannot read {node.value[:40]!r} as {kind}: {error}", line) from None
        _check_bounds(path, value, 0, 0, line)
        return value
