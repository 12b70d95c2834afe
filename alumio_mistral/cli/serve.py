"""``alumio-mistral serve PROJECT``: schedules, webhooks, /healthz and /metrics until a signal."""

from __future__ import annotations

import os
import threading
from typing import Any

import click

from alumio_mistral.cli.output import echo_json, fail, run_or_fail


@click.command()
@click.argument("project", type=click.Path(exists=True))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs ALUMIO_DASHBOARD_TOKEN (the dashboard's login).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port (0: a free one).")
@click.option("--once", is_flag=True, help="Run every due schedule one time and exit (for cron); no HTTP.")
@click.option("--grace", default=30.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Seconds the work in flight gets to finish after SIGTERM/SIGINT.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the runs as JSON.")
def serve(project: str, host: str, port: int, once: bool, grace: float, as_json: bool) -> None:
    """Run PROJECT's schedules and webhooks, with /healthz, /metrics and the dashboard at /, until SIGTERM/SIGINT.

    On the first signal nothing more is claimed and the work in flight gets --grace seconds,
    then it exits 0 (1 when work was still running: its leases lapse and the next start
    resumes it); a second signal exits at once. Several serve processes on one store run each
    scheduled tick once.
    """
    from alumio_mistral.cli.project import load_for_sending
    from alumio_mistral.runtime import Runtime
    from alumio_mistral.service.lifecycle import run_until_signal
    from alumio_mistral.service.dashboard import check_bind, is_loopback
    from alumio_mistral.service.serve import Service

    loaded = load_for_sending(project)
    token = None if once else run_or_fail(lambda: check_bind(host, os.environ))
    if not once and not is_loopback(host):
        click.echo(f"warning: serving on {host}: webhooks, /healthz, /metrics and the dashboard are reachable"
                   " from other machines (the dashboard asks for its token, webhooks check theirs)", err=True)
    runtime = Runtime(loaded)
    if once:
        with runtime:
            _run_once(Service(runtime, threading.Event()), as_json)
        return
    try:
        run_until_signal(lambda stop: Service(runtime, stop, token).start(host, port), grace=grace, what="serve",
                         close=runtime.close)
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error}")


def _run_once(service: Any, as_json: bool) -> None:
    """``--once``: every due schedule one time; exit 1 when any run failed."""
    runs = service.run_once()
    if as_json:
        echo_json([{"job": run.job, "tick": run.tick, "ok": run.ok, "duration": run.duration,
                    "summary": run.summary, "error": run.error} for run in runs])
    else:
        for run in runs:
            click.echo(f"{run.job}: {'ok' if run.ok else 'failed: ' + str(run.error)} in {run.duration or 0:.1f}s",
                       err=True)
    if not all(run.ok for run in runs):
        fail(f"{sum(not run.ok for run in runs)} scheduled run(s) failed")
