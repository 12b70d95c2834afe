"""The ``alumio-mistral`` command line.

Each command lives in its own module and is imported only when it runs, so that
``alumio-mistral --version`` stays fast and one area's import cost is not paid by another.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from alumio_mistral import __version__

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
def main() -> None:
    """Move data in and out of the Mistral AI API, declaratively."""
    # before any command logs anything: secrets are masked in every log record from here on
    from alumio_mistral.secrets import install_log_redaction

    install_log_redaction()
