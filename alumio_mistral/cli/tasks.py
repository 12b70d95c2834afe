"""``alumio-mistral tasks list|show|retry``: look at durable tasks and send failed ones again."""

from __future__ import annotations

import json
from typing import Any

import click

from alumio_mistral.cli.output import Progress, echo_json, fail, run_or_fail
from alumio_mistral.tasks.store import STATUSES


def _open(project: str) -> tuple[Any, Any]:
    from alumio_mistral.config import load_project
    from alumio_mistral.tasks import open_store

    loaded = run_or_fail(lambda: load_project(project))
    return loaded, run_or_fail(lambda: open_store(loaded))


@click.group()
def tasks() -> None:
    """List, show and retry the tasks of a project."""


@tasks.command("list")
@click.argument("project", type=click.Path(exists=True))
@click.option("--status", type=click.Choice(STATUSES), help="Only tasks with this status.")
@click.option("--incoming", help="Only tasks read by this incoming.")
@click.option("--outgoing", help="Only tasks for this outgoing.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many tasks.")
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
def list_tasks(
    project: str, status: str | None, incoming: str | None, outgoing: str | None, limit: int | None, as_json: bool
) -> None:
    """List the tasks of PROJECT, oldest first."""
    _, store = _open(project)
    with store:
        found = store.list(status=status, incoming=incoming, outgoing=outgoing, limit=limit)
        counts = store.counts()
    if as_json:
        echo_json([task.to_dict() for task in found])
        return
    for task in found:
        error = f"  {task.last_error.get('message', '')}" if task.last_error else ""
        click.echo(
            f"{task.id:>6}  {task.status:<10} {task.incoming} -> {task.outgoing or '-'}  "
            f"identity={task.identity or '-'} attempts={task.attempts} {task.updated_at}{error}"
        )
    click.echo(", ".join(f"{name} {count}" for name, count in counts.items() if count) or "no tasks", err=True)


@tasks.command("show")
@click.argument("project", type=click.Path(exists=True))
@click.argument("task_id", type=int, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the task as JSON.")
def show(project: str, task_id: int, as_json: bool) -> None:
    """Show one task: its entity, status, last error and publish result."""
    _, store = _open(project)
    with store:
        task = store.get(task_id)
    if task is None:
        fail(f"{project}: no task with id {task_id}")
    record = task.to_dict()
    if as_json:
        echo_json(record)
        return
    for key, value in record.items():
        text = value if isinstance(value, str) or value is None else json.dumps(value, ensure_ascii=False, indent=2)
        click.echo(f"{key}: {text}")


@tasks.command("retry")
@click.argument("project", type=click.Path(exists=True))
@click.argument("task_ids", nargs=-1, type=int, metavar="[ID ...]")
@click.option("--status", type=click.Choice(STATUSES), default="failed", show_default=True,
              help="Without IDs: retry every task with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print the publish summary as JSON.")
def retry(project: str, task_ids: tuple[int, ...], status: str, as_json: bool) -> None:
    """Put tasks back to new (the IDs given, else every task with --status) and publish them.

    Exits 1 when any of them fails again.
    """
    from alumio_mistral import engine

    loaded, store = _open(project)
    with store:
        ids = list(task_ids) or [task.id for task in store.list(status=status)]
        missing = [task_id for task_id in ids if store.get(task_id) is None]
        if missing:
            fail(f"{project}: no task with id {missing[0]}")
        if not ids:
            click.echo(f"no {status} tasks to retry", err=True)
            return
        store.requeue(ids)
        progress = None if as_json else Progress("retry")
        stats = run_or_fail(lambda: engine.publish(loaded, store, task_ids=ids, progress=progress))
    if as_json:
        echo_json(stats.to_dict())
    else:
        progress.finish()
    if stats.failed:
        raise SystemExit(1)
