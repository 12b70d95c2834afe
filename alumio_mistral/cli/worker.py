"""``alumio-mistral worker PROJECT``: publish pending tasks until a signal, like ``serve`` stops."""

from __future__ import annotations

import click

from alumio_mistral.cli.output import run_or_fail


@click.command()
@click.argument("project", type=click.Path(exists=True))
@click.option("--outgoing", "outgoing", multiple=True, metavar="NAME",
              help="Drain only this outgoing (repeatable; default every enabled one).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Tasks in flight per outgoing (default: each outgoing's own `concurrency`).")
@click.option("--grace", default=30.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Seconds the tasks in flight get to finish after SIGTERM/SIGINT.")
def worker(project: str, outgoing: tuple[str, ...], concurrency: int | None, grace: float) -> None:
    """Publish the tasks of PROJECT's outgoings as they come, until SIGTERM/SIGINT.

    Many workers (on one machine or many, with a PostgreSQL store) share the work: each task
    is claimed by one of them. On a signal nothing more is claimed and the tasks in flight get
    --grace seconds; exit 0 (1 when some were still running: their leases lapse and another
    worker resumes them). A second signal exits at once.
    """
    from alumio_mistral.cli.project import load_for_sending
    from alumio_mistral.engine import check_known
    from alumio_mistral.runtime import Runtime
    from alumio_mistral.service.lifecycle import run_until_signal
    from alumio_mistral.service.serve import drain

    loaded = load_for_sending(project, reads_sources=False)
    run_or_fail(lambda: check_known(loaded, "outgoing", list(outgoing)))
    runtime = Runtime(loaded)
    if concurrency is not None:
        for name in outgoing or loaded.outgoing:
            runtime.outgoing(name).concurrency = concurrency
    run_until_signal(lambda stop: drain(runtime, outgoing, stop), grace=grace, what="worker", close=runtime.close)
