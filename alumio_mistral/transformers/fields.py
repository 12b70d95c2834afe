"""Field transformers: set, copy, move, remove, rename (key mapper), pick (keep listed paths)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import MISSING, Pattern, clone, compile_pattern, type_name
from alumio_mistral.transformers.registry import (
    PatternField,
    RegexField,
    StepParams,
    SubstitutionParams,
    Transformer,
    ValueField,
    register,
)


@register
class Set(Transformer):
    """Write ``value`` (placeholders filled from the entity) at ``path``; ``$`` replaces the entity."""

    type_name = "set"
    example = {"type": "set", "path": "source", "value": "helpdesk"}

    class Params(StepParams):
        path = PatternField(required=True)
        value = ValueField(required=True, allow_none=True)

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.value = params["value"]
        self.apply = self.path.writer(self.value)  # type: ignore[method-assign]


class _FromTo(StepParams):
    source = PatternField(required=True, data_key="from")
    to = PatternField(required=True)
    default = fields.Raw(allow_none=True)
    required = fields.Boolean(load_default=True)


@register
class Copy(Transformer):
    """Copy the value at ``from`` to ``to``. A missing source is an error unless a ``default`` is
    given or ``required`` is false (then the step does nothing)."""

    type_name = "copy"
    example = {"type": "copy", "from": "subject", "to": "title"}
    Params = _FromTo

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.source: Pattern = params["source"]
        self.to: Pattern = params["to"]
        self.has_default = "default" in params
        self.default = params.get("default")
        self.required = params["required"]
        #: a plain path's value (or MISSING); a jsonpath's list of matches
        self.read = self.source.get if self.source.is_single else self.source.find
        self.apply = self.to.writer(self.copied)  # type: ignore[method-assign]

    def absent(self) -> Any:
        """What a missing source gives: a copy of the default, else the error of a required
        path, else MISSING (nothing to do)."""
        if self.has_default:
            return clone(self.default)
        if self.required:
            raise StepFailure(f"path {self.source.text!r} is missing", self.source.text)
        return MISSING

    def copied(self, entity: Any) -> Any:
        value = self.read(entity)
        if value is MISSING:
            return self.absent()
        return clone(value) if type(value) in (dict, list) else value


@register
class Move(Copy):
    """Like copy, then remove the source."""

    type_name = "move"
    example = {"type": "move", "from": "body", "to": "text"}

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        # removing a plain path leaves the same root; a jsonpath's removal may give a new one
        self.apply = self.to.writer(self.taken) if self.source.is_single else self._move_matches  # type: ignore[method-assign]

    def taken(self, entity: Any) -> Any:
        """The value to move, removed from the source (a plain path)."""
        value = self.source.pop(entity)
        return self.absent() if value is MISSING else value

    def _move_matches(self, entity: Any) -> Any:
        """A jsonpath source: the list of its matches (perhaps empty) moves."""
        matches = self.source.find(entity)
        return self.to.set(self.source.delete(entity), matches)


class _OneOrMany(StepParams):
    path = PatternField()
    paths = fields.List(PatternField())

    @validates_schema
    def _one_of(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("path" in data) == ("paths" in data):
            raise ValidationError("give either 'path' or 'paths'")


def _patterns(params: dict[str, Any]) -> list[Pattern]:
    return [params["path"]] if "path" in params else params["paths"]


@register
class Remove(Transformer):
    """Remove the value(s) at ``path`` / ``paths``; a path that matches nothing is fine."""

    type_name = "remove"
    example = {"type": "remove", "paths": ["internal_notes", "debug"]}
    Params = _OneOrMany

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.targets = _patterns(params)
        self.pattern = self.targets[0].text if self.targets else None
        if len(self.targets) == 1:
            self.apply = self.targets[0].delete  # type: ignore[method-assign]

    def apply(self, entity: Any) -> Any:
        for target in self.targets:
            entity = target.delete(entity)
        return entity


class _RegexRule(SubstitutionParams):
    regex = RegexField(required=True, data_key="match")
    replace = fields.String(required=True)


@register
class Rename(Transformer):
    """Rename keys of the object at ``path`` (default the entity): a key in the ``keys`` table
    gets exactly the name given there; every other key goes through the ``regex`` rules (each
    ``{match, replace}``, in order; RE2 syntax, linear time). Order of keys is kept, and two
    keys renamed to one name are an error rather than one silently replacing the other."""

    type_name = "rename"
    example = {"type": "rename", "keys": {"id": "ticket_id"}}

    class Params(StepParams):
        path = PatternField(load_default=lambda: compile_pattern("$"))
        keys = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
        regex = fields.List(fields.Nested(_RegexRule), load_default=list)

        @validates_schema
        def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
            if not data.get("keys") and not data.get("regex"):
                raise ValidationError("give 'keys' and/or 'regex'")

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.keys: dict[str, str] = params["keys"]
        self.rules = [rule["substitute"] for rule in params["regex"]]
        self.apply = self.path.updater(self._rename_object)  # type: ignore[method-assign]

    def rename(self, key: str) -> str:
        if key in self.keys:
            return self.keys[key]
        for substitute in self.rules:
            key = substitute(key, 0)
        return key

    def _rename_object(self, node: Any) -> Any:
        """``node`` with its keys renamed (the whole step when ``path`` is ``$``)."""
        if type(node) is not dict:
            raise StepFailure(f"expects an object, got {type_name(node)}", self.path.text)
        if not self.rules:  # a table alone: one comprehension, unless two keys meet (said below)
            keys = self.keys
            renamed_at_once = {keys.get(key, key): value for key, value in node.items()}
            if len(renamed_at_once) == len(node):
                return renamed_at_once
        renamed: dict[str, Any] = {}
        for key, value in node.items():
            name = self.rename(key)
            if name in renamed:
                raise StepFailure(f"two keys would both be named {name!r} (one of them {key!r})", self.path.text)
            renamed[name] = value
        return renamed


@register
class Pick(Transformer):
    """Keep only the listed plain ``paths`` (a new entity; missing paths are left out)."""

    type_name = "pick"
    example = {"type": "pick", "paths": ["id", "subject"]}

    class Params(StepParams):
        paths = fields.List(PatternField(), required=True)

        @validates_schema
        def _plain(self, data: dict[str, Any], **kwargs: Any) -> None:
            for index, pattern in enumerate(data.get("paths", [])):
                if not pattern.is_single or pattern.is_root:
                    raise ValidationError(
                        {"paths": {index: [f"pick needs plain paths like a.b[0], not {pattern.text!r}"]}}
                    )

    def __init__(self, params: dict[str, Any], compiler: Any, where: str) -> None:
        super().__init__(params, compiler, where)
        self.paths: list[Pattern] = params["paths"]
        self.pattern = self.paths[0].text if self.paths else None

    def apply(self, entity: Any) -> Any:
        kept: dict[str, Any] = {}
        for path in self.paths:
            value = path.get(entity)
            if value is not MISSING:
                if type(path.segments[0]) is int:  # type: ignore[index]
                    raise StepFailure("pick keeps object keys; a path cannot start with an index", path.text)
                path.set(kept, value)
        return kept


@register
class Only(Pick):
    """Another name for pick."""

    type_name = "only"
    example = {"type": "only", "paths": ["id", "subject"]}
