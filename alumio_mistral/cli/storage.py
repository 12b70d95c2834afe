"""``alumio-mistral storage list|get|clear``: the key/value storages beside the tasks
(de-dup marks live in ``dedup:<incoming>``). Reading them needs no secrets: the project is
loaded leniently. A storage name that is neither in the store nor one the project implies is
an error listing the known ones, so a typo is not taken for an empty storage."""

from __future__ import annotations

from typing import Any

import click

from alumio_mistral.cli.output import echo_json, fail, run_or_fail


def _store(project: str) -> tuple[Any, Any]:
    from alumio_mistral.cli.project import load_for_reading
    from alumio_mistral.tasks import open_store

    loaded = load_for_reading(project)
    return loaded, run_or_fail(lambda: open_store(loaded))


def _check_known(loaded: Any, store: Any, name: str) -> None:
    """Exit 1 unless ``name`` holds keys or is the de-dup storage of one of the project's incomings."""
    known = set(store.namespaces()) | {f"dedup:{incoming}" for incoming in loaded.incoming}
    if name not in known:
        fail(f"{loaded.path}: no storage named {name!r}; storages: {', '.join(sorted(known)) or 'none'}")


@click.group()
def storage() -> None:
    """Look into and clear the storages of a project."""


@storage.command("list")
@click.argument("project", type=click.Path(exists=True))
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_storage(project: str, name: str | None, as_json: bool) -> None:
    """List the storages of PROJECT with their sizes, or the keys and values of storage NAME."""
    loaded, store = _store(project)
    with store:
        if name is None:
            found: Any = store.namespaces()
            lines = [f"{namespace}  {count} keys" for namespace, count in found.items()]
        else:
            _check_known(loaded, store, name)
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
    _, store = _store(project)
    with store:
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
    loaded, store = _store(project)
    with store:
        _check_known(loaded, store, name)
        if key is None:
            removed = store.clear(name)
        else:
            removed = int(store.delete(name, key))
    click.echo(f"removed {removed} key(s) from {name}", err=True)
