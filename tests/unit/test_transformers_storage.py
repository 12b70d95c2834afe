"""Storage get/set against an in-memory store, and the error when no store is available."""

from __future__ import annotations

import pytest

from alumio_mistral.transformers import TransformContext, TransformError, compile_pipeline
from alumio_mistral.transformers.context import MemoryStorages


def test_set_then_get_across_runs() -> None:
    storages = MemoryStorages()
    context = TransformContext(storages=storages)
    remember = compile_pipeline(
        [{"type": "storage-set", "namespace": "ids", "key": "&{email}", "value": "&{id}"}], context=context
    )
    lookup = compile_pipeline(
        [{"type": "storage-get", "namespace": "ids", "key": "&{email}", "to": "known_id"}], context=context
    )
    assert remember.run({"email": "a@b", "id": 7}) == [{"email": "a@b", "id": 7}]
    assert storages.values == {("ids", "a@b"): 7}
    assert lookup.run({"email": "a@b"}) == [{"email": "a@b", "known_id": 7}]
    assert lookup.run({"email": "x@y"}) == [{"email": "x@y", "known_id": None}]


def test_defaults_whole_entity_and_non_text_keys() -> None:
    storages = MemoryStorages()
    context = TransformContext(storages=storages)
    compile_pipeline([{"type": "storage-set", "namespace": "n", "key": "&{k}"}], context=context).run(
        {"k": 1, "v": None}
    )
    assert storages.values == {("n", "1"): {"k": 1, "v": None}}
    get = compile_pipeline(
        [{"type": "storage-get", "namespace": "n", "key": "other", "to": "r", "default": []}], context=context
    )
    assert get.run({}) == [{"r": []}]


def test_missing_key_placeholder_and_no_store_fail_per_entity() -> None:
    context = TransformContext(storages=MemoryStorages())
    with pytest.raises(TransformError, match="path 'k' is missing"):
        compile_pipeline([{"type": "storage-get", "namespace": "n", "key": "&{k}", "to": "r"}], context=context).run({})
    with pytest.raises(TransformError, match="no storage available"):
        compile_pipeline([{"type": "storage-set", "namespace": "n", "key": "x"}]).run({})
