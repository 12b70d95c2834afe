"""Validate transformer: a field list, built into a marshmallow schema, checked per entity.

Fields are named by dotted paths (``customer.email``); each says its ``type`` and optional
rules. A failure names every failing field; ``on_failure: skip`` drops the entity instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from alumio_mistral.transformers.errors import StepFailure, flatten_messages
from alumio_mistral.transformers.patterns import type_name
from alumio_mistral.transformers.registry import RegexField, StepParams, Transformer, register

KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "list": (list,),
    "date": (str,),
    "any": (object,),
}


class _Kind(fields.Field):
    """Accepts a value of one JSON type, unchanged (validation only, no coercion)."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        allowed = KINDS[self.kind]
        if not isinstance(value, allowed) or (type(value) is bool and bool not in allowed and self.kind != "any"):
            raise ValidationError(f"expects {self.kind}, got {type_name(value)}")
        if self.kind == "date":
            try:
                datetime.fromisoformat(str(value))
            except ValueError:
                raise ValidationError(f"expects an ISO-8601 date, got {value!r}") from None
        return value


class _Rule(StepParams):
    kind = fields.String(data_key="type", load_default="any", validate=validate.OneOf(sorted(KINDS)))
    required = fields.Boolean(load_default=False)
    allow_null = fields.Boolean(load_default=False)
    one_of = fields.List(fields.Raw(allow_none=True))
    min = fields.Float()
    max = fields.Float()
    min_length = fields.Integer(validate=validate.Range(min=0))
    max_length = fields.Integer(validate=validate.Range(min=0))
    regex = RegexField(data_key="pattern")


def _field(rule: dict[str, Any]) -> fields.Field:
    validators: list[Any] = []
    if "one_of" in rule:
        validators.append(validate.OneOf(rule["one_of"]))
    if "min" in rule or "max" in rule:
        validators.append(validate.Range(min=rule.get("min"), max=rule.get("max")))
    if "min_length" in rule or "max_length" in rule:
        validators.append(validate.Length(min=rule.get("min_length"), max=rule.get("max_length")))
    if "regex" in rule:
        validators.append(validate.Regexp(rule["regex"]))
    return _Kind(rule["kind"], required=rule["required"], allow_none=rule["allow_null"], validate=validators)


def build_schema(rules: dict[str, dict[str, Any]]) -> Schema:
    """A marshmallow schema for dotted field names (nested objects built as needed)."""
    tree: dict[str, Any] = {}
    for name, rule in rules.items():
        *parents, leaf = name.split(".")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = rule

    def schema_for(node: dict[str, Any]) -> Schema:
        members: dict[str, fields.Field] = {}
        for key, item in node.items():
            if "kind" in item and isinstance(item.get("kind"), str):
                members[key] = _field(item)
            else:
                nested = schema_for(item)
                required = any(field.required for field in nested.fields.values())
                members[key] = fields.Nested(nested, required=required)
        return Schema.from_dict(members)(unknown=INCLUDE)

    return schema_for(tree)


@register
class Validate(Transformer):
    """Check the entity against ``fields`` ({name: {type, required, allow_null, one_of, min, max,
    min_length, max_length, pattern}}); fail naming each bad field, or skip (``on_failure``: skip).
    ``pattern`` must match at the start of the text, in RE2 syntax (linear time)."""

    type_name = "validate"
    example = {"type": "validate", "fields": {"email": {"required": True, "pattern": "^[^@]+@[^@]+$"}}}
    mode = "many"

    class Params(StepParams):
        rules = fields.Dict(keys=fields.String(), values=fields.Nested(_Rule), required=True, data_key="fields")
        on_failure = fields.String(load_default="fail", validate=validate.OneOf(["fail", "skip"]))

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.schema = build_schema(params["rules"])
        self.skip = params["on_failure"] == "skip"
        self.pattern = ", ".join(params["rules"])

    def apply_many(self, entity: Any) -> list[Any]:
        if type(entity) is not dict:
            if self.skip:
                return []
            raise StepFailure(f"expects an object, got {type_name(entity)}")
        try:
            self.schema.load(entity)
        except ValidationError as error:
            if self.skip:
                return []
            problems = "; ".join(f"field {path!r}: {message}" for path, message in flatten_messages(error.messages, ""))
            raise StepFailure(problems) from None
        return [entity]
