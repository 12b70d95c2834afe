"""Loading a project: read, interpolate, validate, cross-check, then build the dataclasses.

Every stage adds to one list of findings and the next stage still runs on what is usable, so a
broken project is reported in full in one go; the dataclasses are built only from a clean file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from marshmallow import ValidationError

from alumio_mistral.catalog import Catalog
from alumio_mistral.config.clients import build_clients, register_client_secrets
from alumio_mistral.config.crossref import cross_check
from alumio_mistral.config.interpolate import interpolate, read_environment
from alumio_mistral.config.model import IncomingConfig, OutgoingConfig, Project, Route, StoreConfig
from alumio_mistral.config.problems import ConfigError, Finding, Problem, flatten_messages
from alumio_mistral.config.schemas import ProjectSchema
from alumio_mistral.config.source import Source, read_source, resolve_project_file
from alumio_mistral.errors import AlumioError

#: where tasks and storages live when the project does not say
DEFAULT_STORE = Path(".alumio") / "tasks.db"

_INDEX = re.compile(r"\[(\d+)\]")


def load_project(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Project:
    """The project at ``path`` (a file, or a folder holding ``alumio.yaml``), or a ``ConfigError``.

    ``environ`` replaces ``os.environ`` for ``${VAR}`` (tests pass their own).
    """
    project, problems = check_project(path, environ=environ, transformers=False)
    if project is None:
        raise ConfigError(problems)
    return project


def check_project(
    path: str | Path, *, environ: Mapping[str, str] | None = None, transformers: bool = True
) -> tuple[Project | None, list[Problem]]:
    """Every problem of the project (its transformer pipelines compiled too, unless told not to)."""
    file = resolve_project_file(path)
    source = read_source(file)
    findings: list[Finding] = list(source.findings)
    if source.data is None:
        return None, _problems(source, findings)
    env = read_environment(file, environ)
    data, unset = interpolate(source.data, env)
    findings += unset
    register_client_secrets(data.get("clients"), env)
    try:
        valid = ProjectSchema().load(data)
    except ValidationError as error:
        findings += flatten_messages(error.messages)
        valid = error.valid_data if isinstance(error.valid_data, dict) else {}
    catalog = _catalog(file, valid.get("spec"), findings)
    findings += cross_check(data, valid, catalog)
    problems = _problems(source, findings)
    if transformers:
        problems += _pipeline_problems(source, data, catalog)
    if problems:
        return None, sorted(problems, key=lambda problem: (problem.file != str(file), problem.file, problem.line or 0))
    try:
        return _build(file, valid, env, catalog), []
    except AlumioError as error:
        return None, _problems(source, [("clients", str(error))])


def _catalog(file: Path, spec: str | None, findings: list[Finding]) -> Catalog:
    """The committed catalog, extended by the project's newer spec file when it names one."""
    if not spec:
        return Catalog.default()
    try:
        return Catalog.load(file.parent / Path(spec).expanduser())
    except AlumioError as error:
        findings.append(("spec", str(error)))
        return Catalog.default()


def _pipeline_problems(source: Source, data: Mapping[str, Any], catalog: Catalog) -> list[Problem]:
    """The transformers package is imported on use: a plain load does not compile pipelines."""
    from alumio_mistral.config.pipelines import pipeline_problems

    own = str(source.path)
    return [
        Problem(file, path, message, source.line_of(_INDEX.sub(r".\1", path)) if file == own else None)
        for file, path, message in pipeline_problems(data, own, source.path.parent, catalog)
    ]


def _problems(source: Source, findings: list[Finding]) -> list[Problem]:
    return [Problem(str(source.path), path, message, source.line_of(path)) for path, message in findings]


def _build(file: Path, valid: Mapping[str, Any], env: Mapping[str, str], catalog: Catalog) -> Project:
    root = file.parent.resolve()
    store = valid.get("store")
    return Project(
        path=file.resolve(),
        root=root,
        clients=build_clients(valid["clients"], env),
        incoming={name: IncomingConfig(name=name, **values) for name, values in valid["incoming"].items()},
        outgoing={name: OutgoingConfig(name=name, **values) for name, values in valid["outgoing"].items()},
        routes=[Route(**values) for values in valid["routes"]],
        transformers=dict(valid["transformers"]),
        store=StoreConfig(root / Path(store["path"]).expanduser() if store and store["path"] else root / DEFAULT_STORE,
                          **({"lease_seconds": store["lease"]} if store else {})),
        description=valid["description"],
        catalog=catalog,
    )
