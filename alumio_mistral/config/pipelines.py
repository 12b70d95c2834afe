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


def pipeline_problems(valid: Mapping[str, Any], source: str, root: Path, catalog: Catalog) -> list[Triple]:
    """Problems of the project's transformer definitions and of every pipeline it uses."""
    try:
        library = Library.for_project(root, valid.get("transformers") or {}, source=source)
    except TransformConfigError as error:
        return list(error.problems)
    context = TransformContext(catalog=catalog)
    problems: list[Triple] = []
    for where, steps in _pipelines(valid, library):
        try:
            compile_pipeline(steps, source=source, where=where, library=library, context=context)
        except TransformConfigError as error:
            problems.extend(error.problems)
    return problems


def _pipelines(valid: Mapping[str, Any], library: Library) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every pipeline to compile: those the project uses, and its own definitions.

    A definition with parameters cannot be compiled alone (its ``%{name}`` values come with
    each ``use``); it is compiled, and checked, where it is used.
    """
    for name, written in (valid.get("transformers") or {}).items():
        definition = library.definitions[name]
        if not definition.parameters:
            where = f"transformers.{name}" if isinstance(written, list) else f"transformers.{name}.steps"
            yield where, definition.steps
    for section, keys in _PIPELINES.items():
        for name, settings in valid.get(section, {}).items():
            for key in keys:
                if settings.get(key):
                    yield f"{section}.{name}.{key}", settings[key]
