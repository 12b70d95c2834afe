"""Problems found in a project file, reported all at once with file and dotted path.

Why one list instead of the first exception: a user fixing a project wants every mistake in one
pass, each pointing at a place (``incoming.models.subscriber.entity``) they can find in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from alumio_mistral.errors import AlumioError
from alumio_mistral.secrets import redact

#: a problem before it is tied to a file: (dotted path, message)
Finding = tuple[str, str]

#: marshmallow's key for errors of a whole object rather than one of its fields
_SCHEMA_KEY = "_schema"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a project file. ``line`` is known for YAML files only.

    Its text forms redact the message only (it may echo a value from the file); the path is made
    of key names, and redacting it would mask harmless text like ``api_key: missing``.
    """

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(top level)'}: {redact(self.message)}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record; the message is redacted as in ``str``."""
        return {"file": self.file, "path": self.path, "message": redact(self.message), "line": self.line}


class ConfigError(AlumioError):
    """A project file that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def join_path(prefix: str, key: object) -> str:
    """Append one key (a name or a list index) to a dotted path."""
    return f"{prefix}.{key}" if prefix else str(key)


def flatten_messages(messages: Any, prefix: str = "") -> Iterator[Finding]:
    """Turn marshmallow's nested ``ValidationError.messages`` into (dotted path, message) pairs."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = prefix if key == _SCHEMA_KEY else join_path(prefix, key)
            yield from flatten_messages(value, path)
    elif isinstance(messages, (list, tuple)):
        for message in messages:
            yield from flatten_messages(message, prefix)
    else:
        yield prefix, str(messages)
