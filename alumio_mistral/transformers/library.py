"""Named pipeline definitions (``use: NAME``): shipped ones, a project's folder, inline ones.

A definition file is YAML: either a bare list of steps, or a mapping with ``description``,
``parameters`` (filled by a step's ``with:``; written ``%{name}`` in the steps), ``steps`` and
``tests``. Its name is its path under a ``transformers/`` folder without the extension
(``mistral/chat-request``). A project's definitions win over shipped ones of the same name.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields

import alumio_mistral
from alumio_mistral.transformers.context import TransformContext
from alumio_mistral.transformers.errors import TransformConfigError, flatten_messages
from alumio_mistral.transformers.patterns import to_text
from alumio_mistral.transformers.pipeline import Pipeline, compile_pipeline

_PARAMETER = re.compile(r"%\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SUFFIXES = (".yaml", ".yml", ".json")


class _ParameterSchema(Schema):
    class Meta:
        unknown = RAISE

    description = fields.String()
    required = fields.Boolean(load_default=False)
    default = fields.Raw(allow_none=True, load_default=None)


class _TestSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String()
    with_ = fields.Dict(keys=fields.String(), data_key="with", load_default=dict)
    input = fields.Raw(required=True, allow_none=True)
    expect = fields.List(fields.Raw(allow_none=True))
    expect_error = fields.String()


class _DefinitionSchema(Schema):
    class Meta:
        unknown = RAISE

    description = fields.String()
    parameters = fields.Dict(keys=fields.String(), values=fields.Nested(_ParameterSchema), load_default=dict)
    steps = fields.List(fields.Raw(), required=True)
    tests = fields.List(fields.Nested(_TestSchema), load_default=list)


@dataclass
class Definition:
    """A named pipeline as written, compiled on use (with its parameters filled)."""

    name: str
    source: str
    steps: list[Any]
    description: str = ""
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    tests: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def parse(cls, name: str, source: str, document: Any) -> Definition:
        if isinstance(document, list):
            document = {"steps": document}
        if not isinstance(document, dict):
            raise TransformConfigError.one(source, "", "a definition is a list of steps or a mapping with 'steps'")
        try:
            data = _DefinitionSchema().load(document)
        except ValidationError as error:
            raise TransformConfigError(
                [(source, path, message) for path, message in flatten_messages(error.messages, "")]
            ) from None
        undeclared = sorted(_mentioned(data["steps"]) - set(data["parameters"]))
        if undeclared:
            raise TransformConfigError(
                [(source, "parameters", f"%{{{name}}} is used in the steps but not declared") for name in undeclared]
            )
        return cls(name, source, data["steps"], data.get("description", ""), data["parameters"], data["tests"])

    def arguments(self, given: dict[str, Any], where: tuple[str, str]) -> dict[str, Any]:
        """Parameter values for one use: declared defaults, overridden by ``with:``."""
        unknown = sorted(set(given) - set(self.parameters))
        problems = [
            (
                where[0],
                f"{where[1]}.with.{name}",
                f"{self.name} has no parameter {name!r} " f"(parameters: {', '.join(self.parameters) or 'none'})",
            )
            for name in unknown
        ]
        problems += [
            (where[0], f"{where[1]}.with", f"{self.name} needs parameter {name!r}")
            for name, spec in self.parameters.items()
            if spec["required"] and name not in given
        ]
        if problems:
            raise TransformConfigError(problems)
        return {name: given.get(name, spec["default"]) for name, spec in self.parameters.items()}


def _mentioned(value: Any) -> set[str]:
    """The ``%{name}`` parameters a definition's steps refer to."""
    if isinstance(value, str):
        return set(_PARAMETER.findall(value))
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return {name for item in items for name in _mentioned(item)}


def substitute(value: Any, arguments: dict[str, Any]) -> Any:
    """Fill ``%{name}`` parameters: a string that is exactly one parameter takes its raw value."""
    if isinstance(value, str):
        whole = _PARAMETER.fullmatch(value)
        if whole and whole.group(1) in arguments:
            return arguments[whole.group(1)]
        return _PARAMETER.sub(
            lambda match: to_text(arguments[match.group(1)]) if match.group(1) in arguments else match.group(0), value
        )
    if isinstance(value, dict):
        return {key: substitute(item, arguments) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, arguments) for item in value]
    return value


def shipped_folder() -> Path:
    """The shipped definitions: the repository's folder, else the installed data files."""
    beside = Path(alumio_mistral.__file__).resolve().parents[1] / "transformers"
    if beside.is_dir() and not (beside / "__init__.py").exists():
        return beside
    return Path(sys.prefix) / "share" / "alumio-mistral" / "transformers"


@lru_cache(maxsize=256)
def _read_file(path: Path, folder: Path, _version: tuple[int, int]) -> Definition:
    """One definition file, parsed once per version (modification time and size are in the key)."""
    name = path.relative_to(folder).with_suffix("").as_posix()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise TransformConfigError.one(str(path), "", f"not valid YAML: {error}") from None
    return Definition.parse(name, str(path), document)


def _read_folder(folder: Path) -> list[Definition]:
    definitions = []
    problems: list[tuple[str, str, str]] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix not in _SUFFIXES or not path.is_file():
            continue
        try:
            stat = path.stat()
            definitions.append(_read_file(path, folder, (stat.st_mtime_ns, stat.st_size)))
        except TransformConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise TransformConfigError(problems)
    return definitions


class Library:
    """Definitions by name; later layers (project folder, inline) override earlier ones (shipped)."""

    def __init__(self, definitions: dict[str, Definition]) -> None:
        self.definitions = definitions

    @classmethod
    def for_project(
        cls, project_root: Path | None = None, inline: dict[str, Any] | None = None, *, source: str = "<project>"
    ) -> Library:
        """Shipped definitions, then ``<project_root>/transformers/``, then the project's inline ones."""
        definitions: dict[str, Definition] = {}
        folders = [shipped_folder()]
        if project_root is not None:
            folders.append(Path(project_root).resolve() / "transformers")
        for folder in folders:
            if folder.is_dir():
                definitions.update((item.name, item) for item in _read_folder(folder))
        for name, document in (inline or {}).items():
            definitions[name] = Definition.parse(name, f"{source}: transformers.{name}", document)
        return cls(definitions)

    def __contains__(self, name: str) -> bool:
        return name in self.definitions

    def names(self) -> list[str]:
        return sorted(self.definitions)

    def get(self, name: str, where: tuple[str, str] = ("<library>", "")) -> Definition:
        """The definition called ``name``; an unknown name is an error at ``where`` (file, path)."""
        if name not in self.definitions:
            known = ", ".join(self.names()) or "none"
            raise TransformConfigError.one(
                where[0], where[1], f"no transformer definition named {name!r} (known: {known})"
            )
        return self.definitions[name]

    def compile(
        self,
        name: str,
        arguments: dict[str, Any] | None = None,
        context: TransformContext | None = None,
        stack: tuple[str, ...] = (),
        *,
        where: tuple[str, str] = ("<library>", ""),
    ) -> Pipeline:
        """A ready pipeline for definition ``name`` with its parameters filled from ``arguments``."""
        definition = self.get(name, where)
        values = definition.arguments(arguments or {}, where)
        steps = substitute(definition.steps, values) if values else definition.steps
        return compile_pipeline(
            steps, source=definition.source, where="steps", library=self, context=context, stack=stack or (name,)
        )
