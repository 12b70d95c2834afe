"""Patterns (paths into an entity) and ``&{...}`` placeholders, compiled once and reused.

Plain dotted paths (``messages[0].content``) are by far the most common, so they are split into
key/index segments and walked directly; anything richer (``$..id``, ``[*]``, filters) goes to
jsonpath-ng. Both are parsed once per distinct text (cached), never per entity. Regular
expressions inside a jsonpath (``[?name =~ "^a"]``, ``sub(/a/, b)``) run on RE2, as every
regular expression of a project does (see :mod:`alumio_mistral.transformers.regex`).
"""

from __future__ import annotations

import json
import operator
import re
from functools import lru_cache
from typing import Any, Callable, Iterator

from jsonpath_ng.ext import filter as jsonpath_filter
from jsonpath_ng.ext import parse as jsonpath_parse
from jsonpath_ng.ext.string import Sub as JsonpathSub
from jsonpath_ng.jsonpath import JSONPath

from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.regex import RegexError, Substitution, compile_regex, compile_substitution

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>", "__bool__": lambda self: False})()
"""Marks a path that matched nothing (distinct from a JSON null)."""

_KEY = r"[^.\[\]*?@$()'\"\s]+"
_INDEX = r"\[-?\d+\]"
# each key ends where a dot or a bracket starts, so a text is split one way only (no backtracking)
_PLAIN = re.compile(rf"^(?:[$@]\.?)?(?:(?:{_KEY}|{_INDEX})(?:\.{_KEY}|\.?{_INDEX})*)?$")
_PART = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")
_PLACEHOLDER = re.compile(r"&\{([^{}|]*)(?:\|([^{}]*))?\}")


class PatternError(ValueError):
    """A pattern text that is not a valid path (raised at compile time)."""


def clone(value: Any) -> Any:
    """Deep-copy JSON-like data (faster than copy.deepcopy, which tracks cycles we never have)."""
    kind = type(value)
    if kind is dict:
        # copied whole in C, then only the containers in it copied again: most values are scalars.
        # An object inside is copied here too, without a call: records are mostly objects of
        # scalars and objects, and the call would cost more than the copy.
        copied = value.copy()
        for key, item in value.items():
            kind = type(item)
            if kind is dict:
                copied[key] = item = item.copy()
                for inner_key, inner in item.items():  # replacing values keeps the iteration valid
                    if type(inner) in _CONTAINERS:
                        item[inner_key] = clone(inner)
            elif kind is list:
                copied[key] = clone(item)
        return copied
    if kind is list:
        return [clone(item) if type(item) in _CONTAINERS else item for item in value]
    return value


_CONTAINERS = (dict, list)


class Pattern:
    """A compiled path: ``get`` one value, ``find`` all, ``set``, ``delete``, ``pop`` and ``update``
    in place; ``writer`` and ``updater`` bind the path into a step's function once."""

    __slots__ = ("text", "segments", "expr", "key", "parents")

    def __init__(self, text: str) -> None:
        self.text = text
        self.segments: tuple[str | int, ...] | None = None
        self.expr: Any = None
        if not text.strip():
            raise PatternError("empty pattern (use $ for the whole entity)")
        if _PLAIN.match(text):
            body = text.lstrip("$@").lstrip(".")
            self.segments = tuple(int(index) if index else key for index, key in _PART.findall(body))
            if len(self.segments) == 1 and type(self.segments[0]) is str:
                self.key = self.segments[0]
                self.__class__ = KeyPattern  # the usual case, served without walking segments
            elif self.segments and all(type(segment) is str for segment in self.segments):
                *self.parents, self.key = self.segments
                self.__class__ = KeysPattern
        else:
            try:
                self.expr = jsonpath_parse(text)
            except Exception as error:  # the lexer and parser raise their own errors and plain Exception
                raise PatternError(f"invalid jsonpath {text!r}: {error}") from None
            try:
                _regexes_on_re2(self.expr)
            except RegexError as error:
                raise PatternError(f"jsonpath {text!r}: {error}") from None

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"

    @property
    def is_root(self) -> bool:
        return self.segments == ()

    @property
    def is_single(self) -> bool:
        """True for plain paths, which name at most one value."""
        return self.segments is not None

    def get(self, doc: Any, default: Any = MISSING) -> Any:
        """The value at the path (the first match), or ``default``."""
        segments = self.segments
        if segments is None:
            matches = self.find(doc)
            return matches[0] if matches else default
        for segment in segments:
            if type(segment) is str:
                if type(doc) is not dict or segment not in doc:
                    return default
                doc = doc[segment]
            else:
                if type(doc) is not list or not -len(doc) <= segment < len(doc):  # type: ignore[operator]
                    return default
                doc = doc[segment]  # type: ignore[index]
        return doc

    def find(self, doc: Any) -> list[Any]:
        """Every value the path matches (plain paths match zero or one)."""
        if self.segments is not None:
            value = self.get(doc)
            return [] if value is MISSING else [value]
        try:
            return [match.value for match in self.expr.find(doc)]
        except Exception as error:  # jsonpath-ng raises bare errors on odd data (filters on strings)
            raise StepFailure(f"cannot evaluate: {error}", self.text) from None

    def set(self, doc: Any, value: Any) -> Any:
        """Write ``value`` at the path, creating missing objects; returns the (possibly new) root."""
        segments = self.segments
        if segments is None:
            try:
                return self.expr.update_or_create(doc, value)
            except Exception as error:
                raise StepFailure(f"cannot set: {error}", self.text) from None
        if not segments:
            return value
        node = doc
        for position, segment in enumerate(segments[:-1]):
            following = segments[position + 1]
            child = _child(node, segment)
            if child is MISSING or child is None:
                child = {} if type(following) is str else []
                _put(node, segment, child, self.text)
            node = child
        _put(node, segments[-1], value, self.text)
        return doc

    def delete(self, doc: Any) -> Any:
        """Remove what the path matches (nothing matched is fine); returns the root."""
        segments = self.segments
        if segments is None:
            try:
                return self.expr.filter(lambda _value: True, doc)
            except Exception as error:
                raise StepFailure(f"cannot delete: {error}", self.text) from None
        if not segments:
            raise StepFailure("cannot delete the whole entity", self.text)
        parent = self._parent(doc)
        last = segments[-1]
        if type(last) is str and type(parent) is dict:
            parent.pop(last, None)
        elif type(parent) is list and _child(parent, last) is not MISSING:
            del parent[last]  # type: ignore[arg-type]
        return doc

    def pop(self, doc: Any) -> Any:
        """Remove the value at a plain path and return it (MISSING: nothing was there)."""
        value = self.get(doc)
        if value is not MISSING:
            self.delete(doc)
        return value

    def update(self, doc: Any, change: Callable[[Any], Any]) -> Any:
        """Replace every matched value by ``change(value)``; returns the root."""
        segments = self.segments
        if segments is None:
            try:
                return self.expr.update(doc, lambda value, _parent, _key: change(value))
            except StepFailure:
                raise
            except Exception as error:
                raise StepFailure(f"cannot update: {error}", self.text) from None
        if not segments:
            return change(doc)
        parent = self._parent(doc)
        last = segments[-1]
        current = _child(parent, last) if parent is not MISSING else MISSING
        if current is not MISSING:
            parent[last] = change(current)
        return doc

    def writer(self, evaluate: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``doc -> set(doc, evaluate(doc))`` with the path bound now: a step's whole ``apply``.
        ``evaluate`` giving MISSING writes nothing (an optional value that is absent)."""
        put = self.set

        def write(doc: Any) -> Any:
            value = evaluate(doc)
            return doc if value is MISSING else put(doc, value)

        return write

    def updater(self, change: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """``doc -> update(doc, change)`` with the path bound now: a step's whole ``apply``."""
        if self.segments == ():  # the whole document
            return change
        update = self.update
        return lambda doc: update(doc, change)

    def _parent(self, doc: Any) -> Any:
        assert self.segments
        for segment in self.segments[:-1]:
            doc = _child(doc, segment)
            if doc is MISSING:
                return MISSING
        return doc


class KeyPattern(Pattern):
    """A path of one key (``subject``, ``$.id``): the same answers as :class:`Pattern`, without
    the walk over segments, in the one or two dictionary operations they come down to."""

    __slots__ = ()

    def get(self, doc: Any, default: Any = MISSING) -> Any:
        return doc.get(self.key, default) if type(doc) is dict else default

    def set(self, doc: Any, value: Any) -> Any:
        if type(doc) is not dict:
            return super().set(doc, value)  # the error that names the path
        doc[self.key] = value
        return doc

    def delete(self, doc: Any) -> Any:
        if type(doc) is dict:
            doc.pop(self.key, None)
        return doc

    def pop(self, doc: Any) -> Any:
        return doc.pop(self.key, MISSING) if type(doc) is dict else MISSING

    def writer(self, evaluate: Callable[[Any], Any]) -> Callable[[Any], Any]:
        key, put = self.key, self.set
        if type(evaluate) is Constant:
            value = evaluate.value

            def write_constant(doc: Any) -> Any:
                if type(doc) is dict:
                    doc[key] = value
                    return doc
                return put(doc, value)  # the error that names the path

            return write_constant

        def write_key(doc: Any) -> Any:
            value = evaluate(doc)
            if type(doc) is dict and value is not MISSING:
                doc[key] = value
                return doc
            return doc if value is MISSING else put(doc, value)  # the error that names the path

        return write_key

    def updater(self, change: Callable[[Any], Any]) -> Callable[[Any], Any]:
        key = self.key

        def update_key(doc: Any) -> Any:
            if type(doc) is dict and key in doc:
                doc[key] = change(doc[key])
            return doc

        return update_key


class KeysPattern(Pattern):
    """A path of several keys (``customer.email``): reading walks objects only."""

    __slots__ = ()

    def get(self, doc: Any, default: Any = MISSING) -> Any:
        for key in self.parents:
            if type(doc) is not dict:  # MISSING too: a parent was not there
                return default
            doc = doc.get(key, MISSING)
        return doc.get(self.key, default) if type(doc) is dict else default

    def delete(self, doc: Any) -> Any:
        self.pop(doc)
        return doc

    def pop(self, doc: Any) -> Any:
        for key in self.parents:
            if type(doc) is not dict:
                return MISSING
            doc = doc.get(key, MISSING)
        return doc.pop(self.key, MISSING) if type(doc) is dict else MISSING


def _parts(node: Any) -> Iterator[Any]:
    """``node`` and every jsonpath node below it."""
    yield node
    for value in vars(node).values():
        for child in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(child, JSONPath):
                yield from _parts(child)


class _SubstitutionAsRegex:
    """Stands in for the ``re`` pattern of a jsonpath ``sub()``, which calls ``sub(repl, text)``."""

    def __init__(self, substitute: Substitution) -> None:
        self.substitute = substitute

    def sub(self, _replacement: str, text: str) -> str:
        return self.substitute(text, 0)


def _regexes_on_re2(expr: Any) -> None:
    """Check the regular expressions of a parsed jsonpath now, and have them run on RE2."""
    for part in _parts(expr):
        if isinstance(part, jsonpath_filter.Expression) and part.op == "=~":
            if not isinstance(part.value, str):
                raise RegexError(f"=~ needs a quoted regular expression, not {part.value!r}")
            compile_regex(part.value)
        elif isinstance(part, JsonpathSub):
            part.regex = _SubstitutionAsRegex(compile_substitution(part.expr, part.repl))


def _regex_search(value: Any, regex: str) -> bool:
    return isinstance(value, str) and compile_regex(regex).search(value) is not None


# jsonpath-ng's `=~` calls re.search, which can backtrack for minutes; its patterns were
# checked when compiled (above), so RE2 accepts them here.
jsonpath_filter.OPERATOR_MAP["=~"] = _regex_search


def _child(node: Any, segment: str | int) -> Any:
    if type(segment) is str:
        return node.get(segment, MISSING) if type(node) is dict else MISSING
    if type(node) is list and -len(node) <= segment < len(node):  # type: ignore[operator]
        return node[segment]  # type: ignore[index]
    return MISSING


def _put(node: Any, segment: str | int, value: Any, text: str) -> None:
    if type(segment) is str:
        if type(node) is not dict:
            raise StepFailure(f"cannot set key {segment!r} on {type_name(node)}", text)
        node[segment] = value
    elif type(node) is list and -len(node) <= segment < len(node):  # type: ignore[operator]
        node[segment] = value  # type: ignore[index]
    elif type(node) is list and segment == len(node):
        node.append(value)
    else:
        raise StepFailure(f"cannot set index {segment} on {type_name(node)}", text)


def type_name(value: Any) -> str:
    """A JSON-ish name for a value's type, for error messages."""
    if value is None:
        return "null"
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }
    return names.get(type(value), type(value).__name__)


@lru_cache(maxsize=4096)
def compile_pattern(text: str) -> Pattern:
    """Parse ``text`` once; the same text anywhere in a project shares one Pattern."""
    return Pattern(text)


Evaluator = Callable[[Any], Any]


def _default(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def to_text(value: Any) -> str:
    """How a value reads inside a string: text as is, null as empty, everything else as JSON."""
    kind = type(value)
    if kind is str:
        return value
    if value is None:
        return ""
    if kind is int or kind is float:
        return repr(value)  # the JSON text of a finite number, without the encoder's overhead
    return json.dumps(value, ensure_ascii=False)


#: types whose ``%s`` text is the text :func:`to_text` gives them (``bool`` and ``None`` are not)
_AS_TEXT = frozenset({str, int, float})


def _placeholder(path: str, default: str | None) -> Evaluator:
    pattern = compile_pattern(path.strip() or "@")
    get = pattern.get
    if default is None:

        def read(entity: Any) -> Any:
            value = get(entity)
            if value is MISSING:
                raise StepFailure(f"placeholder &{{{path}}}: path {path!r} is missing", path)
            return clone(value) if type(value) in _CONTAINERS else value

    else:
        fallback = _default(default)

        def read(entity: Any) -> Any:
            value = get(entity)
            if value is MISSING:
                return fallback
            return clone(value) if type(value) in _CONTAINERS else value

    return read


def compile_template(text: str, *, as_text: bool = False) -> Evaluator | None:
    """An evaluator for a string with placeholders, or None when it has none (a constant).

    A lone placeholder (``&{items}``) gives its value as it is, unless ``as_text``: then, like
    every other template, text (see :func:`to_text`).
    """
    if "&{" not in text:
        return None
    parts = _PLACEHOLDER.split(text)
    # split gives: literal, path, default, literal, path, default, ..., literal
    if len(parts) == 4 and parts[0] == "" and parts[3] == "" and not as_text:
        return _placeholder(parts[1], parts[2])
    literals = parts[0::3]
    fillers = [_placeholder(path, default) for path, default in zip(parts[1::3], parts[2::3])]

    layout = "%s".join(literal.replace("%", "%%") for literal in literals)

    def render(entity: Any) -> str:
        return layout % tuple([value if type(value := filler(entity)) is str else to_text(value)
                               for filler in fillers])

    keys = [compile_pattern(path.strip() or "@") for path in parts[1::3]]
    if any(default is not None for default in parts[2::3]) or not all(type(key) is KeyPattern for key in keys):
        return render
    # every placeholder a required key: all read at once in C; anything else (a missing key, an
    # entity that is not an object) goes the general way, to its error
    read_all = operator.itemgetter(*(key.key for key in keys))
    single = len(keys) == 1

    def render_keys(entity: Any) -> str:
        try:
            found = read_all(entity)
        except (KeyError, TypeError):
            return render(entity)
        if single:
            found = (found,)
        for value in found:  # a loop that stops at the first value to convert beats a set test here
            if type(value) not in _AS_TEXT:
                return layout % tuple(map(to_text, found))
        return layout % found

    return render_keys


class Constant:
    """The evaluator of a value that is neither a container nor text with placeholders: the
    same value for every entity, which a step may take once (``value``) rather than call for."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, _entity: Any) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value!r})"


def compile_value(value: Any) -> Evaluator:
    """An evaluator for a parameter value: placeholders filled, containers rebuilt per entity."""
    if isinstance(value, str):
        return compile_template(value) or Constant(value)
    if isinstance(value, dict):
        members = {key: compile_value(item) for key, item in value.items()}
        return lambda entity: {key: member(entity) for key, member in members.items()}
    if isinstance(value, list):
        items = [compile_value(item) for item in value]
        return lambda entity: [item(entity) for item in items]
    return Constant(value)
