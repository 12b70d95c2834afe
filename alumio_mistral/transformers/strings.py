"""String transformers: trim, case, replace, regex-replace, split, join, template, truncate.

Each changes the text at ``path`` (every match), or writes the result at ``to`` when given.
Null stays null; any other non-text value is an error naming its type.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import MISSING, Constant, Pattern, compile_template, to_text, type_name
from alumio_mistral.transformers.registry import (
    PatternField,
    RegexField,
    StepParams,
    SubstitutionParams,
    Transformer,
    register,
)


class _StringParams(StepParams):
    path = PatternField(required=True)
    to = PatternField()


class _StringTransformer(Transformer):
    """Changes the text at ``path`` (every match), or writes the result at ``to`` when given."""

    expects: type = str

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.pattern = self.path.text
        self.to: Pattern | None = params.get("to")
        self.apply = self.path.updater(self.checked) if self.to is None else self._write_to  # type: ignore[method-assign]

    def change(self, value: Any) -> Any:
        raise NotImplementedError

    def checked(self, value: Any) -> Any:
        if value is None:
            return None
        if type(value) is not self.expects:
            wanted = "a string" if self.expects is str else "a list"
            raise StepFailure(f"expects {wanted}, got {type_name(value)}", self.path.text)
        return self.change(value)

    def _write_to(self, entity: Any) -> Any:
        value = self.path.get(entity)
        return entity if value is MISSING else self.to.set(entity, self.checked(value))  # type: ignore[union-attr]


@register
class Trim(_StringTransformer):
    """Strip whitespace (or the given ``chars``) from both ends (``side``: both, left, right)."""

    type_name = "trim"
    example = {"type": "trim", "path": "name"}

    class Params(_StringParams):
        chars = fields.String()
        side = fields.String(load_default="both", validate=validate.OneOf(["both", "left", "right"]))

    def change(self, value: str) -> str:
        chars = self.params.get("chars")
        side = self.params["side"]
        if side == "left":
            return value.lstrip(chars)
        if side == "right":
            return value.rstrip(chars)
        return value.strip(chars)


@register
class Case(_StringTransformer):
    """Change letter ``case``: upper, lower, title, capitalize."""

    type_name = "case"
    example = {"type": "case", "path": "country", "case": "upper"}

    class Params(_StringParams):
        to_case = fields.String(
            required=True, data_key="case", validate=validate.OneOf(["upper", "lower", "title", "capitalize"])
        )

    def change(self, value: str) -> str:
        return getattr(value, self.params["to_case"])()  # type: ignore[no-any-return]


@register
class Replace(_StringTransformer):
    """Replace every occurrence of ``old`` by ``new`` (plain text)."""

    type_name = "replace"
    example = {"type": "replace", "path": "subject", "old": "Re: ", "new": ""}

    class Params(_StringParams):
        old = fields.String(required=True, validate=validate.Length(min=1))
        new = fields.String(required=True)

    def change(self, value: str) -> str:
        return value.replace(self.params["old"], self.params["new"])


@register
class RegexReplace(_StringTransformer):
    """Replace matches of the regular expression ``pattern`` by ``replace`` (``\\1`` groups);
    ``count`` limits how many (0 = all). Patterns use RE2, which matches in linear time: no
    backreferences or lookarounds, and no pattern can stall a run (``^(a+)+$`` included)."""

    type_name = "regex-replace"
    example = {"type": "regex-replace", "path": "phone", "pattern": "[^0-9+]", "replace": ""}

    class Params(_StringParams, SubstitutionParams):
        regex = RegexField(required=True, data_key="pattern")
        replace = fields.String(required=True)
        count = fields.Integer(load_default=0, validate=validate.Range(min=0))

    def change(self, value: str) -> str:
        return self.params["substitute"](value, self.params["count"])  # type: ignore[no-any-return]


@register
class Split(_StringTransformer):
    """Split text into a list on ``separator`` (default: runs of whitespace), at most ``limit`` times
    (-1: no limit)."""

    type_name = "split"
    example = {"type": "split", "path": "tags", "separator": ","}

    class Params(_StringParams):
        separator = fields.String(validate=validate.Length(min=1))
        limit = fields.Integer(load_default=-1, validate=validate.Range(min=-1))

    def change(self, value: str) -> list[str]:
        return value.split(self.params.get("separator"), self.params["limit"])


@register
class Join(_StringTransformer):
    """Join a list into text with ``separator``; items that are not text are written as JSON."""

    type_name = "join"
    example = {"type": "join", "path": "tags", "separator": ", "}
    expects = list

    class Params(_StringParams):
        separator = fields.String(load_default="")

    def change(self, value: list[Any]) -> str:
        return self.params["separator"].join(to_text(item) for item in value)


@register
class Truncate(_StringTransformer):
    """Cut text to at most ``length`` characters, ending with ``ellipsis`` when cut."""

    type_name = "truncate"
    example = {"type": "truncate", "path": "summary", "length": 200, "ellipsis": "..."}

    class Params(_StringParams):
        length = fields.Integer(required=True, validate=validate.Range(min=0))
        ellipsis = fields.String(load_default="")

    def change(self, value: str) -> str:
        length, ellipsis = self.params["length"], self.params["ellipsis"]
        if len(value) <= length:
            return value
        return value[: max(length - len(ellipsis), 0)] + ellipsis[:length]


class _TemplateField(fields.Field):
    """Text with placeholders, compiled at load."""

    reference_kind = "template (text with &{placeholders})"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("expects a text template")
        text = value
        try:
            template = compile_template(text, as_text=True)
        except ValueError as error:
            raise ValidationError(str(error)) from None
        return template or Constant(text)


@register
class Template(Transformer):
    """Write text built from ``template`` (``"Ticket &{id}: &{subject}"``) at ``to``; values
    that are not text are written as JSON, null as empty text."""

    type_name = "template"
    example = {"type": "template", "to": "prompt", "template": "Label this ticket: &{subject}"}

    class Params(StepParams):
        to = PatternField(required=True)
        template = _TemplateField(required=True)

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.to: Pattern = params["to"]
        self.render = params["template"]
        self.apply = self.to.writer(self.render)  # type: ignore[method-assign]
