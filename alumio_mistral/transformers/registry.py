"""The transformer base class, the marshmallow fields its parameters use, and the type registry.

Every transformer declares its parameters as a marshmallow schema (unknown keys refused), so a
bad step fails at load time with the same kind of message whatever its type.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol

from marshmallow import Schema, ValidationError, fields, post_load

from alumio_mistral.schema import StrictSchema
from alumio_mistral.transformers.conditions import Condition, ConditionError, compile_condition
from alumio_mistral.transformers.patterns import Evaluator, Pattern, PatternError, compile_pattern, compile_value
from alumio_mistral.transformers.regex import RegexError, compile_regex, compile_substitution

if TYPE_CHECKING:
    from alumio_mistral.transformers.context import TransformContext

#: modules holding the transformer types; imported on first use so each registers its types
FAMILIES = ("fields", "values", "strings", "dates", "flow", "validate", "storage", "http_enrich")


class CompiledSteps(Protocol):
    """What a step holding nested steps uses of them (a compiled
    :class:`~alumio_mistral.transformers.pipeline.Pipeline`; a protocol, so that this module
    and the compiler need not import each other)."""

    steps: list[Transformer]
    #: one record in, one out, when every nested step gives one for one (else None)
    transform: Callable[[Any], Any] | None

    def run_owned(self, record: Any) -> list[Any]: ...


class Compiler(Protocol):
    """What a transformer may ask of the pipeline compiler (nested pipelines, named ones)."""

    source: str
    context: TransformContext

    def compile(self, steps: Any, where: str) -> CompiledSteps: ...

    def use(self, name: str, arguments: dict[str, Any], where: str) -> CompiledSteps: ...


class PatternField(fields.Field):
    """A path parsed once into a :class:`Pattern`."""

    reference_kind = "pattern"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Pattern:
        if not isinstance(value, str):
            raise ValidationError("expects a pattern string")
        try:
            return compile_pattern(value)
        except PatternError as error:
            raise ValidationError(str(error)) from None


class ValueField(fields.Field):
    """Any value; strings with ``&{...}`` placeholders are filled per entity."""

    reference_kind = "value (placeholders filled)"

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None:  # marshmallow would return a bare None; a null is a constant like any other
            return compile_value(None)
        return super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Evaluator:
        try:
            return compile_value(value)
        except PatternError as error:
            raise ValidationError(str(error)) from None


class ConditionField(fields.Field):
    """A condition mapping compiled into a predicate."""

    reference_kind = "condition"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Condition:
        try:
            return compile_condition(value)
        except ConditionError as error:
            raise ValidationError({error.path: [str(error)]} if error.path else str(error)) from None


class RegexField(fields.Field):
    """A regular expression compiled once with RE2, which matches in linear time (see
    :mod:`alumio_mistral.transformers.regex`); backreferences and lookarounds are refused."""

    reference_kind = "regular expression (RE2)"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise ValidationError("expects a regular expression string")
        try:
            return compile_regex(value)
        except RegexError as error:
            raise ValidationError(str(error)) from None


class StepsField(fields.Field):
    """A nested list of steps, compiled by the transformer itself (it knows its dotted path)."""

    reference_kind = "steps"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValidationError("expects a list of steps")
        return value


def read(pattern: Pattern, entity: Any) -> Any:
    """A plain path's value (or MISSING); a jsonpath's list of matches (possibly empty)."""
    return pattern.get(entity) if pattern.segments is not None else pattern.find(entity)


class StepParams(StrictSchema):
    """Base of every parameter schema: an unknown key is an error that lists the valid ones."""


class SubstitutionParams(StepParams):
    """A ``regex`` (a :class:`RegexField`) and its ``replace`` text, loaded into one
    ``substitute`` function; a replacement naming a group the pattern lacks is reported
    under ``replace`` when the project is loaded, not per entity."""

    @post_load
    def _substitution(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        try:
            data["substitute"] = compile_substitution(data["regex"].pattern, data["replace"])
        except RegexError as error:
            raise ValidationError({"replace": [str(error)]}) from None
        return data


class Transformer:
    """One step. Subclasses set ``type_name``, ``Params`` and implement the method of their mode.

    ``mode`` says how the pipeline calls it: "one" (``apply``: entity -> entity), "many"
    (``apply_many``: entity -> list, for branches), "all" (``apply_all``: the pipeline's current
    entities -> list, for merge) or "drop" (``drops``: entity -> whether to drop it, for filters).
    Entities handed to them are owned by the pipeline: transformers may change them in place.
    A step whose paths allow it binds ``apply`` in ``__init__`` to a closure with its paths
    resolved (:meth:`Pattern.writer`, :meth:`Pattern.updater`), saving calls on every entity.
    """

    type_name: ClassVar[str]
    #: one step as a project file writes it: the reference shows it and a test compiles it
    example: ClassVar[dict[str, Any]]
    Params: ClassVar[type[Schema]]
    mode: ClassVar[str] = "one"

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        self.params = params
        first = params.get("path") or params.get("to") or params.get("source")
        #: the pattern named in runtime errors
        self.pattern: str | None = first.text if isinstance(first, Pattern) else None

    def apply(self, entity: Any) -> Any:
        raise NotImplementedError(self.type_name)

    def apply_many(self, entity: Any) -> list[Any]:
        return [self.apply(entity)]

    def apply_all(self, entities: list[Any]) -> list[Any]:
        return [result for entity in entities for result in self.apply_many(entity)]


REGISTRY: dict[str, type[Transformer]] = {}


def register(cls: type[Transformer]) -> type[Transformer]:
    """Class decorator adding a transformer type to the registry."""
    REGISTRY[cls.type_name] = cls
    return cls


def transformer_types() -> dict[str, type[Transformer]]:
    """Every transformer type by name (importing the family modules once)."""
    for family in FAMILIES:
        importlib.import_module(f"alumio_mistral.transformers.{family}")
    return REGISTRY
