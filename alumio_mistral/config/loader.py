"""Loading a project: read, interpolate, validate, cross-check, then build the dataclasses.

Every stage adds to one list of findings and the next stage still runs on what is usable, so a
broken project is reported in full in one go; the dataclasses are built only from a clean file.
``validate``, ``run`` and every command that sends go through :func:`check_project`, so they
report the same problems. :func:`load_project` checks the same except that source files exist
(a library caller may write them later); a lenient load, for commands that only look at tasks
and storages, also skips what only sending needs: credentials and transformer pipelines.

A project whose clients talk to the embedded sandbox keeps its tasks and storages in a
``sandbox/`` folder beside the real store: its de-dup marks record fake answers, and must not
make a later run with a real key skip those entities as already sent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from marshmallow import ValidationError

from alumio_mistral.catalog import Catalog
from alumio_mistral.config.clients import (
    build_clients,
    clients_in_use,
    is_credential_path,
    register_client_secrets,
)
from alumio_mistral.config.crossref import cross_check, missing_files
from alumio_mistral.config.interpolate import interpolate, read_environment
from alumio_mistral.config.model import IncomingConfig, OutgoingConfig, Project, Route, StoreConfig
from alumio_mistral.config.problems import ConfigError, Finding, Problem, flatten_messages
from alumio_mistral.config.schemas import ProjectSchema
from alumio_mistral.config.source import Source, read_source, resolve_project_file
from alumio_mistral.errors import AlumioError
from alumio_mistral.http.prototypes import SANDBOX, ClientConfig
from alumio_mistral.secrets import register_secret

#: where tasks and storages live when the project does not say
DEFAULT_STORE = Path(".alumio") / "tasks.db"
#: the folder, beside the store file, of the store of a project that talks to the sandbox
SANDBOX_STORE_FOLDER = "sandbox"

_INDEX = re.compile(r"\[(\d+)\]")


def load_project(path: str | Path, *, environ: Mapping[str, str] | None = None, lenient: bool = False) -> Project:
    """The project at ``path`` (a file, or a folder holding ``alumio.yaml``), or a ``ConfigError``.

    ``environ`` replaces ``os.environ`` for ``${VAR}`` (tests pass their own). Source files need
    not exist yet; :func:`check_project` (``validate`` and the commands that send) checks them.
    ``lenient`` is for commands that never send (``tasks list``, ``storage``): an unset ``${VAR}``
    in a client credential stays as written, so its clients must not be used, and pipelines are
    not compiled. It locates the same store as a strict load.
    """
    project, problems = check_project(path, environ=environ, lenient=lenient, source_files=False)
    if project is None:
        raise ConfigError(problems)
    return project


def check_project(
    path: str | Path, *, environ: Mapping[str, str] | None = None, lenient: bool = False, source_files: bool = True
) -> tuple[Project | None, list[Problem]]:
    """Every problem of the project, the existence of its ``source_files`` included (see
    :func:`load_project` for ``lenient``)."""
    file = resolve_project_file(path)
    source = read_source(file)
    findings: list[Finding] = list(source.findings)
    if source.data is None:
        return None, _problems(source, findings)
    try:
        env = read_environment(file, environ)
    except ConfigError as error:
        return None, error.problems
    data, unset = interpolate(source.data, env, unset_allowed=is_credential_path if lenient else lambda path: False)
    findings += unset
    register_client_secrets(data.get("clients"), env)
    try:
        valid = ProjectSchema().load(data)
    except ValidationError as error:
        findings += flatten_messages(error.messages)
        valid = error.valid_data if isinstance(error.valid_data, dict) else {}
    catalog = _catalog(file, valid.get("spec"), findings)
    findings += cross_check(data, valid, catalog)
    if source_files and not lenient:
        findings += missing_files(valid, file.parent)
    problems = _problems(source, findings)
    if not lenient:
        problems += _pipeline_problems(source, data, catalog)
    if not problems:
        clients, client_findings = build_clients(valid["clients"], env, lenient=lenient)
        problems = _problems(source, client_findings)
    if problems:
        return None, sorted(problems, key=lambda problem: (problem.file != str(file), problem.file, problem.line or 0))
    try:
        return _build(file, valid, clients, catalog), []
    except AlumioError as error:
        return None, _problems(source, [("", str(error))])


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


def _build(file: Path, valid: Mapping[str, Any], clients: dict[str, ClientConfig], catalog: Catalog) -> Project:
    root = file.parent.resolve()
    store = valid.get("store")
    sandbox = sorted(name for name in clients_in_use(valid) if name in clients and clients[name].base_uri == SANDBOX)
    return Project(
        path=file.resolve(),
        root=root,
        clients=clients,
        sandbox_clients=sandbox,
        incoming={name: IncomingConfig(name=name, **values) for name, values in valid["incoming"].items()},
        outgoing={name: OutgoingConfig(name=name, **values) for name, values in valid["outgoing"].items()},
        routes=[Route(**values) for values in valid["routes"]],
        transformers=dict(valid["transformers"]),
        store=_store(root, store or {}, sandbox=bool(sandbox)),
        description=valid["description"],
        catalog=catalog,
    )


def _store(root: Path, written: Mapping[str, Any], *, sandbox: bool) -> StoreConfig:
    """Where the tasks live; a project on the sandbox keeps them apart (a folder, or a schema)."""
    url, schema = written.get("url"), written.get("schema")
    if url:
        register_secret(urlsplit(url).password)
        if sandbox:
            schema = f"{schema}_sandbox" if schema else "alumio_sandbox"
    return StoreConfig(_store_path(root, written.get("path"), sandbox=sandbox),
                       **({"lease_seconds": written["lease"]} if "lease" in written else {}), url=url, schema=schema)


def _store_path(root: Path, written: str | None, *, sandbox: bool) -> Path:
    """The store file: as written (relative to the project) or the default; in ``sandbox/`` beside
    it for a project that talks to the sandbox."""
    try:
        path = root / (Path(written).expanduser() if written else DEFAULT_STORE)
    except RuntimeError as error:  # "~someone" who has no home folder here
        raise AlumioError(f"store.path: {error}") from None
    return path.parent / SANDBOX_STORE_FOLDER / path.name if sandbox else path
