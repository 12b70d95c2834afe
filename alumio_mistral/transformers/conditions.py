"""A small declarative condition language (no eval): comparisons on a pattern's value, combined.

Forms::

    {path: status, equals: open}          # one operator per comparison
    {all: [...]}, {any: [...]}, {not: {...}}

Operators: equals, not_equals, gt, gte, lt, lte, in, contains, matches (a regex searched anywhere
in the text, in RE2 syntax: linear time, no backreferences or lookarounds), exists, empty,
type (string, number, integer, boolean, object, list, null).
A missing path never raises: it is not equal to anything, does not exist and is empty. Ordering
operators on values of different kinds (a string against a number) are simply false.
"""

from __future__ import annotations

import operator as _operator
from typing import Any, Callable

from alumio_mistral.transformers.patterns import MISSING, PatternError, compile_pattern, compile_value
from alumio_mistral.transformers.regex import RegexError, compile_regex

Condition = Callable[[Any], bool]

OPERATORS = ("equals", "not_equals", "gt", "gte", "lt", "lte", "in", "contains", "matches", "exists", "empty", "type")

#: JSON type names for the ``type`` operator
TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
    "list": (list,),
    "null": (type(None),),
}


class ConditionError(ValueError):
    """A condition that cannot be compiled; ``path`` is relative to the condition (``all[1].gt``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


_NUMBERS = (int, float)
_ORDERS = {"gt": _operator.gt, "gte": _operator.ge, "lt": _operator.lt, "lte": _operator.le}


def _comparable(left: Any, right: Any) -> bool:
    """Two numbers (booleans are not) or two texts: what an order comparison accepts."""
    return (type(left) in _NUMBERS and type(right) in _NUMBERS) or (type(left) is str and type(right) is str)


def is_empty(value: Any) -> bool:
    """Missing, null, "", [] and {} are empty; 0 and false are values."""
    return value is MISSING or value is None or (type(value) in (str, list, dict) and not value)


def _equal(value: Any, expected: Any) -> bool:
    """JSON equality: true is not 1, a missing value equals nothing."""
    if value is MISSING:
        return False
    if type(value) is bool or type(expected) is bool:
        return value is expected
    return bool(value == expected)


def _contains(value: Any, item: Any) -> bool:
    if type(value) is str:
        return type(item) is str and item in value
    if type(value) in (list, dict):
        try:
            return item in value
        except TypeError:  # an unhashable item tested against object keys
            return False
    return False


def _compare(operator: str, operand: Any, path: str) -> Callable[[Any, Any], bool]:
    if operator == "equals":
        return _equal
    if operator == "not_equals":
        return lambda value, expected: not _equal(value, expected)
    if operator in ("gt", "gte", "lt", "lte"):
        order = _ORDERS[operator]
        return lambda value, expected: _comparable(value, expected) and order(value, expected)
    if operator == "in":
        if not isinstance(operand, list):
            raise ConditionError(path, "expects a list of values")
        return lambda value, expected: any(_equal(value, item) for item in expected)
    if operator == "contains":
        return lambda value, expected: _contains(value, expected)
    if operator == "matches":
        if not isinstance(operand, str):
            raise ConditionError(path, "expects a regular expression string")
        try:
            regex = compile_regex(operand)
        except RegexError as error:
            raise ConditionError(path, str(error)) from None
        return lambda value, _expected: type(value) is str and regex.search(value) is not None
    if operator in ("exists", "empty"):
        if not isinstance(operand, bool):
            raise ConditionError(path, "expects true or false")
        if operator == "exists":
            return lambda value, expected: (value is not MISSING) is expected
        return lambda value, expected: is_empty(value) is expected
    if operator == "type":
        if operand not in TYPES:
            raise ConditionError(path, f"expects one of {', '.join(TYPES)}")
        kinds = TYPES[operand]
        return lambda value, _expected: type(value) in kinds
    raise AssertionError(operator)


def _against_constant(operator: str, operand: Any, get: Callable[[Any], Any]) -> Condition | None:
    """The usual comparisons with a constant (``{path: amount, gt: 100}``) as one expression:
    what :func:`_equal` and :func:`_comparable` decide, with the operand's type known now."""
    if type(operand) is bool or operand is None:
        return None
    if operator in ("equals", "not_equals"):
        # a boolean value is never equal to a constant that is not one; MISSING equals nothing
        if operator == "equals":
            return lambda doc: type(value := get(doc)) is not bool and value is not MISSING and value == operand
        return lambda doc: not (type(value := get(doc)) is not bool and value is not MISSING and value == operand)
    if operator in _ORDERS:
        order = _ORDERS[operator]
        kinds = _NUMBERS if type(operand) in _NUMBERS else (str,) if type(operand) is str else None
        if kinds is None:
            return None
        return lambda doc: type(value := get(doc)) in kinds and order(value, operand)
    return None


def compile_condition(spec: Any, path: str = "") -> Condition:
    """Compile a condition mapping into a predicate over a document."""

    def at(suffix: str) -> str:
        return f"{path}.{suffix}" if path else suffix

    if not isinstance(spec, dict):
        raise ConditionError(path, "a condition must be a mapping")
    for combinator in ("all", "any"):
        if combinator in spec:
            if len(spec) != 1:
                raise ConditionError(path, f"{combinator!r} cannot be mixed with other keys")
            members = spec[combinator]
            if not isinstance(members, list) or not members:
                raise ConditionError(at(combinator), "expects a non-empty list of conditions")
            parts = [compile_condition(member, f"{at(combinator)}[{index}]") for index, member in enumerate(members)]
            if combinator == "all":
                return lambda doc: all(part(doc) for part in parts)
            return lambda doc: any(part(doc) for part in parts)
    if "not" in spec:
        if len(spec) != 1:
            raise ConditionError(path, "'not' cannot be mixed with other keys")
        inner = compile_condition(spec["not"], at("not"))
        return lambda doc: not inner(doc)
    unknown = sorted(set(spec) - {"path", *OPERATORS})
    if unknown:
        raise ConditionError(
            at(unknown[0]), f"unknown condition key (operators: {', '.join(OPERATORS)}; " "combinators: all, any, not)"
        )
    operators = [key for key in spec if key in OPERATORS]
    if len(operators) != 1:
        raise ConditionError(path, f"give exactly one operator ({', '.join(OPERATORS)})")
    text = spec.get("path", "@")
    if not isinstance(text, str):
        raise ConditionError(at("path"), "expects a pattern string")
    try:
        pattern = compile_pattern(text)
    except PatternError as error:
        raise ConditionError(at("path"), str(error)) from None
    operator = operators[0]
    operand = spec[operator]
    compare = _compare(operator, operand, at(operator))
    if operand is None or isinstance(operand, (bool, int, float)) or (isinstance(operand, str) and "&{" not in operand):
        return _against_constant(operator, operand, pattern.get) or (lambda doc: compare(pattern.get(doc), operand))
    try:
        expected = compile_value(operand)
    except PatternError as error:
        raise ConditionError(at(operator), str(error)) from None
    return lambda doc: compare(pattern.get(doc), expected(doc))
