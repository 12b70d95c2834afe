"""``transform``: preview a pipeline on sample entities (with ``--explain``), run saved tests.

``transform NAME_OR_FILE ...`` is short for ``transform preview NAME_OR_FILE ...``: only a first
argument that is a subcommand name (``preview``, ``test``, ``types``) selects a subcommand, so a definition
file literally called ``test`` is previewed with ``transform preview test``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from alumio_mistral.cli.output import echo_json, fail
from alumio_mistral.errors import AlumioError


class _DefaultToPreview(click.Group):
    """A group whose first argument, unless it names a subcommand, is previewed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["preview", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToPreview, no_args_is_help=True)
def transform() -> None:
    """Preview transformer pipelines and run their saved tests.

    \b
    alumio-mistral transform NAME_OR_FILE --input FILE|- [--explain] [--project P] [--json]
    alumio-mistral transform test [NAME ...] [--project P]
    alumio-mistral transform types [NAME] [--json]

    A first argument other than 'preview', 'test' or 'types' is previewed (to preview a file named
    'test', write 'transform preview test').
    """


def _library_and_context(project: str | None) -> tuple[Any, Any, Any]:
    """The library and context for a project (or shipped definitions only); also the clients to close."""
    from alumio_mistral.transformers import Library, TransformContext
    from alumio_mistral.transformers.context import MemoryStorages

    if project is None:
        return Library.for_project(None), TransformContext(storages=MemoryStorages()), None
    from alumio_mistral.config import load_project
    from alumio_mistral.runtime import ClientPool

    loaded = load_project(project)
    catalog = loaded.catalog
    clients = ClientPool(loaded.clients, catalog)
    library = Library.for_project(loaded.root, loaded.transformers, source=str(loaded.path))
    return library, TransformContext(storages=MemoryStorages(), clients=clients, catalog=catalog), clients


def _arguments(pairs: tuple[str, ...]) -> dict[str, Any]:
    arguments = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--with")
        arguments[name] = yaml.safe_load(value) if value else ""
    return arguments


def _pipeline(target: str, arguments: dict[str, Any], library: Any, context: Any) -> Any:
    """Compile a definition file, or a named definition, with ``arguments`` for its parameters."""
    from alumio_mistral.transformers import Library
    from alumio_mistral.transformers.errors import TransformConfigError
    from alumio_mistral.transformers.library import Definition

    path = Path(target)
    if path.is_file():
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise TransformConfigError.one(str(path), "", f"not valid YAML: {error}") from None
        definition = Definition.parse(str(path), str(path), document)
        library = Library({**library.definitions, definition.name: definition})
    return library.compile(target, arguments, context, where=(target, ""))


def read_entities(text: str, name: str) -> list[Any]:
    """Entities from JSON (an array is several entities, anything else one) or JSON lines,
    read and checked as an incoming reads and checks them (undecodable bytes, nesting too deep,
    NaN); the first bad row, by ``name`` and line, is a usage error.

    JSON lines when the whole text is not one document but its first line is one.
    """
    from alumio_mistral.subscribers.base import entity_problem
    from alumio_mistral.subscribers.files import json_records, jsonl_records

    records = list(json_records(text, name, None))
    if any(record.error for record in records):
        # at \n alone: str.splitlines would also break inside a text holding U+2028 (valid JSON)
        as_lines = list(jsonl_records(text.split("\n"), name))
        if as_lines and as_lines[0].error is None:
            records = as_lines
    bad = [(record.origin, record.error or entity_problem(record.entity)) for record in records]
    bad = [(origin, problem) for origin, problem in bad if problem]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise click.BadParameter(f"{bad[0][0]}: {bad[0][1]}{more} (expected JSON, a JSON array or JSON lines)",
                                 param_hint="--input")
    return [record.entity for record in records]


def _read_input(source: str) -> str:
    """The text of ``--input`` (``-``: standard input), undecodable bytes marked as the file
    sources mark them, so the row holding one is reported rather than a traceback."""
    from alumio_mistral.subscribers.files import MARK_UNDECODABLE, open_text
    from alumio_mistral.subscribers.mistral import SubscriberError

    if source == "-":
        raw = getattr(sys.stdin, "buffer", None)
        return sys.stdin.read() if raw is None else raw.read().decode("utf-8", MARK_UNDECODABLE)
    try:
        with open_text(Path(source)) as handle:
            return handle.read()
    except SubscriberError as error:
        fail(f"cannot read --input {error}")
    except OSError as error:
        fail(f"cannot read --input {source}: {error.strerror or error}")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@transform.command()
@click.argument("name_or_file")
@click.option("--input", "-i", "source", required=True, help="JSON, JSON array or JSON lines file; - for stdin.")
@click.option("--explain", is_flag=True, help="Show every step with its input and output.")
@click.option("--project", "-p", help="Project file or folder (its transformers/ and clients are used).")
@click.option(
    "--with", "-w", "pairs", multiple=True, metavar="NAME=VALUE", help="A parameter of the definition (repeatable)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (entities, failures or traces).")
def preview(
    name_or_file: str, source: str, explain: bool, project: str | None, pairs: tuple[str, ...], as_json: bool
) -> None:
    """Run a named definition or a definition file on the entities in --input.

    Prints the output entities as JSON lines; a failing entity is reported with the step's
    position and type, the others go on, and the exit code is 1. Storage steps use an empty
    in-memory storage (a preview never changes the project's store); HTTP enrich steps call
    the project's clients for real.
    """
    entities = read_entities(_read_input(source), "<stdin>" if source == "-" else source)
    clients = None
    try:
        library, context, clients = _library_and_context(project)
        pipeline = _pipeline(name_or_file, _arguments(pairs), library, context)
        failed = (_explain if explain else _run)(pipeline, entities, as_json)
    except AlumioError as error:
        fail(str(error))
    finally:
        if clients is not None:
            clients.close()
    if failed:
        raise SystemExit(1)


def _run(pipeline: Any, entities: list[Any], as_json: bool) -> int:
    from alumio_mistral.transformers import TransformError

    outputs: list[Any] = []
    failures: list[dict[str, Any]] = []
    skipped = 0
    for number, entity in enumerate(entities, 1):
        try:
            results = pipeline.run(entity)
        except TransformError as error:
            failures.append({"entity": number, "step": error.index + 1, "type": error.step_type, "error": str(error)})
            if not as_json:
                click.echo(
                    f"error: entity {number}: step {error.index + 1} ({error.step_type}) failed: {error}", err=True
                )
            continue
        skipped += not results
        outputs.extend(results)
        if not as_json:
            for result in results:
                click.echo(_compact(result))
    if as_json:
        echo_json({"entities": outputs, "skipped": skipped, "failed": failures})
    return len(failures)


def _explain(pipeline: Any, entities: list[Any], as_json: bool) -> int:
    failed = 0
    everything = []
    for number, entity in enumerate(entities, 1):
        traces = pipeline.explain(entity)
        failed += any(trace.error for trace in traces)
        everything.append({"entity": number, "steps": [trace.to_dict() for trace in traces]})
        if as_json:
            continue
        click.echo(f"entity {number}")
        for trace in traces:
            pattern = f" {trace.pattern}" if trace.pattern else ""
            click.echo(f"  step {trace.index + 1}: {trace.type}{pattern}")
            click.echo(f"    in:  {_compact(trace.input)}")
            if trace.error:
                click.echo(f"    error: {trace.error}")
            else:
                click.echo(f"    out: {_compact(trace.output)}")
        if traces and not traces[-1].error and not traces[-1].output:
            click.echo("  (filtered out: counted as skipped)")
    if as_json:
        echo_json(everything)
    return failed


@transform.command("test")
@click.argument("names", nargs=-1)
@click.option("--project", "-p", help="Project file or folder whose definitions are tested too.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def test_command(names: tuple[str, ...], project: str | None, as_json: bool) -> None:
    """Run the saved tests of named definitions (all when no NAME), printing a diff per mismatch."""
    from alumio_mistral.transformers.saved_tests import run_saved_tests

    try:
        library, _context, clients = _library_and_context(project)
        if clients is not None:
            clients.close()
        results = run_saved_tests(library, list(names) or None)
    except AlumioError as error:
        fail(str(error))
    failures = [result for result in results if not result.ok]
    if as_json:
        echo_json([{"definition": r.definition, "test": r.name, "ok": r.ok, "problem": r.problem} for r in results])
    else:
        for result in results:
            click.echo(f"{'ok  ' if result.ok else 'FAIL'} {result.definition}: {result.name}")
            if result.problem:
                click.echo("".join(f"    {line}\n" for line in result.problem.splitlines()))
        click.echo(f"{len(results) - len(failures)} passed, {len(failures)} failed")
    if failures or not results:
        raise SystemExit(1)


@transform.command("types")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the reference as JSON.")
@click.option("--markdown", is_flag=True, help="Print the reference as the Markdown page docs/transformers.md.")
def types_command(name: str | None, as_json: bool, markdown: bool) -> None:
    """List every transformer type (or one) with its parameters, kinds, defaults and an example.

    Read from the registry itself, so it always matches what a project file may use.
    """
    from alumio_mistral.transformers import reference

    if markdown:
        click.echo(reference.markdown())
        return
    try:
        docs = reference.describe(name)
    except KeyError:
        from alumio_mistral.schema import did_you_mean
        from alumio_mistral.transformers.registry import transformer_types

        fail(f"no transformer type {name!r}{did_you_mean(str(name), transformer_types())}")
    if as_json:
        echo_json([doc.to_dict() for doc in docs])
        return
    for doc in docs:
        click.echo(f"{doc.name}: {doc.summary}")
        click.echo(f"  example: {doc.example_line()}")
        for param in doc.params if name else ():
            extra = "required" if param.required else (f"default {param.default!r}" if param.default is not None else "")
            choices = f" one of: {', '.join(map(str, param.choices))}" if param.choices else ""
            click.echo(f"  {param.name} ({param.kind}) {extra}{choices}".rstrip())
