"""``alumio-mistral storage list|get|clear``: the key/value storages beside the tasks
(de-dup marks live in ``dedup:<incoming>``)."""

from __future__ import annotations

from typing import Any

import click

from alumio_mistral.cli.output import echo_json, fail, run_or_fail


def _store(project: str) -> Any:
    from alumio_mistral.config import load_project
    from alumio_mistral.tasks import open_store

    loaded = run_or_fail(lambda: load_project(project))
    return run_or_fail(lambda: open_store(loaded))


@click.group()
def storage() -> None:
    """Look into and clear the storages of a project."""


@storage.command("list")
@click.argument("project", type=click.Path(exists=True))
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_storage(project: str, name: str | None, as_json: bool) -> None:
    """List the storages of PROJECT with their sizes, or the keys and values of storage NAME."""
    with _store(project) as store:
        if name is None:
            found: Any = store.namespaces()
            lines = [f"{namespace}  {count} keys" for namespace, count in found.items()]
        else:
            found = dict(store.items(name))
            lines = [f"{key}  {value!r}" for key, value in found.items()]
    if as_json:
        echo_json(found)
    else:
        click.echo("\n".join(lines) if lines else "empty")


@storage.command("get")
@click.argument("project", type=click.Path(exists=True))
@click.argument("name")
@click.argument("key")
def get(project: str, name: str, key: str) -> None:
    """Print the JSON value of KEY in storage NAME."""
    with _store(project) as store:
        value = store.get(name, key)
    if value is None:
        fail(f"storage {name}: no key {key!r}")
    echo_json(value)


@storage.command("clear")
@click.argument("project", type=click.Path(exists=True))
@click.argument("name")
@click.argument("key", required=False)
def clear(project: str, name: str, key: str | None) -> None:
    """Remove storage NAME (or only its KEY); clearing ``dedup:<incoming>`` makes the next
    run treat every entity as new."""
    with _store(project) as store:
        if key is None:
            removed = store.clear(name)
        else:
            removed = int(store.delete(name, key))
    click.echo(f"removed {removed} key(s) from {name}", err=True)
