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

import io
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from dotenv import dotenv_values

from alumio_mistral.config.problems import ConfigError, Finding, Problem, join_path
from alumio_mistral.config.source import MAX_DOCUMENT_BYTES
from alumio_mistral.secrets import is_secret_variable, register_secret

_REFERENCE = re.compile(
    r"\$\$\{"  # escaped: stays a literal "${"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
    r"|(?P<bad>\$\{[^}]*\}?)"
)


def read_environment(project_file: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables a project sees: its ``.env`` file overlaid by the real environment.

    A ``.env`` that is not text (binary, another encoding, a NUL byte) or is larger than a
    project file may be is a :class:`ConfigError` naming the file and line.
    """
    dotenv_file = project_file.parent / ".env"
    values: dict[str, str] = {}
    if dotenv_file.is_file():
        text = _dotenv_text(dotenv_file)
        values = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    values.update(os.environ if environ is None else environ)
    return values


def _dotenv_text(dotenv_file: Path) -> str:
    def problem(message: str, line: int | None = None) -> ConfigError:
        return ConfigError([Problem(str(dotenv_file), "", message, line)])

    try:
        if dotenv_file.stat().st_size > MAX_DOCUMENT_BYTES:
            raise problem(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        data = dotenv_file.read_bytes()
    except OSError as error:
        raise problem(f"cannot read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise problem("not UTF-8 text (a binary file?)", data.count(b"\n", 0, error.start) + 1) from None
    if "\0" in text:
        raise problem("a NUL character (a binary file?)", text.count("\n", 0, text.index("\0")) + 1)
    return text


#: tells whether the value at a dotted path may keep an unset ``${VAR}`` as written
UnsetAllowed = Callable[[str], bool]


def interpolate(
    data: Any, env: Mapping[str, str], path: str = "", *, unset_allowed: UnsetAllowed = lambda path: False
) -> tuple[Any, list[Finding]]:
    """Replace references in every string of ``data``; report unset variables and bad syntax.

    Where ``unset_allowed(path)``, an unset variable stays as written and is no problem: a
    command that never sends needs no credentials.
    """
    findings: list[Finding] = []
    return _walk(data, env, path, findings, unset_allowed), findings


def _walk(data: Any, env: Mapping[str, str], path: str, findings: list[Finding], unset_allowed: UnsetAllowed) -> Any:
    if isinstance(data, str):
        return _substitute(data, env, path, findings, unset_allowed(path))
    if isinstance(data, dict):
        return {key: _walk(value, env, join_path(path, key), findings, unset_allowed) for key, value in data.items()}
    if isinstance(data, list):
        return [_walk(value, env, join_path(path, index), findings, unset_allowed) for index, value in enumerate(data)]
    return data


def _substitute(text: str, env: Mapping[str, str], path: str, findings: list[Finding], unset_allowed: bool) -> str:
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
            if not unset_allowed:
                findings.append((path, f"environment variable {name} is not set and has no default"))
            return match.group(0)
        if is_secret_variable(name):
            register_secret(value)
        return value

    return _REFERENCE.sub(replace, text)
