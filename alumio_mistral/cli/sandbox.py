"""``alumio-mistral sandbox``: serve the Mistral API emulator until Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import click

from alumio_mistral.cli.output import echo_json, fail
from alumio_mistral.errors import AlumioError

FAULTS_HELP = """\b
Fault spec: clauses separated by ';', each optionally limited to
routes with '@GLOB' (request path or entity name; ',' between globs):
  rate_limit=20/s     over 20 requests in a second -> 429 + Retry-After
  error=0.1:503       10% of answers are 503 (default status 500)
  latency=50ms        add 50 ms to every answer (or 0.2s)
  latency=0.3:2s      add 2 s to 30% of the answers
  drop=0.01           1% of connections close without an answer
                      (after the request was handled)
  truncate=0.05       5% of bodies are cut in half
  garbage=0.05        5% of bodies are not JSON
  seed=7              seed of the draws (default: --seed)
Example: 'rate_limit=20/s@/v1/chat/*;error=0.1:500@embeddings.*;seed=7'"""


@click.command(epilog=FAULTS_HELP)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: a free one).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of ids and fault draws.")
@click.option("--faults", "faults", metavar="SPEC", help="Faults to inject (grammar below).")
@click.option("--spec", "spec", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A newer Mistral OpenAPI file: serve its operations too, validating and answering from its schemas.")
@click.option("--no-validate", "no_validate", is_flag=True,
              help="Check only the JSON types of top-level body fields, nothing else "
                   "(by default parameters and bodies are validated against the spec).")
@click.option("--batch-step", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Batch jobs advance one state per SECONDS (default: one state per retrieve).")
@click.option("--json", "as_json", is_flag=True, help='Print {"base_uri": ...} as JSON instead of a sentence.')
def sandbox(host: str, port: int, seed: int, faults: str | None, spec: Path | None, no_validate: bool,
            batch_step: float | None, as_json: bool) -> None:
    """Serve a local, stateful Mistral API (no tokens, no network) until Ctrl-C.

    Any 'Authorization: Bearer <anything>' is accepted. GET /_sandbox/requests
    reports the requests received per route, entity and status.
    """
    from alumio_mistral.sandbox import Faults, Sandbox

    try:
        server = Sandbox(seed=seed, faults=Faults.parse(faults), spec_path=spec, host=host, port=port,
                         batch_step=batch_step, validate=not no_validate).start()
    except AlumioError as error:
        fail(str(error))
    except OSError as error:
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
    if as_json:
        echo_json({"base_uri": server.base_uri})
    else:
        click.echo(f"Mistral sandbox serving at {server.base_uri} (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
