"""``alumio-mistral validate PROJECT``, and loading a project the same way for every command.

A command that sends goes through the very checks ``validate`` makes, so both report the same
problems, and says loudly when its answers will come from the embedded sandbox. A command that
only looks at tasks or storages loads leniently: it needs no secrets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from alumio_mistral.cli.output import echo_json, fail, run_or_fail
from alumio_mistral.config import Project, check_project, load_project
from alumio_mistral.config.clients import SANDBOX_NOTICE


def load_for_sending(project: str | Path, *, reads_sources: bool = True) -> Project:
    """The project, or exit 1 listing every problem ``validate`` would list.

    ``reads_sources`` is False for commands that publish stored tasks without reading the
    incoming files (``tasks retry``): those files need not exist for them.
    """
    loaded, problems = check_project(project, source_files=reads_sources)
    if loaded is None:
        fail("\n".join(str(problem) for problem in problems))
    announce_sandbox(loaded.uses_sandbox)
    return loaded


def announce_sandbox(active: bool) -> None:
    """Say on stderr that answers will be fake; ``--json`` output carries ``sandbox`` too."""
    if active:
        click.echo(f"warning: {SANDBOX_NOTICE}", err=True)


def with_sandbox(record: dict[str, Any], project: Project) -> dict[str, Any]:
    """A ``--json`` record with ``sandbox``: whether its answers came from the embedded sandbox."""
    return {**record, "sandbox": project.uses_sandbox}


def load_for_reading(project: str | Path) -> Project:
    """The project for a command that never sends: unset secrets are no problem."""
    loaded: Project = run_or_fail(lambda: load_project(project, lenient=True))
    return loaded


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {ok, summary, problems: [{file, path, message, line}]}.")
def validate(project: Path, as_json: bool) -> None:
    """Check PROJECT (a file, or a folder with alumio.yaml) and list every problem.

    Each problem is printed as FILE[:LINE]: DOTTED.PATH: MESSAGE. The schemas, the references
    between objects, the catalog entities, the source files and every transformer pipeline are
    checked, as ``run`` checks them. Exits 1 when there is any problem.
    """
    loaded, problems = check_project(project)
    if as_json:
        summary = loaded.summary() if loaded else None
        echo_json({"ok": not problems, "summary": summary, "problems": [p.to_dict() for p in problems]})
    elif loaded is not None:
        click.echo(f"OK: {loaded.summary()}")
    else:
        for problem in problems:
            click.echo(str(problem))
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", err=True)
    if problems:
        raise SystemExit(1)
