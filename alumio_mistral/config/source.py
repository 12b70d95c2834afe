"""Reading a project file (YAML or JSON) into plain data, keeping what a good error message needs.

Plain ``yaml.safe_load`` and ``json.load`` silently keep the last of two equal keys, which hides
a second ``incoming`` of the same name; here duplicates are findings. For YAML the line of every
dotted path is kept too, so problems can say where to look.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alumio_mistral.config.problems import Finding, join_path

#: names tried, in order, when PROJECT is a folder
PROJECT_FILE_NAMES = ("alumio.yaml", "alumio.yml", "alumio.json")


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
        return self.error_line


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
    """Parse ``path``; a missing file or a syntax error becomes a finding, not an exception."""
    source = Source(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        source.findings.append(("", "no such file"))
        return source
    except (OSError, UnicodeDecodeError) as error:
        source.findings.append(("", f"cannot read the file: {error}"))
        return source
    if path.suffix.lower() == ".json":
        _read_json(text, source)
    else:
        _read_yaml(text, source)
    if source.data is None and not source.findings:
        source.findings.append(("", "the file is empty"))
    elif source.data is not None and not isinstance(source.data, dict):
        source.findings.append(("", f"expected a mapping at the top level, got {type(source.data).__name__}"))
        source.data = None
    return source


def _read_json(text: str, source: Source) -> None:
    duplicates: list[tuple[dict[str, Any], str]] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                duplicates.append((result, key))
            result[key] = value
        return result

    try:
        source.data = json.loads(text, object_pairs_hook=keep_pairs)
    except json.JSONDecodeError as error:
        source.error_line = error.lineno
        source.findings.append(("", f"invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})"))
        return
    paths = {id(mapping): mapping_path for mapping_path, mapping in _mappings(source.data, "")}
    source.findings.extend((join_path(paths[id(mapping)], key), "duplicate key") for mapping, key in duplicates)


def _mappings(data: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every mapping inside ``data`` with its dotted path."""
    found: list[tuple[str, dict[str, Any]]] = []
    children: Any = ()
    if isinstance(data, dict):
        found.append((path, data))
        children = data.items()
    elif isinstance(data, list):
        children = enumerate(data)
    for key, value in children:
        found.extend(_mappings(value, join_path(path, key)))
    return found


def _read_yaml(text: str, source: Source) -> None:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _index_yaml(node, "", source)
            source.data = loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        source.error_line = mark.line + 1 if mark is not None else None
        source.findings.append(("", f"invalid YAML: {error}".replace("\n", " ")))
    finally:
        loader.dispose()


def _index_yaml(node: yaml.Node, path: str, source: Source) -> None:
    """Record the line of every path and report keys given twice in one mapping."""
    source.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value
            child = join_path(path, key)
            if key in seen:
                source.findings.append((child, f"duplicate key (again on line {key_node.start_mark.line + 1})"))
                continue
            seen.add(key)
            _index_yaml(value_node, child, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_yaml(item, join_path(path, index), source)
