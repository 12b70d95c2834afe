"""Value transformers: value map, cast, coalesce, arithmetic, hash.

Transformers that change a value in place apply to every value their pattern matches; a pattern
that matches nothing means there is nothing to change (jsonpath semantics), and null stays null.
"""

from __future__ import annotations

import hashlib
import json
import math
from decimal import Decimal
from typing import Any, Callable

from marshmallow import ValidationError, fields, validate, validates_schema

from alumio_mistral.transformers.dates import to_iso
from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import MISSING, Pattern, clone, to_text, type_name
from alumio_mistral.transformers.registry import StepParams, PatternField, Transformer, ValueField, read, register


def _lookup_key(value: Any) -> str | None:
    """Map keys and values compared as text, so YAML key ``1`` matches 1 and "1"."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is float:
        return repr(value)  # what JSON writes for finite numbers, without the encoder's overhead
    if value is None or kind is bool:
        return json.dumps(value)
    return None


@register
class MapValue(Transformer):
    """Replace the value at ``path`` by its entry in ``map``; values not in the table become
    ``default`` when one is given, else stay. ``to`` writes the result elsewhere."""

    type_name = "map"
    example = {"type": "map", "path": "status", "map": {"o": "open", "c": "closed"}, "default": "unknown"}

    class Params(StepParams):
        path = PatternField(required=True)
        map = fields.Dict(required=True)
        default = fields.Raw(allow_none=True)
        to = PatternField()

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.to: Pattern | None = params.get("to")
        self.table = {_lookup_key(key): value for key, value in params["map"].items()}
        self.has_default = "default" in params
        self.default = params.get("default")
        self.apply = self.path.updater(self.lookup) if self.to is None else self._map_to  # type: ignore[method-assign]

    def lookup(self, value: Any) -> Any:
        kind = type(value)
        key = value if kind is str else repr(value) if kind is int else _lookup_key(value)  # the usual two inline
        if key is not None and key in self.table:
            found = self.table[key]
        elif self.has_default:
            found = self.default
        else:
            return value
        return clone(found) if type(found) in (dict, list) else found

    def _map_to(self, entity: Any) -> Any:
        value = self.path.get(entity)
        return entity if value is MISSING else self.to.set(entity, self.lookup(value))  # type: ignore[union-attr]


def _finite(number: float, pattern: str | None) -> float:
    if isinstance(number, float) and not math.isfinite(number):
        raise StepFailure(f"result {number} is not a finite number", pattern)
    return number


def _to_integer(value: Any) -> int:
    if type(value) is bool:
        return int(value)
    if type(value) is int:
        return value
    if type(value) is float:
        if value.is_integer():
            return int(value)
        raise ValueError(f"{value} is not a whole number")
    if type(value) is str:
        number = _to_number(value)
        if type(number) is int:
            return number
        # the text's own digits: through a float, "12345678901234567.0" became ...568, and
        # "12345678901234567.4" passed for a whole number
        exact = Decimal(value.strip())
        if exact != exact.to_integral_value():
            raise ValueError(f"{value.strip()} is not a whole number")
        return int(exact)
    raise ValueError(f"cannot cast {type_name(value)} to integer")


def _to_number(value: Any) -> int | float:
    kind = type(value)
    if kind is int or kind is float:
        return value
    if kind is bool:
        return int(value)
    if kind is str:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            number = float(text)  # ValueError for non-numbers, reported by the caller
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    raise ValueError(f"cannot cast {type_name(value)} to number")


_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off", ""}


def _to_boolean(value: Any) -> bool:
    """Numbers: 0 is false, any other (negative ones too) true; NaN and Infinity are refused.
    Text: one of the words of ``_TRUE`` or ``_FALSE``, any case; other text is refused."""
    if type(value) is bool:
        return value
    if type(value) in (int, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is neither true nor false")
        return value != 0
    if type(value) is str and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(
        f"cannot cast {value!r} to boolean" if type(value) is str else f"cannot cast {type_name(value)} to boolean"
    )


def _reject_constant(text: str) -> Any:
    raise ValueError(f"{text} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e999 overflows to Infinity, which no JSON output can hold
        raise ValueError(f"{text} is too large for a number")
    return number


def _to_object(value: Any) -> Any:
    if type(value) is not str:
        return value  # already structured data
    try:
        return json.loads(value, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON text: {error}") from None


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


CASTS: dict[str, Callable[[Any], Any]] = {
    "string": to_text,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "object": _to_object,
    "json": _to_json,
    "date": to_iso,
}


@register
class Cast(Transformer):
    """Convert the value(s) at ``path`` to ``to``: string, integer, number, boolean, object (parse
    JSON text), json (write JSON text) or date (ISO-8601 from ISO text or Unix seconds).
    Boolean: 0 is false and any other number true (-1 too); text true/false, yes/no, y/n,
    on/off, 1/0 or empty. Numbers are finite: "nan", "inf" and 1e999 are refused."""

    type_name = "cast"
    example = {"type": "cast", "path": "quantity", "to": "integer"}

    class Params(StepParams):
        path = PatternField(required=True)
        to = fields.String(required=True, validate=validate.OneOf(sorted(CASTS)))

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.pattern = self.path.text
        self.target = params["to"]
        self.convert = CASTS[self.target]
        self.apply = self.path.updater(self.cast)  # type: ignore[method-assign]

    def cast(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.convert(value)
        except (ValueError, OverflowError) as error:
            raise StepFailure(f"cannot cast to {self.target}: {error}", self.path.text) from None


@register
class Coalesce(Transformer):
    """Write at ``to`` the first value among ``paths`` that exists and is not null, else ``default``."""

    type_name = "coalesce"
    example = {"type": "coalesce", "paths": ["nickname", "name"], "to": "display_name", "default": "unknown"}

    class Params(StepParams):
        paths = fields.List(PatternField(), required=True, validate=validate.Length(min=1))
        to = PatternField(required=True)
        default = ValueField(load_default=None, allow_none=True)

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.paths: list[Pattern] = params["paths"]
        self.to: Pattern = params["to"]
        self.default = params["default"]

    def apply(self, entity: Any) -> Any:
        for path in self.paths:
            value = path.get(entity)
            if value is not MISSING and value is not None:
                return self.to.set(entity, clone(value))
        return self.to.set(entity, None if self.default is None else self.default(entity))


def _divide(numbers: list[float]) -> float:
    result = numbers[0]
    for number in numbers[1:]:
        if number == 0:
            raise ValueError("division by zero")
        result = result / number
    return result


def _subtract(numbers: list[float]) -> float:
    return numbers[0] - sum(numbers[1:])


def _modulo(numbers: list[float]) -> float:
    if numbers[1] == 0:
        raise ValueError("modulo by zero")
    return numbers[0] % numbers[1]


#: operation -> (function, minimum operands, maximum operands or None)
OPERATIONS: dict[str, tuple[Callable[[list[Any]], Any], int, int | None]] = {
    "add": (sum, 1, None),
    "subtract": (_subtract, 2, None),
    "multiply": (math.prod, 1, None),
    "divide": (_divide, 2, None),
    "modulo": (_modulo, 2, 2),
    "min": (min, 1, None),
    "max": (max, 1, None),
    "abs": (lambda numbers: abs(numbers[0]), 1, 1),
    "floor": (lambda numbers: math.floor(numbers[0]), 1, 1),
    "ceil": (lambda numbers: math.ceil(numbers[0]), 1, 1),
    "round": (lambda numbers: numbers[0], 1, 1),
}


@register
class Arithmetic(Transformer):
    """Compute ``op`` over ``operands`` (numbers or placeholders like ``&{price}``) into ``to``.
    Operands must be numbers (cast text first); ``digits`` rounds the result."""

    type_name = "math"
    example = {"type": "math", "to": "total", "op": "multiply", "operands": ["&{price}", "&{quantity}"], "digits": 2}

    class Params(StepParams):
        to = PatternField(required=True)
        op = fields.String(required=True, validate=validate.OneOf(sorted(OPERATIONS)))
        operands = fields.List(ValueField(allow_none=True), required=True)
        digits = fields.Integer(validate=validate.Range(min=0, max=15))

        @validates_schema
        def _count(self, data: dict[str, Any], **kwargs: Any) -> None:
            if "op" not in data or "operands" not in data:
                return
            _, least, most = OPERATIONS[data["op"]]
            count = len(data["operands"])
            if count < least or (most is not None and count > most):
                wanted = f"{least}" if most == least else f"at least {least}" if most is None else f"{least}-{most}"
                raise ValidationError({"operands": [f"{data['op']} takes {wanted} operands, got {count}"]})

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.to: Pattern = params["to"]
        self.function = OPERATIONS[params["op"]][0]
        self.operands = params["operands"]
        self.digits = params.get("digits")

    def apply(self, entity: Any) -> Any:
        numbers = [operand(entity) for operand in self.operands]
        for position, number in enumerate(numbers, 1):
            if type(number) not in (int, float):
                raise StepFailure(
                    f"operand {position} is {type_name(number)}, not a number (cast it first)", self.to.text
                )
        try:
            result = self.function(numbers)
        except (ValueError, OverflowError) as error:
            raise StepFailure(str(error), self.to.text) from None
        if self.digits is not None:
            result = round(result, self.digits)
        return self.to.set(entity, _finite(result, self.to.text))


@register
class Hash(Transformer):
    """A stable id at ``to`` from ``fields``: a hash of their values as canonical JSON (missing = null),
    by ``algorithm`` (sha256, sha1, md5), cut to ``length`` characters when given."""

    type_name = "hash"
    example = {"type": "hash", "fields": ["email"], "to": "email_hash", "length": 16}

    class Params(StepParams):
        fields_ = fields.List(PatternField(), required=True, data_key="fields", validate=validate.Length(min=1))
        to = PatternField(required=True)
        algorithm = fields.String(load_default="sha256", validate=validate.OneOf(["sha256", "sha1", "md5"]))
        length = fields.Integer(validate=validate.Range(min=4))

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.sources: list[Pattern] = params["fields_"]
        self.to: Pattern = params["to"]
        self.algorithm = params["algorithm"]
        self.length = params.get("length")

    def apply(self, entity: Any) -> Any:
        values = [read(source, entity) for source in self.sources]
        canonical = json.dumps(
            [None if value is MISSING else value for value in values],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        digest = hashlib.new(self.algorithm, canonical.encode("utf-8"), usedforsecurity=False).hexdigest()
        return self.to.set(entity, digest[: self.length] if self.length else digest)
