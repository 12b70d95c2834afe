"""Client configurations from a project, including the implicit ``mistral`` client.

A project needs no ``clients`` section to talk to Mistral: the ``mistral`` client is always
there unless the file defines one by that name. With no ``MISTRAL_API_KEY`` it points at the
embedded sandbox, so a fresh clone runs without an account or the network.
"""

from __future__ import annotations

from typing import Any, Mapping

from alumio_mistral.http.client import SANDBOX_KEY
from alumio_mistral.http.prototypes import MISTRAL_BASE_URI, SANDBOX, ClientConfig, key_from_environment
from alumio_mistral.secrets import register_secret

DEFAULT_CLIENT = "mistral"
_SECRET_SETTINGS = ("api_key", "admin_api_key", "password")


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


def build_clients(declared: Mapping[str, Mapping[str, Any]], env: Mapping[str, str]) -> dict[str, ClientConfig]:
    """A ``ClientConfig`` per validated client dict, plus the implicit ``mistral`` client."""
    clients = {name: client_config(name, values, env) for name, values in declared.items()}
    clients.setdefault(DEFAULT_CLIENT, client_config(DEFAULT_CLIENT, {}, env))
    return clients


def client_config(name: str, values: Mapping[str, Any], env: Mapping[str, str]) -> ClientConfig:
    """Fill the prototype's defaults that depend on the environment, then build the config."""
    settings = dict(values)
    if settings.get("prototype", "mistral") == "mistral":
        # an empty key (``${MISTRAL_API_KEY:-}``) counts as none given
        settings["api_key"] = settings.get("api_key") or key_from_environment(env, name) or SANDBOX_KEY
        real_key = settings["api_key"] != SANDBOX_KEY
        settings.setdefault("base_uri", env.get("MISTRAL_BASE_URI") or (MISTRAL_BASE_URI if real_key else SANDBOX))
    else:
        settings.setdefault("auth", "bearer" if settings.get("api_key") else "none")
    return ClientConfig(name=name, **settings)
