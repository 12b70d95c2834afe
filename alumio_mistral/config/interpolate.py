"""``${VAR}`` and ``${VAR:-default}`` in project files, from the environment and a ``.env`` file.

Interpolation runs on the raw structure before validation, on string values only, so a number
written as ``${TIMEOUT:-5}`` is then checked (and converted) like any other value. ``$${`` writes a
literal ``${``. The ``.env`` beside the project file is read without touching ``os.environ``, and
the real environment wins over it, so a deployment can override what a developer keeps locally.
A value read from a variable named like a secret (``*_KEY``, ``*_TOKEN``, ``*_SECRET``,
``*PASSWORD*``) is registered as a secret as it is put in, wherever in the project it lands (a
publisher's query, a header, a transformer's value), so it is masked in every output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

from dotenv import dotenv_values

from alumio_mistral.config.problems import Finding, join_path
from alumio_mistral.secrets import is_secret_variable, register_secret

_REFERENCE = re.compile(
    r"\$\$\{"  # escaped: stays a literal "${"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bad>\$\{[^}]*\}?)"
)


def read_environment(project_file: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a project sees: its ``.env`` file overlaid by the real environment."""
    dotenv_file = project_file.parent / ".env"
    values: dict[str, str] = {}
    if dotenv_file.is_file():
        values = {k: v for k, v in dotenv_values(dotenv_file).items() if v is not None}
    values.update(os.environ if environ is None else environ)
    return values


def interpolate(data: Any, env: Mapping[str, str], path: str = "") -> tuple[Any, list[Finding]]:
    """Replace references in every string of ``data``; report unset variables and bad syntax."""
    findings: list[Finding] = []
    return _walk(data, env, path, findings), findings


def _walk(data: Any, env: Mapping[str, str], path: str, findings: list[Finding]) -> Any:
    if isinstance(data, str):
        return _substitute(data, env, path, findings)
    if isinstance(data, dict):
        return {key: _walk(value, env, join_path(path, key), findings) for key, value in data.items()}
    if isinstance(data, list):
        return [_walk(value, env, join_path(path, index), findings) for index, value in enumerate(data)]
    return data


def _substitute(text: str, env: Mapping[str, str], path: str, findings: list[Finding]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default, bad = match.group("name"), match.group("default"), match.group("bad")
        if bad is not None:
            findings.append((path, f"malformed variable reference {bad!r}; write ${{NAME}} or ${{NAME:-default}}"))
            return bad
        if name is None:
            return "${"
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            findings.append((path, f"environment variable {name} is not set and has no default"))
            return match.group(0)
        if is_secret_variable(name):
            register_secret(value)
        return value

    return _REFERENCE.sub(replace, text)
