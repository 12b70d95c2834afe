"""The marshmallow building blocks every declared schema uses beyond the stock ones.

Project files, subscriber and publisher kinds and transformer steps all declare their settings
as marshmallow schemas built from these, so every one of them refuses unknown keys and states
its ranges the same way. This module imports nothing of the project, so any layer may use it.

- :class:`StrictSchema` rejects unknown keys and says which keys were expected;
- :class:`NamedMapping` holds user-named objects (``incoming: {models: {...}}``) and keeps the
  objects that validated, so cross-reference checks still run when a sibling is broken;
- :class:`TypedNested` picks a schema by ``type`` (subscribers, publishers). Written here rather
  than taken from ``marshmallow-oneofschema`` because that package reports a failing object as a
  flat list and drops its valid part, while we need nested per-field messages and partial data;
- :func:`bounded_int` and :func:`bounded_float` declare the range of every numeric setting, so
  ``read_timeout: 1e300`` or ``concurrency: 2.5`` is a problem at load time, not a hang or a
  silent truncation at run time.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Callable, Iterable, Mapping

from marshmallow import RAISE, Schema, ValidationError, fields
from marshmallow.validate import Range

#: what a user-chosen name may look like (no dots: they separate the parts of a dotted path)
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_/-]*")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class StrictSchema(Schema):
    """A schema that refuses unknown keys, naming the keys it does know."""

    class Meta:
        unknown = RAISE

    error_messages = {"type": "expected a mapping of keys to values"}

    def handle_error(self, error: ValidationError, data: Any, *, many: bool, **kwargs: Any) -> None:
        if not isinstance(error.messages, dict):
            return
        known = sorted(field.data_key or name for name, field in self.load_fields.items())
        for key, messages in error.messages.items():
            if messages == [self.error_messages["unknown"]]:
                error.messages[key] = [
                    f"unknown key{did_you_mean(str(key), known)}; expected one of: {', '.join(known)}"
                ]


class WholeNumber(fields.Integer):
    """An integer that refuses a fraction: marshmallow's own turns ``2.5`` into ``2`` silently."""

    default_error_messages = {"invalid": "expected a whole number"}

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return super()._validated(value)


def bounded_int(low: int, high: int, **kwargs: Any) -> fields.Integer:
    """A whole number from ``low`` to ``high`` inclusive."""
    return WholeNumber(validate=Range(low, high, error="must be from {min} to {max}, got {input}"), **kwargs)


def bounded_float(low: float, high: float, *, above_low: bool = False, **kwargs: Any) -> fields.Float:
    """A number from ``low`` (or, with ``above_low``, above it) to ``high`` inclusive."""
    error = "must be above {min} and at most {max}, got {input}" if above_low else "must be from {min} to {max}, got {input}"
    return fields.Float(validate=Range(low, high, min_inclusive=not above_low, error=error), **kwargs)


class NamedMapping(fields.Field):
    """A mapping of names to values of one field; a missing or empty mapping means no entries."""

    def __init__(self, inner: fields.Field, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", dict)
        super().__init__(**kwargs)
        self.inner = inner

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        return {} if value is None else super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping of names, got {type(value).__name__}")
        valid: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, item in value.items():
            if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
                errors[str(name)] = ["invalid name: use letters, digits, '_', '-' or '/' (no dots or spaces)"]
                continue
            try:
                valid[name] = self.inner.deserialize(item)
            except ValidationError as error:
                errors[name] = error.messages
                if isinstance(error.valid_data, dict):
                    valid[name] = error.valid_data
        if errors:
            raise ValidationError(errors, valid_data=valid)
        return valid


class TypedNested(fields.Field):
    """An object whose schema is chosen by its ``type`` key (or inferred from its other keys)."""

    def __init__(
        self,
        schemas: Mapping[str, type[Schema]],
        *,
        infer: Callable[[Mapping[str, Any]], str | None] = lambda value: None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schemas = schemas
        self.infer = infer

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a mapping with a type, got {type(value).__name__}")
        kind = value.get("type") or self.infer(value)
        choices = ", ".join(self.schemas)
        if kind is None:
            raise ValidationError({"type": [f"missing; one of: {choices}"]})
        if not isinstance(kind, str):
            raise ValidationError({"type": [f"expected one name, got {type(kind).__name__}; one of: {choices}"]})
        if kind not in self.schemas:
            raise ValidationError({"type": [f"unknown type {kind!r}{did_you_mean(str(kind), self.schemas)}; one of: {choices}"]})
        try:
            return self.schemas[kind]().load({**value, "type": kind})
        except ValidationError as error:
            partial = error.valid_data if isinstance(error.valid_data, dict) else {}
            raise ValidationError(error.messages, valid_data={**partial, "type": kind}) from error


#: largest page size and count a setting may ask for: past them a value is a mistake, not a choice
MAX_PAGE_SIZE = 10_000
MAX_COUNT = 1_000_000_000
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


class TypedSchema(StrictSchema):
    """Settings of one kind of part (a subscriber, a publisher), chosen by their ``type``."""

    type = fields.String(required=True)


class HttpMethod(fields.String):
    """An HTTP method, written in any case and kept upper-case."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        method = super()._deserialize(value, attr, data, **kwargs).upper()
        if method not in HTTP_METHODS:
            raise ValidationError(f"expected one of: {', '.join(HTTP_METHODS)}")
        return method
