"""``alumio-mistral status PROJECT``: tasks by outgoing and status, and every schedule's runs."""

from __future__ import annotations

from typing import Any

import click

from alumio_mistral.cli.output import echo_json, run_or_fail


#: how many messages the endpoint refused for good ``status`` lists (the oldest first)
REFUSED_SHOWN = 20


def status_report(project: Any, store: Any) -> dict[str, Any]:
    """What ``status`` shows, from the store alone (no ``serve`` needs to be running).

    Later parts add their own keys here (open batch jobs, the logging outbox's backlog).
    """
    from alumio_mistral.service.serve import schedule_status

    tasks: dict[str, dict[str, int]] = {}
    for (outgoing, status), count in sorted(store.counts_by_outgoing().items(), key=lambda item: str(item[0])):
        tasks.setdefault(outgoing or "", {})[status] = count
    refused = [{"id": m.id, "topic": m.topic, "attempts": m.attempts, "error": m.last_error}
               for m in store.outbox_list(state="gave_up", limit=REFUSED_SHOWN)]
    return {"tasks": tasks, "schedules": schedule_status(project, store), "outbox": store.outbox_counts(),
            "refused": refused}


@click.command()
@click.argument("project", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print {tasks: {outgoing: {status: n}}, schedules: [...], outbox: {topic: {state: n}}, refused: [...]}.")
def status(project: str, as_json: bool) -> None:
    """Show PROJECT's tasks by outgoing and status, and each schedule's last and next run."""
    from alumio_mistral.cli.project import load_for_reading, with_sandbox
    from alumio_mistral.tasks import open_store

    loaded = load_for_reading(project)
    with run_or_fail(lambda: open_store(loaded)) as store:
        report = run_or_fail(lambda: status_report(loaded, store))
    if as_json:
        echo_json(with_sandbox(report, loaded))
        return
    click.echo("tasks:")
    for outgoing, counts in report["tasks"].items():
        line = ", ".join(f"{status} {count}" for status, count in counts.items())
        click.echo(f"  {outgoing or '(no outgoing)'}: {line}")
    if not report["tasks"]:
        click.echo("  none")
    click.echo("schedules:")
    for row in report["schedules"]:
        last = row["last"]
        if last is None:
            ran = "never ran"
        else:
            outcome = "ok" if last["ok"] else ("running" if last["ok"] is None else f"failed: {last['error']}")
            ran = f"last {last['started']} ({last['duration'] or 0:.1f}s, {outcome})"
        click.echo(f"  {row['job']} ({row['schedule']}): {ran}; next {row['next']}")
    if not report["schedules"]:
        click.echo("  none")
    click.echo("outbox:")
    for topic, counts in report["outbox"].items():
        click.echo(f"  {topic}: " + ", ".join(f"{state} {count}" for state, count in counts.items()))
    if not report["outbox"]:
        click.echo("  none")
    for message in report["refused"]:
        click.echo(f"  refused #{message['id']} ({message['topic']}, {message['attempts']} attempts): {message['error']}")
