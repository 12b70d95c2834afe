"""Errors of the transformer engine: one for bad configuration, one for a failing entity.

They are separate because they happen at different times and are handled differently: a
configuration error stops loading (all problems listed at once), a runtime error fails one
entity and lets the others go on.
"""

from __future__ import annotations

from typing import Any

from alumio_mistral.errors import AlumioError


class TransformConfigError(AlumioError):
    """A pipeline that cannot be compiled; each problem names its file and dotted path."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{source}: {path}: {message}" for source, path, message in problems))

    @classmethod
    def one(cls, source: str, path: str, message: str) -> TransformConfigError:
        return cls([(source, path, message)])


class TransformError(AlumioError):
    """A step failed on one entity; names the pipeline, step index and type, and the pattern."""

    def __init__(
        self,
        message: str,
        *,
        pipeline: str,
        index: int,
        step_type: str,
        pattern: str | None = None,
        unexpected: bool = False,
    ) -> None:
        self.reason = message
        self.pipeline = pipeline
        self.index = index
        self.step_type = step_type
        self.pattern = pattern
        #: True when the cause was not a failure a transformer anticipated (a bug to report).
        self.unexpected = unexpected
        where = f"pattern {pattern!r}, " if pattern else ""
        super().__init__(f"{pipeline}[{index}] ({step_type}, {where}step {index + 1}): {message}")


class StepFailure(Exception):
    """Raised by a transformer about the entity in hand; the pipeline turns it into a TransformError."""

    def __init__(self, message: str, pattern: str | None = None) -> None:
        super().__init__(message)
        self.pattern = pattern


def flatten_messages(messages: Any, prefix: str) -> list[tuple[str, str]]:
    """Turn marshmallow's nested messages into (dotted path, message) pairs."""
    if isinstance(messages, dict):
        pairs = []
        for key, inner in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            pairs.extend(flatten_messages(inner, path))
        return pairs
    if isinstance(messages, list):
        return [pair for message in messages for pair in flatten_messages(message, prefix)]
    return [(prefix, str(messages))]
