"""Flow transformers: filter, conditional, use/chain, for-each, recursive, branches, merge."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import MISSING, Pattern, clone, type_name
from alumio_mistral.transformers.registry import (
    Compiler,
    ConditionField,
    StepParams,
    PatternField,
    StepsField,
    Transformer,
    read,
    register,
)


@register
class Filter(Transformer):
    """Drop the entity when ``when`` holds (``unless`` drops it when it does not); a dropped
    entity is counted as skipped, not failed."""

    type_name = "filter"
    example = {"type": "filter", "when": {"path": "status", "equals": "open"}}
    mode = "drop"

    class Params(StepParams):
        when = ConditionField()
        unless = ConditionField()

        @validates_schema
        def _one(self, data: dict[str, Any], **kwargs: Any) -> None:
            if ("when" in data) == ("unless" in data):
                raise ValidationError("give either 'when' or 'unless'")

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.drop_when = "when" in params
        self.condition = params["when"] if self.drop_when else params["unless"]
        if self.drop_when:  # the condition is the answer: called without this method around it
            self.drops = self.condition  # type: ignore[method-assign]

    def drops(self, entity: Any) -> bool:
        return not self.condition(entity)


@register
class Conditional(Transformer):
    """Run the ``then`` steps when ``if`` holds, else the ``else`` steps (if any)."""

    type_name = "conditional"
    example = {"type": "conditional", "if": {"path": "priority", "equals": "high"}, "then": [{"type": "set", "path": "queue", "value": "urgent"}]}
    mode = "many"

    class Params(StepParams):
        condition = ConditionField(required=True, data_key="if")
        then = StepsField(required=True)
        otherwise = StepsField(data_key="else", load_default=list)

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.condition = params["condition"]
        self.then = compiler.compile(params["then"], f"{where}.then")
        self.otherwise = compiler.compile(params["otherwise"], f"{where}.else")
        then, otherwise = self.then.transform, self.otherwise.transform
        if then is not None and otherwise is not None:  # one record in, one out: no lists
            condition = self.condition
            self.mode = "one"  # type: ignore[misc]
            if self.otherwise.steps:
                self.apply = lambda entity: then(entity) if condition(entity) else otherwise(entity)  # type: ignore[method-assign]
            else:  # nothing to do when the condition does not hold
                self.apply = lambda entity: then(entity) if condition(entity) else entity  # type: ignore[method-assign]

    def apply_many(self, entity: Any) -> list[Any]:
        branch = self.then if self.condition(entity) else self.otherwise
        return branch.run_owned(entity)


@register
class Use(Transformer):
    """Run the named definition ``name`` (written ``use: NAME``) with optional ``with`` parameters."""

    type_name = "use"
    example = {"type": "use", "name": "mistral/chat-answer"}
    mode = "many"

    class Params(StepParams):
        name = fields.String(required=True)
        arguments = fields.Dict(keys=fields.String(), data_key="with", load_default=dict)

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.pattern = params["name"]
        self.pipeline = compiler.use(params["name"], params["arguments"], where)

    def apply_many(self, entity: Any) -> list[Any]:
        return self.pipeline.run_owned(entity)


@register
class Chain(Use):
    """Another name for use (``{type: chain, name: NAME}``)."""

    type_name = "chain"
    example = {"type": "chain", "name": "mistral/model-row"}


@register
class ForEach(Transformer):
    """Run ``steps`` on every element of the list at ``path``. An element the steps filter out is
    dropped from the list; one that becomes several is replaced by all of them."""

    type_name = "for-each"
    example = {"type": "for-each", "path": "lines", "steps": [{"type": "trim", "path": "sku"}]}

    class Params(StepParams):
        path = PatternField(required=True)
        steps = StepsField(required=True)

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.steps = compiler.compile(params["steps"], f"{where}.steps")
        self.apply = self.path.updater(self.each)  # type: ignore[method-assign]

    def each(self, items: Any) -> Any:
        if items is None:
            return None
        if type(items) is not list:
            raise StepFailure(f"expects a list, got {type_name(items)}", self.path.text)
        return [result for item in items for result in self.steps.run_owned(item)]


@register
class Recursive(Transformer):
    """Run ``steps`` on every value (``target``: values) or key (``target``: keys) at any depth
    where ``when`` holds (default: all). Children are done before their parent. A value the steps
    filter out is removed; a key must stay text."""

    type_name = "recursive"
    example = {"type": "recursive", "steps": [{"type": "trim", "path": "$"}]}

    class Params(StepParams):
        when = ConditionField()
        target = fields.String(load_default="values", validate=validate.OneOf(["values", "keys"]))
        steps = StepsField(required=True)

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.condition = params.get("when") or (lambda _node: True)
        self.keys = params["target"] == "keys"
        self.steps = compiler.compile(params["steps"], f"{where}.steps")

    def _one(self, node: Any) -> Any:
        """The node after the steps, or MISSING when they dropped it."""
        if not self.condition(node):
            return node
        results = self.steps.run_owned(node)
        if not results:
            return MISSING
        if len(results) > 1:
            raise StepFailure("a recursive step must give at most one value per node")
        return results[0]

    def _key(self, key: str) -> str:
        renamed = self._one(key)
        if type(renamed) is not str:
            raise StepFailure(f"a key must stay text, got {type_name(renamed)} for key {key!r}")
        return renamed

    def walk(self, node: Any) -> Any:
        if type(node) is dict:
            if self.keys:
                return {self._key(key): self.walk(value) for key, value in node.items()}
            walked = ((key, self._one(self.walk(value))) for key, value in node.items())
            return {key: value for key, value in walked if value is not MISSING}
        if type(node) is list:
            if self.keys:
                return [self.walk(item) for item in node]
            return [value for value in (self._one(self.walk(item)) for item in node) if value is not MISSING]
        return node

    def apply(self, entity: Any) -> Any:
        return self.walk(entity)


@register
class Branches(Transformer):
    """Split the entity into one entity per element at ``path`` (a list, or every jsonpath match).
    ``keep`` copies parent paths into each branch (elements must then be objects). An empty or
    missing list gives no entities."""

    type_name = "branches"
    example = {"type": "branches", "path": "items", "keep": ["order_id"]}
    mode = "many"

    class Params(StepParams):
        path = PatternField(required=True)
        keep = fields.List(PatternField(), load_default=list)

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern = params["path"]
        self.keep: list[Pattern] = params["keep"]

    def apply_many(self, entity: Any) -> list[Any]:
        found = read(self.path, entity)
        if found is MISSING or found is None:
            return []
        if type(found) is not list:
            raise StepFailure(f"expects a list, got {type_name(found)}", self.path.text)
        branches = []
        for element in found:
            element = clone(element)
            for parent in self.keep:
                value = parent.get(entity)
                if value is MISSING:
                    continue
                if type(element) is not dict:
                    raise StepFailure(f"cannot keep parent fields on {type_name(element)}", self.path.text)
                element = parent.set(element, clone(value))
            branches.append(element)
        return branches


def combine(items: list[Any], group_by: Pattern | None, key_as: str, items_as: str, pattern: str | None) -> Any:
    """Merge objects into one (later keys win), or group them by the value at ``group_by``."""
    if group_by is None:
        merged: dict[str, Any] = {}
        for item in items:
            if type(item) is not dict:
                raise StepFailure(f"can only merge objects, got {type_name(item)}", pattern)
            merged.update(item)
        return merged
    groups: dict[str, dict[str, Any]] = {}
    for item in items:
        key = group_by.get(item)
        key = None if key is MISSING else key
        if type(key) in (dict, list):
            raise StepFailure(f"group key must be a plain value, got {type_name(key)}", group_by.text)
        token = repr((type(key).__name__, key))
        groups.setdefault(token, {key_as: key, items_as: []})[items_as].append(item)
    return list(groups.values())


@register
class Merge(Transformer):
    """Combine a list of objects into one, or into groups with ``group_by`` (``{key, items}``, the
    names set by ``key_as`` and ``items_as``).
    With ``path`` it works on the list inside the entity (result at ``to``, default ``path``);
    without, on all the entities the pipeline holds at this point (after branches)."""

    type_name = "merge"
    example = {"type": "merge", "to": "rows"}
    mode = "all"

    class Params(StepParams):
        path = PatternField()
        to = PatternField()
        group_by = PatternField()
        key_as = fields.String(load_default="key")
        items_as = fields.String(load_default="items")

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.path: Pattern | None = params.get("path")
        self.to: Pattern | None = params.get("to") or self.path
        self.group_by: Pattern | None = params.get("group_by")

    def merge(self, items: list[Any]) -> Any:
        return combine(items, self.group_by, self.params["key_as"], self.params["items_as"], self.pattern)

    def apply_all(self, entities: list[Any]) -> list[Any]:
        if self.path is None:
            merged = self.merge(entities)
            return merged if type(merged) is list else [merged]
        results = []
        for entity in entities:
            items = self.path.get(entity)
            if items is MISSING or items is None:
                results.append(entity)
                continue
            if type(items) is not list:
                raise StepFailure(f"expects a list, got {type_name(items)}", self.path.text)
            results.append(self.to.set(entity, self.merge(items)))  # type: ignore[union-attr]
        return results
