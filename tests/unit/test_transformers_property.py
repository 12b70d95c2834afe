"""Property: any JSON document through any transformer gives JSON data or a TransformError, nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alumio_mistral.transformers import Library, TransformContext, TransformError, compile_pipeline
from alumio_mistral.transformers.context import MemoryStorages
from alumio_mistral.transformers.registry import transformer_types


class EchoClient:
    def call_json(self, entity: str, **kwargs: Any) -> Any:
        return {"entity": entity, **kwargs}


#: fixed, valid parameters for every transformer type (several sets where behaviour differs a lot)
PARAMETERS: dict[str, list[dict[str, Any]]] = {
    "set": [{"path": "a.b", "value": "&{s|x}"}, {"path": "$", "value": {"all": "&{@}"}}],
    "copy": [{"from": "a", "to": "b.c", "required": False}, {"from": "$.items[*].n", "to": "ns"}],
    "move": [{"from": "a", "to": "c", "required": False}],
    "remove": [{"paths": ["a", "$.items[*].n"]}],
    "rename": [{"keys": {"a": "z"}, "regex": [{"match": "^s", "replace": "t"}]}, {"path": "items", "keys": {"n": "m"}}],
    "pick": [{"paths": ["a", "items[0]"]}],
    "only": [{"paths": ["n", "b.c"]}],
    "map": [{"path": "s", "map": {"1": "one", "x": [1]}, "default": None}, {"path": "$..n", "map": {"0": "zero"}}],
    "cast": [{"path": "n", "to": to} for to in ("string", "integer", "number", "boolean", "object", "json", "date")],
    "coalesce": [{"paths": ["a", "b"], "to": "c", "default": "&{s|none}"}],
    "math": [{"to": "r", "op": op, "operands": ["&{n}", "&{b|2}"]} for op in ("add", "divide", "modulo", "max")]
    + [{"to": "r", "op": "round", "operands": ["&{n}"], "digits": 2}],
    "hash": [{"fields": ["a", "$.items[*]"], "to": "h", "length": 8}],
    "trim": [{"path": "s"}],
    "case": [{"path": "s", "case": "title"}],
    "replace": [{"path": "$..s", "old": "a", "new": "b"}],
    "regex-replace": [{"path": "s", "pattern": "(a+)", "replace": r"<\1>"}],
    "split": [{"path": "s", "separator": "a"}],
    "join": [{"path": "items", "separator": ","}],
    "truncate": [{"path": "s", "length": 3, "ellipsis": "."}],
    "template": [{"to": "t", "template": "x &{a|} &{n|0} &{items|[]}"}],
    "date": [{"path": "n"}, {"path": "s", "from": "iso", "to": "unix_ms", "add": {"days": 1}}],
    "filter": [{"when": {"any": [{"path": "n", "gt": 0}, {"path": "s", "matches": "a"}]}}],
    "conditional": [
        {
            "if": {"path": "a", "exists": True},
            "then": [{"type": "set", "path": "x", "value": 1}],
            "else": [{"type": "filter", "when": {"path": "b", "empty": True}}],
        }
    ],
    "use": [{"name": "inner"}],
    "chain": [{"name": "inner"}],
    "for-each": [{"path": "items", "steps": [{"type": "set", "path": "seen", "value": True}]}],
    "recursive": [
        {"when": {"type": "string"}, "steps": [{"type": "case", "path": "$", "case": "upper"}]},
        {"target": "keys", "steps": [{"type": "trim", "path": "$"}]},
    ],
    "branches": [{"path": "items", "keep": ["n"]}, {"path": "$..a"}],
    "merge": [{"path": "items", "group_by": "a"}, {"path": "items"}, {}],
    "validate": [
        {"fields": {"n": {"type": "integer", "min": 0}, "s": {"type": "date"}}, "on_failure": on}
        for on in ("fail", "skip")
    ],
    "storage-get": [{"namespace": "n", "key": "&{s}", "to": "got"}],
    "storage-set": [{"namespace": "n", "key": "&{a|k}", "value": "&{@}"}],
    "http-enrich": [{"entity": "models.retrieve", "path_params": {"model_id": "&{s}"}, "to": "card"}],
}

LIBRARY = Library.for_project(None, {"inner": [{"type": "rename", "keys": {"b": "bb"}}]})
CONTEXT = TransformContext(storages=MemoryStorages(), clients={"mistral": EchoClient()})

KEYS = st.sampled_from(["a", "b", "c", "n", "s", "items", "x"]) | st.text(max_size=4)
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12
)
#: documents usually carry the keys the parameters name, with values of the kind a step expects or not
NUMBERS = st.integers() | st.floats(allow_nan=False, allow_infinity=False)
FIELDS = {
    "a": JSON,
    "b": JSON,
    "c": JSON,
    "x": JSON,
    "n": NUMBERS | JSON,
    "s": st.text(alphabet="aA b1:-", max_size=12) | JSON,
    "items": st.lists(JSON, max_size=4) | JSON,
}
DOCUMENTS = st.fixed_dictionaries({}, optional=FIELDS) | st.dictionaries(KEYS, JSON, max_size=6) | JSON

CASES = [(kind, params) for kind, sets in PARAMETERS.items() for params in sets]


def test_every_transformer_type_is_covered() -> None:
    assert set(PARAMETERS) == set(transformer_types())


@pytest.mark.parametrize("kind, params", CASES, ids=[f"{kind}-{index}" for index, (kind, _) in enumerate(CASES)])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS)
def test_json_in_json_out_or_transform_error(kind: str, params: dict[str, Any], document: Any) -> None:
    pipeline = compile_pipeline([{"type": kind, **params}], library=LIBRARY, context=CONTEXT)
    try:
        results = pipeline.run(document)
    except TransformError as error:
        assert not error.unexpected, str(error)
        return
    assert isinstance(results, list)
    json.dumps(results, allow_nan=False)
