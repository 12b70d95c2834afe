"""``alumio-mistral run PROJECT``: read every source, then publish every pending task."""

from __future__ import annotations

import json
from typing import Any

import click

from alumio_mistral.cli.output import (
    echo_json,
    exit_after_publish,
    run_or_fail,
    show_progress,
)


def summary_line(stats: Any) -> str:
    """The one-line summary people read (and CI logs keep)."""
    line = (
        f"read {stats.read}, created {stats.created}, processed {stats.processed}, "
        f"failed {stats.failed}, skipped {stats.skipped}"
    )
    if stats.review:
        line += (f", review {stats.review} (need a person: the server may have acted; see"
                 " `tasks list --status review`, then `tasks reconcile` or `tasks resolve`)")
    if stats.resumed:
        line += f", resumed {stats.resumed}"
    if stats.leased:
        line += f", leased {stats.leased} (being worked on by another run)"
    if stats.read_failed:
        line += f", unreadable {stats.read_failed}"
    return line + f" in {stats.duration:.1f}s"


def _dry_summary(stats: Any) -> str:
    return (
        f"dry run: read {stats.read}, would create {stats.created}, {len(stats.planned)} request(s) planned, "
        f"skipped {stats.skipped}, failed {stats.failed}; only reads (GET) were sent, nothing was written or stored"
    )


def _print_failures(stats: Any, limit: int = 20) -> None:
    for failure in stats.failures[:limit]:
        if "origin" in failure:  # a row that could not be read: its file and line say where to look
            click.echo(f"  incoming {failure.get('incoming')}: {failure['origin']}: {failure.get('message')}", err=True)
            continue
        where = failure.get("outgoing") or failure.get("incoming") or ""
        task = f" task {failure['task']}" if "task" in failure else ""
        click.echo(f"  {where}{task}: {failure.get('type', 'error')}: {failure.get('message')}", err=True)
    if len(stats.failures) > limit:
        click.echo(f"  ... and {len(stats.failures) - limit} more (see `tasks list --status failed`)", err=True)


def _print_plan(stats: Any) -> None:
    for plan in stats.planned:
        origin = f"incoming {plan['incoming']}" if "incoming" in plan else f"outgoing {plan['outgoing']} task {plan['task']}"
        click.echo(f"{plan['method']} {plan['url']}   # {origin}")
        if plan.get("body") is not None:
            click.echo("  " + json.dumps(plan["body"], ensure_ascii=False, default=str))
        if plan.get("note"):
            click.echo(f"  ({plan['note']})")


@click.command()
@click.argument("project", type=click.Path(exists=True))
@click.option("--incoming", "incoming", multiple=True, metavar="NAME", help="Run only this incoming (repeatable).")
@click.option("--outgoing", "outgoing", multiple=True, metavar="NAME", help="Publish only this outgoing (repeatable).")
@click.option("--dry-run", is_flag=True,
              help="Read sources (GET only), print the requests that would be sent; write and store nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary (and plan) as JSON.")
def run(project: str, incoming: tuple[str, ...], outgoing: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Run every incoming of PROJECT, then publish every pending task.

    Exits 1 when any task failed, a source could not be read or a client's circuit breaker
    stopped publishing; 3 when tasks were left in review (a person must look; wins over 1).
    """
    from alumio_mistral import engine
    from alumio_mistral.cli.project import load_for_sending, with_sandbox

    loaded = load_for_sending(project)
    with show_progress("run", not (as_json or dry_run)) as progress:
        stats = run_or_fail(lambda: engine.run(
            loaded, incoming=incoming or None, outgoing=outgoing or None, dry_run=dry_run, progress=progress,
        ))
    if as_json:
        echo_json(with_sandbox(stats.to_dict(), loaded))
    else:
        if dry_run:
            _print_plan(stats)
        click.echo(_dry_summary(stats) if dry_run else summary_line(stats), err=True)
        _print_failures(stats)
    exit_after_publish(stats)
