"""Date transformer: parse and format between ISO-8601, Unix seconds and milliseconds, add intervals.

Times are normalised to UTC (a text without an offset is read as UTC), so the same instant always
prints the same way, which keeps hashes and de-duplication stable.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import Pattern, type_name
from alumio_mistral.transformers.registry import StepParams, PatternField, Transformer, register

INPUTS = ("auto", "iso", "unix", "unix_ms")
OUTPUTS = ("iso", "date", "unix", "unix_ms")
UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def _from_number(value: Any, scale: float) -> datetime:
    if type(value) is str:
        value = float(value.strip())
    if type(value) not in (int, float):
        raise ValueError(f"expects a number of seconds, got {type_name(value)}")
    return datetime.fromtimestamp(value / scale, tz=timezone.utc)


def parse(value: Any, style: str = "auto", text_format: str | None = None) -> datetime:
    """Read a point in time; ValueError/OverflowError/OSError for what is not one."""
    if style == "unix" or (style == "auto" and type(value) in (int, float)):
        return _from_number(value, 1)
    if style == "unix_ms":
        return _from_number(value, 1000)
    if type(value) is not str:
        raise ValueError(f"expects a date text, got {type_name(value)}")
    moment = datetime.strptime(value, text_format) if text_format else datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def render(moment: datetime, style: str = "iso", text_format: str | None = None) -> Any:
    """Write a point in time in ``style`` (or with a strftime ``text_format``)."""
    if text_format:
        return moment.strftime(text_format)
    if style == "unix":
        seconds = moment.timestamp()
        return int(seconds) if seconds.is_integer() else seconds
    if style == "unix_ms":
        return round(moment.timestamp() * 1000)
    if style == "date":
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def to_iso(value: Any) -> str:
    """ISO-8601 text from ISO text or Unix seconds (the ``cast ... to: date`` conversion)."""
    try:
        return render(parse(value))
    except (OverflowError, OSError) as error:
        raise ValueError(f"out of range: {error}") from None


@register
class DateTransformer(Transformer):
    """Re-write the date(s) at ``path``: read as ``from`` (auto, iso, unix, unix_ms, or
    ``from_format`` strptime), shift by ``add`` ({days: 1, hours: -2}), write as ``to`` (iso,
    date, unix, unix_ms, or ``format`` strftime). Null stays null."""

    type_name = "date"
    example = {"type": "date", "path": "created", "from": "unix", "to": "iso"}

    class Params(StepParams):
        path = PatternField(required=True)
        source = fields.String(data_key="from", load_default="auto", validate=validate.OneOf(INPUTS))
        from_format = fields.String()
        to = fields.String(load_default="iso", validate=validate.OneOf(OUTPUTS))
        format = fields.String()
        add = fields.Dict(keys=fields.String(validate=validate.OneOf(UNITS)), values=fields.Float(allow_nan=False))

        @validates_schema
        def _interval(self, data: dict[str, Any], **kwargs: Any) -> None:
            try:
                timedelta(**data.get("add", {}))
            except OverflowError as error:
                raise ValidationError({"add": [f"interval out of range: {error}"]}) from None

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.source = params["source"]
        self.from_format = params.get("from_format")
        self.target = params["to"]
        self.format = params.get("format")
        self.shift = timedelta(**params["add"]) if params.get("add") else None
        self.apply = self.path.updater(self.convert)  # type: ignore[method-assign]

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            moment = parse(value, self.source, self.from_format)
            if self.shift is not None:
                moment = moment + self.shift
            return render(moment, self.target, self.format)
        except (ValueError, OverflowError, OSError) as error:
            raise StepFailure(f"cannot convert date {value!r}: {error}", self.path.text) from None
