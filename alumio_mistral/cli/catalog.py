"""``alumio-mistral entities``: see every Mistral operation the connector can call, by name and title."""

from __future__ import annotations

from pathlib import Path

import click

from alumio_mistral.catalog import Catalog, Entity
from alumio_mistral.cli.output import echo_json, run_or_fail


def flags(entity: Entity) -> str:
    """Short markers a person scans for: how it pages, streams, or that it is gone."""
    marks = []
    if entity.pagination is not None:
        marks.append(f"paged:{entity.pagination.style}")
    if entity.streams:
        marks.append("stream")
    if entity.body == "multipart":
        marks.append("multipart")
    if entity.auth not in ("bearer", "none"):
        marks.append(entity.auth)
    if entity.retired:
        marks.append("retired")
    return " ".join(marks)


HEADERS = ("NAME", "METHOD", "TITLE", "PATH", "FLAGS")


def table(entities: list[Entity]) -> str:
    rows = [HEADERS] + [(entity.name, entity.method, entity.title, entity.path, flags(entity)) for entity in entities]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADERS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


@click.command()
@click.argument("search", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print every field of each entity as a JSON array.")
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A newer OpenAPI spec file whose operations extend the built-in catalog.",
)
def entities(search: str | None, as_json: bool, spec: Path | None) -> None:
    """List the Mistral entities (API operations), optionally only those matching SEARCH.

    SEARCH matches words in the name, title, method, path or operationId, e.g. `files`,
    `get batch` or `delete model`. The title (the spec's summary, e.g. "Delete Model") may
    stand for the name wherever a project or `call` names an entity.
    """
    catalog: Catalog = run_or_fail(lambda: Catalog.load(spec))
    found = catalog.search(search) if search else list(catalog)
    if as_json:
        echo_json([entity.to_dict() for entity in found])
        return
    if not found:
        click.echo(f"no entity matches {search!r}", err=True)
        raise SystemExit(1)
    click.echo(table(found))
    live = sum(not entity.retired for entity in found)
    click.echo(f"\n{live} live, {len(found) - live} retired", err=True)
