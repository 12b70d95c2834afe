"""``alumio-mistral incoming run PROJECT [NAME ...]``: read sources into tasks."""

from __future__ import annotations

import click

from alumio_mistral.cli.output import echo_json, run_or_fail, show_progress

#: failures printed before "... and N more"
SHOWN_FAILURES = 20


@click.group()
def incoming() -> None:
    """Read incoming configurations into durable tasks."""


@incoming.command("run")
@click.argument("project", type=click.Path(exists=True))
@click.argument("names", nargs=-1, metavar="[NAME ...]")
@click.option("--json", "as_json", is_flag=True, help="Print the counts and failures as JSON.")
def run(project: str, names: tuple[str, ...], as_json: bool) -> None:
    """Run the incoming configurations of PROJECT (all enabled ones, or the NAMEs given).

    Shows entities read, tasks created, skipped and failed as it goes; exits 1 when any
    entity (or a whole source) could not be read, after reading everything else.
    """
    from alumio_mistral.cli.project import load_for_sending, with_sandbox
    from alumio_mistral.runtime import Runtime

    loaded = load_for_sending(project)
    with Runtime(loaded) as runtime, show_progress("incoming", not as_json) as progress:
        stats = run_or_fail(lambda: runtime.read(list(names) or None, progress=progress))
    if as_json:
        echo_json(with_sandbox(stats.to_dict(), loaded))
    else:
        for failure in stats.failures[:SHOWN_FAILURES]:
            click.echo(f"error: {failure}", err=True)
        if stats.failed > SHOWN_FAILURES:
            click.echo(f"... and {stats.failed - SHOWN_FAILURES} more", err=True)
        progress.finish()  # the summary line: read, created, skipped, failed, rate
    if not stats.ok:
        raise SystemExit(1)
