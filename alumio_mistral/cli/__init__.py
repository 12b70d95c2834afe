"""The ``alumio-mistral`` command line.

Each command lives in its own module and is imported only when it runs, so that
``alumio-mistral --version`` stays fast and one area's import cost is not paid by another.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from alumio_mistral import __version__
from alumio_mistral.cli.logs import FORMATS, LEVELS, configure_logging, level_for

#: command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "entities": "alumio_mistral.cli.catalog:entities",
    "call": "alumio_mistral.cli.call:call",
    "validate": "alumio_mistral.cli.project:validate",
    "incoming": "alumio_mistral.cli.incoming:incoming",
    "tasks": "alumio_mistral.cli.tasks:tasks",
    "storage": "alumio_mistral.cli.storage:storage",
    "store": "alumio_mistral.cli.store:store",
    "run": "alumio_mistral.cli.run:run",
    "transform": "alumio_mistral.cli.transform:transform",
    "sandbox": "alumio_mistral.cli.sandbox:sandbox",
    "serve": "alumio_mistral.cli.serve:serve",
    "worker": "alumio_mistral.cli.worker:worker",
    "status": "alumio_mistral.cli.status:status",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: Any = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="alumio-mistral")
@click.option("-v", "--verbose", count=True, help="Log more (-v: INFO, e.g. retry waits; -vv: DEBUG).")
@click.option("-q", "--quiet", count=True, help="Log less (-q: errors only).")
@click.option("--log-level", type=click.Choice(LEVELS, case_sensitive=False),
              help="Log at this level (wins over -v/-q; default WARNING).")
@click.option("--log-format", type=click.Choice(FORMATS), default="text", show_default=True,
              help="json: one JSON object a line, for log collectors.")
def main(verbose: int, quiet: int, log_level: str | None, log_format: str) -> None:
    """Move data in and out of the Mistral AI API, declaratively.

    The logging options go before the command: `alumio-mistral -v run PROJECT`. Logs go to
    stderr with every secret masked.
    """
    # before any command logs anything: secrets are masked in every log record from here on
    configure_logging(level_for(verbose, quiet, log_level), log_format)
