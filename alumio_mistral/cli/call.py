"""``alumio-mistral call``: one request to one catalog entity, for trying things out.

Parameters are given by name (``-p file_id=abc``) and sorted into path, query and header
params by the entity's own definition, so the user never needs to know which is which; a
name the entity does not take is refused with the list of names it does take.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import click
import requests

from alumio_mistral.catalog.entity import Entity
from alumio_mistral.cli.output import echo_json, fail
from alumio_mistral.cli.project import announce_sandbox
from alumio_mistral.config import load_project
from alumio_mistral.config.clients import DEFAULT_CLIENT, client_config
from alumio_mistral.errors import AlumioError
from alumio_mistral.http import ApiError, Client
from alumio_mistral.http.prototypes import SANDBOX
from alumio_mistral.runtime import resolved
from alumio_mistral.http.bodies import decode_body, decoded_events, is_event_stream
from alumio_mistral.secrets import redact_value


class CallInputError(AlumioError):
    """A ``-p`` or ``--data`` value the entity cannot take."""


@click.command()
@click.argument("entity")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A path, query or header parameter; repeat a name for an array.")
@click.option("--data", metavar="JSON|@FILE",
              help="The request body as JSON, or @FILE to read it. For multipart entities, "
                   "a JSON object whose \"@PATH\" values are uploaded as files.")
@click.option("--client", "client_name", default="mistral", show_default=True, metavar="NAME",
              help="Client to use (from --project; without it, only 'mistral').")
@click.option("--project", type=click.Path(exists=True, path_type=Path),
              help="Project file or folder whose clients to use.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON record (entity, status, body), or the error as JSON.")
def call(entity: str, params: tuple[str, ...], data: str | None, client_name: str,
         project: Path | None, as_json: bool) -> None:
    """Call ENTITY (for example models.list) once and print the response.

    Without --project the client comes from MISTRAL_API_KEY and MISTRAL_BASE_URI; with
    neither it talks to the embedded sandbox (and says so), with a base URI but no key it fails.
    """
    try:
        client, sandbox = _client(client_name, project)
        with client:
            target = client.entity(entity)
            arguments = _sort_params(target, params)
            body = _read_data(data)
            response = client.call(
                target,
                **arguments,
                **_body_arguments(target, body),
                stream=_wants_stream(target, body),
            )
            _print_response(target, response, as_json, sandbox=sandbox)
    except ApiError as error:
        if as_json:
            echo_json({"error": error.to_dict()})
            raise SystemExit(1) from None
        fail(str(error))
    except AlumioError as error:
        fail(str(error))


def _client(name: str, project: Path | None) -> tuple[Client, bool]:
    """The client to call with, and whether it is the embedded sandbox (said loudly)."""
    if project is None:
        if name != "mistral":
            raise CallInputError(f"--client {name}: clients other than 'mistral' need --project")
        config = client_config(DEFAULT_CLIENT, {}, os.environ)
        catalog = None
    else:
        loaded = load_project(project)
        clients = loaded.clients
        if name not in clients:
            raise CallInputError(
                f"{project}: no client named {name!r} (clients: {', '.join(sorted(clients)) or 'none'})"
            )
        config = clients[name]
        catalog = loaded.catalog  # extended by the project's spec: file, as for run
    sandbox = config.base_uri == SANDBOX
    announce_sandbox(sandbox)
    return Client(resolved(config), catalog), sandbox


def _sort_params(entity: Entity, given: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Split ``NAME=VALUE`` strings into path params, query and headers by the entity's params."""
    declared = {param.name: param for param in entity.params}
    sorted_params: dict[str, dict[str, Any]] = {"path_params": {}, "query": {}, "headers": {}}
    slot = {"path": "path_params", "query": "query", "header": "headers"}
    for item in given:
        name, separator, value = item.partition("=")
        if not separator:
            raise CallInputError(f"-p {item}: expected NAME=VALUE")
        if name not in declared:
            valid = ", ".join(sorted(declared)) or "none"
            raise CallInputError(f"-p {name}: {entity.name} has no parameter {name!r} (valid: {valid})")
        values = sorted_params[slot[declared[name].location]]
        if name in values and declared[name].location == "query":
            previous = values[name]
            values[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            values[name] = [value] if declared[name].style == "repeat" else value
    return sorted_params


def _read_data(data: str | None) -> Any:
    if data is None:
        return None
    where = "--data"
    if data.startswith("@"):
        path = Path(data[1:])
        where = f"--data {path}"
        try:
            data = path.read_text(encoding="utf-8")
        except OSError as error:
            raise CallInputError(f"{where}: cannot read: {error.strerror}") from None
    try:
        return json.loads(data)
    except ValueError as error:
        raise CallInputError(f"{where}: not valid JSON: {error}") from None


def _body_arguments(entity: Entity, body: Any) -> dict[str, Any]:
    """``json=`` for JSON entities; ``files=``/``data=`` for multipart ("@PATH" values are files)."""
    if body is None:
        return {}
    if entity.body == "none":
        raise CallInputError(f"--data: {entity.name} ({entity.method} {entity.path}) takes no body")
    if entity.body != "multipart":
        return {"json": body}
    if not isinstance(body, dict):
        raise CallInputError(f"--data: {entity.name} is multipart; give a JSON object of fields")
    files: dict[str, tuple[str, bytes]] = {}
    fields: dict[str, str] = {}
    for name, value in body.items():
        if isinstance(value, str) and value.startswith("@"):
            path = Path(value[1:])
            try:
                files[name] = (path.name, path.read_bytes())
            except OSError as error:
                raise CallInputError(f"--data {name}: cannot read {path}: {error.strerror}") from None
        else:
            fields[name] = value if isinstance(value, str) else json.dumps(value)
    return {"files": files or None, "data": fields or None}


def _wants_stream(entity: Entity, body: Any) -> bool:
    """Stream SSE entities, and optional-SSE ones (chat) when the body asks for a stream."""
    if entity.streams:
        return True
    return bool(entity.extra.get("sse_optional") and isinstance(body, dict) and body.get("stream"))


def _print_response(entity: Entity, response: requests.Response, as_json: bool, *, sandbox: bool = False) -> None:
    """Print the answer; a broken one (cut short, or not what the entity answers) raises
    :class:`~alumio_mistral.http.errors.BrokenResponseError` instead, so the command fails."""
    if is_event_stream(response):
        _print_events(entity, response, as_json)
        return
    body = decode_body(response, entity)
    if isinstance(body, bytes) and not as_json:
        click.echo(body, nl=False)  # bytes go to the binary stream as they are
        return
    if isinstance(body, bytes):
        body = {"bytes": len(body), "content_type": response.headers.get("Content-Type")}
    if as_json:
        record = {"entity": entity.name, "status": response.status_code, "body": body, "sandbox": sandbox}
        echo_json(redact_value(record))
    elif isinstance(body, (dict, list)):
        echo_json(redact_value(body))
    elif body is not None:
        click.echo(redact_value(body))


def _print_events(entity: Entity, response: requests.Response, as_json: bool) -> None:
    """One line per event, printed as it arrives."""
    for event, data in decoded_events(response, entity):
        if as_json:
            record = {"event": event.event, "data": data, "id": event.id}
            click.echo(json.dumps(redact_value(record), ensure_ascii=False))
        else:
            click.echo(redact_value(event.data))
