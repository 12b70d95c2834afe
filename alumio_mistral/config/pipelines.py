"""Compiling every transformer pipeline of a project, so ``validate`` finds bad steps up front.

The project schemas keep steps as dicts (the transformers package owns their shape); here each
pipeline is compiled by that package exactly as a run would, and its problems are collected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from alumio_mistral.catalog import Catalog
from alumio_mistral.transformers import Library, TransformConfigError, TransformContext, compile_pipeline

#: (file, dotted path, message), as the transformers package reports them
Triple = tuple[str, str, str]

_PIPELINES = {"incoming": ("entity_transformers",), "outgoing": ("entity_transformers", "response_transformers")}


def pipeline_problems(data: Mapping[str, Any], source: str, root: Path, catalog: Catalog) -> list[Triple]:
    """Problems of the project's transformer definitions and of every pipeline it uses.

    ``data`` is the project as written (interpolated), not what validated, so that a step
    keeps its index even when a sibling step or the surrounding object is broken.
    """
    inline = {name: value for name, value in _mapping(data.get("transformers")).items() if isinstance(value, (list, dict))}
    try:
        library = Library.for_project(root, inline, source=source)
    except TransformConfigError as error:
        return list(error.problems)
    context = TransformContext(catalog=catalog)
    problems: list[Triple] = []
    for where, steps in _pipelines(data, library):
        try:
            compile_pipeline(steps, source=source, where=where, library=library, context=context)
        except TransformConfigError as error:
            problems.extend(error.problems)
    return problems


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _pipelines(data: Mapping[str, Any], library: Library) -> Iterator[tuple[str, list[Any]]]:
    """Every pipeline to compile: those the project uses, and its own definitions.

    A definition with parameters cannot be compiled alone (its ``%{name}`` values come with
    each ``use``); it is compiled, and checked, where it is used.
    """
    for name, written in _mapping(data.get("transformers")).items():
        definition = library.definitions.get(name)
        if definition is not None and not definition.parameters:
            where = f"transformers.{name}" if isinstance(written, list) else f"transformers.{name}.steps"
            yield where, definition.steps
    for section, keys in _PIPELINES.items():
        for name, settings in _mapping(data.get(section)).items():
            for key in keys:
                steps = _mapping(settings).get(key)
                if isinstance(steps, list) and steps:
                    yield f"{section}.{name}.{key}", steps
