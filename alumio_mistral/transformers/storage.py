"""Storage transformers: look up and remember values across runs (de-dup, id maps, cursors)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from alumio_mistral.transformers.context import StorageAccess
from alumio_mistral.transformers.errors import StepFailure
from alumio_mistral.transformers.patterns import Pattern, clone, compile_value, to_text
from alumio_mistral.transformers.registry import Compiler, StepParams, PatternField, Transformer, ValueField, register


class _StorageParams(StepParams):
    namespace = fields.String(required=True, validate=validate.Length(min=1))
    key = ValueField(required=True)


class _StorageTransformer(Transformer):
    """Holds the storages of the compile context and the key template."""

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.storages: StorageAccess | None = compiler.context.storages
        self.namespace: str = params["namespace"]
        self.key = params["key"]
        self.pattern = f"{self.namespace}"

    def store(self) -> StorageAccess:
        if self.storages is None:
            raise StepFailure("no storage available here (storages come with a project's task store)")
        return self.storages

    def key_of(self, entity: Any) -> str:
        return to_text(self.key(entity))


@register
class StorageGet(_StorageTransformer):
    """Read ``key`` (placeholders allowed) from storage ``namespace`` into ``to``; ``default``
    when the key is not stored."""

    type_name = "storage-get"
    example = {"type": "storage-get", "namespace": "customers", "key": "&{customer_id}", "to": "customer"}

    class Params(_StorageParams):
        to = PatternField(required=True)
        default = fields.Raw(allow_none=True, load_default=None)

    def __init__(self, params: dict[str, Any], compiler: Compiler, where: str) -> None:
        super().__init__(params, compiler, where)
        self.to: Pattern = params["to"]

    def apply(self, entity: Any) -> Any:
        value = self.store().get(self.namespace, self.key_of(entity))
        return self.to.set(entity, clone(self.params["default"]) if value is None else value)


@register
class StorageSet(_StorageTransformer):
    """Remember ``value`` (default: the whole entity) under ``key`` in storage ``namespace``."""

    type_name = "storage-set"
    example = {"type": "storage-set", "namespace": "customers", "key": "&{id}", "value": "&{name}"}

    class Params(_StorageParams):
        value = ValueField(load_default=lambda: compile_value("&{@}"), allow_none=True)

    def apply(self, entity: Any) -> Any:
        self.store().set(self.namespace, self.key_of(entity), self.params["value"](entity))
        return entity
