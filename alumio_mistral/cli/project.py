"""``alumio-mistral validate PROJECT``: every problem of a project file, or a one-line OK."""

from __future__ import annotations

from pathlib import Path

import click

from alumio_mistral.cli.output import echo_json
from alumio_mistral.config import check_project


@click.command()
@click.argument("project", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {ok, summary, problems: [{file, path, message, line}]}.")
def validate(project: Path, as_json: bool) -> None:
    """Check PROJECT (a file, or a folder with alumio.yaml) and list every problem.

    Each problem is printed as FILE[:LINE]: DOTTED.PATH: MESSAGE. The schemas, the references
    between objects, the catalog entities and every transformer pipeline are checked. Exits 1
    when there is any problem.
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
