"""Client configurations from a project, including the implicit ``mistral`` client.

A project needs no ``clients`` section to talk to Mistral: the ``mistral`` client is always
there unless the file defines one by that name. With no ``MISTRAL_API_KEY`` it points at the
embedded sandbox, so a fresh clone runs without an account or the network; but only when nothing
names a server: a base URI without a key is a forgotten key, and fake answers would hide it.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from alumio_mistral.config.problems import Finding
from alumio_mistral.errors import AlumioError
from alumio_mistral.http.prototypes import MISTRAL_BASE_URI, SANDBOX, SANDBOX_KEY, ClientConfig, ClientConfigError, key_from_environment
from alumio_mistral.secrets import register_secret

DEFAULT_CLIENT = "mistral"
_SECRET_SETTINGS = ("api_key", "admin_api_key", "password")
#: what every command that talks to the embedded sandbox says (stderr, and ``sandbox`` in ``--json``)
SANDBOX_NOTICE = "using the embedded sandbox: no MISTRAL_API_KEY is set; answers are fake"


def is_credential_path(path: str) -> bool:
    """Is this dotted path a credential: a client's (``clients.NAME.api_key``, ``clients.NAME.headers.X``)
    or an interaction log's (``outgoing.NAME.log.app_key``, ``.api_key``, ``.headers.X``)?"""
    parts = path.split(".")
    if len(parts) >= 4 and parts[0] == "outgoing" and parts[2] == "log":
        return parts[3] in ("app_key", "api_key", "headers")
    return len(parts) >= 3 and parts[0] == "clients" and (parts[2] in _SECRET_SETTINGS or parts[2] == "headers")


def register_client_secrets(raw_clients: Any, env: Mapping[str, str]) -> None:
    """Mask from now on every secret the project gives its clients, valid or not.

    Done before validation, so even a problem that echoes a value (a key pasted where a client
    name belongs) does not print the key.
    """
    register_secret(env.get("MISTRAL_API_KEY"))
    for settings in raw_clients.values() if isinstance(raw_clients, dict) else ():
        for key in _SECRET_SETTINGS:
            value = settings.get(key) if isinstance(settings, dict) else None
            if isinstance(value, str):
                register_secret(value)


def build_clients(
    declared: Mapping[str, Mapping[str, Any]], env: Mapping[str, str], *, lenient: bool = False
) -> tuple[dict[str, ClientConfig], list[Finding]]:
    """A ``ClientConfig`` per validated client dict, plus the implicit ``mistral`` client, and
    the problems of those that cannot be built (each at its ``clients.NAME`` path)."""
    clients: dict[str, ClientConfig] = {}
    findings: list[Finding] = []
    for name, values in {DEFAULT_CLIENT: {}, **declared}.items():
        try:
            clients[name] = client_config(name, values, env, lenient=lenient)
        except AlumioError as error:
            findings.append(_finding(name, str(error)))
    return clients, findings


def _finding(name: str, message: str) -> Finding:
    """``clients.NAME.field: problem`` (as the client checks word it) split into path and message."""
    where, separator, rest = message.partition(": ")
    path, _, note = where.partition(" ")  # "clients.NAME.api_key (from MISTRAL_API_KEY)"
    if separator and (path == f"clients.{name}" or path.startswith(f"clients.{name}.")):
        return path, f"{note}: {rest}" if note else rest
    return f"clients.{name}", message


def client_config(
    name: str, values: Mapping[str, Any], env: Mapping[str, str], *, lenient: bool = False
) -> ClientConfig:
    """Fill the prototype's defaults that depend on the environment, then build the config.

    ``lenient`` (for commands that never send) lets a mistral client name a server without a key.
    """
    settings = dict(values)
    if settings.get("prototype", "mistral") == "mistral":
        settings.update(_mistral_target(name, settings, env, lenient))
    else:
        settings.setdefault("auth", "bearer" if settings.get("api_key") else "none")
    return ClientConfig(name=name, **settings)


def _mistral_target(name: str, settings: Mapping[str, Any], env: Mapping[str, str], lenient: bool) -> dict[str, Any]:
    """The key and base URI of a mistral client: given, from the environment, or the sandbox's."""
    # an empty key (``${MISTRAL_API_KEY:-}``) counts as none given
    key = settings.get("api_key") or key_from_environment(env, name)
    base_uri = settings.get("base_uri") or env.get("MISTRAL_BASE_URI") or None
    if key:
        return {"api_key": key, "base_uri": base_uri or MISTRAL_BASE_URI}
    if base_uri in (None, SANDBOX):
        return {"api_key": SANDBOX_KEY, "base_uri": SANDBOX}
    if lenient:
        return {"api_key": None, "base_uri": base_uri}
    given = "base_uri" if settings.get("base_uri") else "MISTRAL_BASE_URI"
    raise ClientConfigError(
        f"clients.{name}: {given} is set but no api_key; set MISTRAL_API_KEY (without a key, only a client"
        " that names no server uses the sandbox)"
    )


def clients_in_use(valid: Mapping[str, Any]) -> set[str]:
    """The clients a project sends through: its subscribers, publishers, ``then`` targets and
    ``http-enrich`` steps written in the file (a step inside a transformers/ folder file is not seen)."""
    used: set[str] = set()
    targets = [incoming.get("subscriber") for incoming in valid.get("incoming", {}).values()]
    for outgoing in valid.get("outgoing", {}).values():
        targets += [outgoing.get("publisher"), outgoing.get("then")]
    used.update(target["client"] for target in targets if isinstance(target, dict) and "client" in target)
    used.update(_enrich_clients(valid))
    return used


def _enrich_clients(data: Any) -> Iterator[str]:
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if value.get("type") == "http-enrich":
                yield str(value.get("client", DEFAULT_CLIENT))
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
