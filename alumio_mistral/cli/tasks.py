"""``alumio-mistral tasks list|show|retry|resolve|reconcile``: look at durable tasks, send failed
ones again, and settle the ones in ``review`` (where the server may have acted)."""

from __future__ import annotations

import json
from typing import Any

import click

from alumio_mistral.cli.output import (
    EXIT_REVIEW,
    echo_json,
    exit_after_publish,
    fail,
    run_or_fail,
    show_progress,
)
from alumio_mistral.tasks import actions
from alumio_mistral.tasks.store import STATUSES, TaskStoreError


def _open(project: str, *, lenient: bool = False) -> tuple[Any, Any]:
    """The project and its store; ``lenient`` for commands that never send (no secrets needed)."""
    from alumio_mistral.cli.project import load_for_reading, load_for_sending
    from alumio_mistral.tasks import open_store

    loaded = load_for_reading(project) if lenient else load_for_sending(project, reads_sources=False)
    return loaded, run_or_fail(lambda: open_store(loaded))


@click.group()
def tasks() -> None:
    """List, show, retry, resolve and reconcile the tasks of a project."""


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
    from alumio_mistral.engine import check_known

    loaded, store = _open(project, lenient=True)
    with store:
        run_or_fail(lambda: check_known(loaded, "incoming", [incoming] if incoming else None))
        run_or_fail(lambda: check_known(loaded, "outgoing", [outgoing] if outgoing else None))
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
    _, store = _open(project, lenient=True)
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
@click.option("--force", is_flag=True,
              help="Also send tasks in review again, although the server may already have acted on them.")
@click.option("--json", "as_json", is_flag=True, help="Print the publish summary as JSON.")
def retry(project: str, task_ids: tuple[int, ...], status: str, force: bool, as_json: bool) -> None:
    """Put tasks back to new (the IDs given, else every task with --status) and publish them.

    A task in review may already have been carried out by the server (an upload, a create, a
    delete whose answer never came): sending it again may do it twice, so it needs --force. A
    task processing under a live lease is being worked on and is left alone; one whose lease
    lapsed is recovered as after a crash. Exits 1 when any of them fails again, 3 when any
    ends in review.
    """
    from alumio_mistral import engine
    from alumio_mistral.cli.project import with_sandbox
    from alumio_mistral.runtime import Runtime

    loaded, store = _open(project)
    with store:
        chosen = [store.get(task_id) for task_id in task_ids] if task_ids else store.list(status=status)
        missing = [task_id for task_id, task in zip(task_ids, chosen) if task is None]
        if missing:
            fail(f"{project}: no task with id {missing[0]}")
        if not chosen:
            click.echo(f"no {status} tasks to retry", err=True)
            return
        try:
            warning = actions.check_review(chosen, confirmed=force,
                                           how_to_confirm="pass --force to send it again anyway")
            actions.check_leases(store, chosen)
        except TaskStoreError as refused:
            fail(f"{project}: {refused}")
        if warning:
            click.echo(f"warning: {warning}; sending again as --force asks", err=True)
        ids = run_or_fail(lambda: actions.requeue_for_retry(store, chosen))
        with Runtime(loaded, store=store) as runtime, show_progress("retry", not as_json) as progress:
            stats = run_or_fail(lambda: engine.publish(runtime, task_ids=ids, progress=progress))
    if as_json:
        echo_json(with_sandbox(stats.to_dict(), loaded))
    else:
        progress.finish()
        for failure in stats.failures[:20]:
            task = f"task {failure['task']}: " if "task" in failure else ""
            click.echo(f"  {task}{failure.get('type', 'error')}: {failure.get('message')}", err=True)
    exit_after_publish(stats)


@tasks.command("resolve")
@click.argument("project", type=click.Path(exists=True))
@click.argument("task_ids", nargs=-1, type=int, required=True, metavar="ID [ID ...]")
@click.option("--status", type=click.Choice(["processed", "failed"]), required=True,
              help="processed: the server did act (done); failed: it did not (replayable with `tasks retry`).")
@click.option("--note", default="", help="What was checked, kept in the task's record.")
@click.option("--json", "as_json", is_flag=True, help="Print the settled tasks as JSON.")
def resolve(project: str, task_ids: tuple[int, ...], status: str, note: str, as_json: bool) -> None:
    """Settle checked tasks by hand: tasks in review (or failed) become processed or failed.

    The note, who settled it and when are kept in the task's record (``resolution``). Sends
    nothing, so the project's secrets need not be set.
    """
    _, store = _open(project, lenient=True)
    by = actions.settler()
    with store:
        settled = [run_or_fail(lambda task_id=task_id: store.resolve(
            task_id, status, actions.resolution(status, note, by)
        )) for task_id in task_ids]
    if as_json:
        echo_json([task.to_dict() for task in settled])
        return
    for task in settled:
        click.echo(f"task {task.id}: {task.resolution['from']} -> {task.status}")


def _settle(value: str | None) -> float | None:
    from alumio_mistral.durations import DurationError, parse_duration

    try:
        return None if value is None else parse_duration(value, allow_zero=True)
    except DurationError as error:
        raise click.BadParameter(str(error), param_hint="--settle") from error


@tasks.command("reconcile")
@click.argument("project", type=click.Path(exists=True))
@click.argument("task_ids", nargs=-1, type=int, metavar="[ID ...]")
@click.option("--settle", metavar="DURATION", callback=lambda _ctx, _param, value: _settle(value),
              help="How long after a send not finding it means it never landed (e.g. 90s, 10m; 0 when you"
                   " know the server is done). Default: the client's longest try at the request (timeouts"
                   " and waits of every attempt) plus 60s for the server to finish.")
@click.option("--json", "as_json", is_flag=True, help="Print each decision as JSON.")
def reconcile(project: str, task_ids: tuple[int, ...], settle: float | None, as_json: bool) -> None:
    """Look on the server whether the requests of tasks in review landed, and settle them.

    For each review task (the IDs given, else all), where the operation allows looking (an
    upload: a file by name and size; a batch job: by its metadata; a delete: is the object
    gone?): found, the task is processed with the object as its result; certainly absent (not
    found once the send is older than the settle window), it is failed (replayable with
    `tasks retry`); otherwise it stays in review with a note saying when to look again.
    Exits 3 when tasks are left in review.
    """
    from alumio_mistral import reconcile as lookups
    from alumio_mistral.http.errors import ApiError
    from alumio_mistral.runtime import ClientPool

    loaded, store = _open(project)
    decisions: list[dict[str, Any]] = []
    clients = ClientPool(loaded.clients, loaded.catalog)
    with store:
        chosen = [store.get(task_id) for task_id in task_ids] if task_ids else store.list(status="review")
        for task_id, task in zip(task_ids, chosen):
            if task is None or task.status != "review":
                fail(f"{project}: task {task_id} is {'missing' if task is None else task.status}; "
                     "only tasks in review are reconciled")
        try:
            for task in chosen:
                try:
                    finding = lookups.look((task.last_error or {}).get("look"), clients, loaded.catalog,
                                           settle=settle)
                except ApiError as error:
                    finding = lookups.Finding(lookups.UNKNOWN, f"could not look: {error}")
                status = {lookups.LANDED: "processed", lookups.ABSENT: "failed"}.get(finding.verdict, "review")
                note = finding.note if status != "failed" else f"{finding.note}; replayable with `tasks retry`"
                store.resolve(task.id, status, actions.resolution(status, note, "tasks reconcile"),
                              result=finding.found)
                decisions.append({"task": task.id, "status": status, "note": note})
        finally:
            clients.close()
    if as_json:
        echo_json(decisions)
    else:
        for decision in decisions:
            click.echo(f"task {decision['task']}: {decision['status']}: {decision['note']}")
        if not decisions:
            click.echo("no tasks in review", err=True)
    if any(decision["status"] == "review" for decision in decisions):
        raise SystemExit(EXIT_REVIEW)


@tasks.command("cancel-batch")
@click.argument("project", type=click.Path(exists=True))
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def cancel_batch(project: str, job_id: str, as_json: bool) -> None:
    """Cancel batch job JOB_ID of an outgoing in batch mode and give its unfinished tasks back
    to `new` (a run still waiting on the job gives them back itself when it sees it cancelled)."""
    from alumio_mistral.batch.publisher import cancel_batch as cancel
    from alumio_mistral.runtime import ClientPool

    loaded, store = _open(project)
    clients = ClientPool(loaded.clients, loaded.catalog)
    try:
        with store:
            outcome = run_or_fail(lambda: cancel(store, clients, job_id))
    finally:
        clients.close()
    if as_json:
        echo_json(outcome)
    elif outcome["held"]:
        click.echo(f"batch job {job_id}: {outcome['status']}; a running run holds its tasks and returns them to new")
    else:
        click.echo(f"batch job {job_id}: {outcome['status']}; {outcome['returned']} task(s) back to new")
