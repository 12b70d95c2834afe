"""``alumio-mistral store migrate|copy``: bring a task store to the current schema, and move a
project's tasks and storages between stores (SQLite to PostgreSQL and back). Neither sends
anything, so a project is loaded without its secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from alumio_mistral.cli.output import echo_json, run_or_fail

#: the files ``PROJECT`` may be (a folder holding ``alumio.yaml`` is one too)
_PROJECT_SUFFIXES = (".yaml", ".yml", ".json")


def _open(where: str) -> Any:
    """A store named by a project (file or folder), a ``postgresql://`` URL, or an SQLite file path."""
    from alumio_mistral.tasks import open_location, open_store
    from alumio_mistral.tasks.urls import is_postgres_url

    if not is_postgres_url(where) and (Path(where).is_dir() or Path(where).suffix in _PROJECT_SUFFIXES):
        from alumio_mistral.cli.project import load_for_reading

        loaded = load_for_reading(where)
        return run_or_fail(lambda: open_store(loaded))
    return run_or_fail(lambda: open_location(where))


def _shown(store: Any) -> str:
    return str(getattr(store, "path", None) or repr(store))


@click.group()
def store() -> None:
    """Migrate a project's task store, or copy it to another store."""


@store.command()
@click.argument("project", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print {store, from_version, version}.")
def migrate(project: str, as_json: bool) -> None:
    """Create PROJECT's task store, or bring it up to the current schema version.

    Every command does this when it opens a store; run it on its own to upgrade a shared
    PostgreSQL database once, before starting workers of a new version.
    """
    from alumio_mistral.tasks.migrations import SCHEMA_VERSION

    with _open(project) as opened:
        report = {"store": _shown(opened), "from_version": opened.migrated_from, "version": SCHEMA_VERSION}
    if as_json:
        echo_json(report)
    elif report["from_version"] == SCHEMA_VERSION:
        click.echo(f"{report['store']}: already at schema version {SCHEMA_VERSION}")
    else:
        click.echo(f"{report['store']}: schema version {report['from_version']} -> {SCHEMA_VERSION}")


@store.command()
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
@click.option("--json", "as_json", is_flag=True, help="Print {from, to, tasks, values}.")
def copy(source: str, target: str, as_json: bool) -> None:
    """Copy every task and storage value from FROM into the empty store TO.

    FROM and TO are projects (a file, or a folder with alumio.yaml), postgresql:// URLs or
    SQLite file paths. Tasks keep their ids, statuses, attempts, leases, results, errors and
    resolutions. Stop the workers of FROM first: what they change during the copy may be missed.
    """
    from alumio_mistral.tasks.copy import copy_store

    with _open(source) as reading, _open(target) as writing:
        stats = run_or_fail(lambda: copy_store(reading, writing))
        report = {"from": _shown(reading), "to": _shown(writing), "tasks": stats.tasks, "values": stats.values}
    if as_json:
        echo_json(report)
    else:
        click.echo(f"copied {stats.tasks} tasks and {stats.values} storage values from {report['from']}"
                   f" to {report['to']}")
