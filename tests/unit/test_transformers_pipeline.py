"""Compiling (errors with file and dotted path) and running pipelines (errors per entity, explain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alumio_mistral.config import check_project
from alumio_mistral.transformers import TransformConfigError, TransformError, compile_pipeline
from alumio_mistral.transformers.registry import transformer_types


def problems(steps: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(TransformConfigError) as caught:
        compile_pipeline(steps, source="alumio.yaml", where="outgoing.triage.entity_transformers")
    return caught.value.problems


def test_bad_pattern_names_file_and_dotted_path() -> None:
    [(source, path, message)] = problems(
        [
            {"type": "set", "path": "a", "value": 1},
            {"type": "copy", "from": "a", "to": "b"},
            {"type": "remove", "path": "$.x["},
        ]
    )
    assert (source, path) == ("alumio.yaml", "outgoing.triage.entity_transformers[2].path")
    assert message.startswith("invalid jsonpath '$.x['")


def test_unknown_type_missing_parameter_unknown_key_all_at_once() -> None:
    found = problems(
        [
            {"type": "sett", "path": "a"},
            {"type": "copy", "from": "a"},
            {"type": "trim", "path": "a", "size": 1},
            {"path": "a"},
            "set",
            {"type": "set", "use": "x"},
        ]
    )
    where = "outgoing.triage.entity_transformers"
    assert [(path, message.split(" (")[0]) for _, path, message in found] == [
        (f"{where}[0].type", "unknown transformer type 'sett'"),
        (f"{where}[1].to", "Missing data for required field."),
        (f"{where}[2].size", "unknown key"),
        (f"{where}[3].type", "missing 'type'"),
        (f"{where}[4]", "a step must be a mapping with 'type' or 'use'"),
        (f"{where}[5]", "give either 'type' or 'use', not both"),
    ]
    # an unknown parameter names the valid ones
    assert found[2][2].endswith("expected one of: chars, path, side, to")


def test_a_misspelt_parameter_gets_a_suggestion() -> None:
    [(_, path, message)] = problems([{"type": "trim", "path": "a", "chras": "x"}])
    assert path.endswith("[0].chras") and "did you mean 'chars'?" in message


def test_nested_steps_and_conditions_report_their_full_path_all_at_once() -> None:
    bad_condition = {"any": [{"path": "a", "gt": 1}, {"path": "b", "like": 1}]}
    bad_steps = [{"type": "for-each", "path": "l", "steps": [{"type": "cast", "path": "x", "to": "int"}]}]
    found = problems([{"type": "conditional", "if": bad_condition, "then": bad_steps, "else": [{"type": "nope"}]}])
    where = "outgoing.triage.entity_transformers[0]"
    assert [path for _, path, _ in found] == [
        f"{where}.if.any[1].like",
        f"{where}.then[0].steps[0].to",
        f"{where}.else[0].type",
    ]


def test_steps_must_be_a_list() -> None:
    assert problems({"type": "set"})[0][2] == "expects a list of steps"


def test_every_transformer_type_refuses_unknown_keys() -> None:
    for name in transformer_types():
        found = problems([{"type": name, "surely_not_a_parameter": 1}])
        assert any(path.endswith("[0].surely_not_a_parameter") for _, path, _ in found), name


def test_runtime_error_names_pipeline_step_type_and_pattern_and_spares_other_entities() -> None:
    pipeline = compile_pipeline(
        [{"type": "set", "path": "ok", "value": True}, {"type": "cast", "path": "n", "to": "integer"}],
        source="alumio.yaml",
        where="incoming.x.entity_transformers",
    )
    results = []
    for entity in ({"n": "1"}, {"n": "x"}, {"n": 2}):
        try:
            results.extend(pipeline.run(entity))
        except TransformError as error:
            assert str(error).startswith("alumio.yaml: incoming.x.entity_transformers[1] (cast, pattern 'n', step 2): ")
            assert (error.index, error.step_type, error.pattern, error.unexpected) == (1, "cast", "n", False)
    assert results == [{"n": 1, "ok": True}, {"n": 2, "ok": True}]


def test_the_callers_entity_is_never_changed() -> None:
    entity = {"a": {"b": [1]}}
    compile_pipeline([{"type": "set", "path": "a.b[0]", "value": 2}, {"type": "remove", "path": "a"}]).run(entity)
    assert entity == {"a": {"b": [1]}}


def test_disabled_steps_are_skipped_and_description_allowed() -> None:
    pipeline = compile_pipeline(
        [
            {"type": "set", "path": "a", "value": 1, "description": "why"},
            {"type": "set", "path": "b", "value": 2, "disabled": True},
        ]
    )
    assert len(pipeline) == 1 and pipeline.run({}) == [{"a": 1}]


def test_explain_traces_each_step_and_stops_on_failure_or_filter() -> None:
    pipeline = compile_pipeline(
        [
            {"type": "set", "path": "a", "value": 1},
            {"type": "filter", "when": {"path": "drop", "equals": True}},
            {"type": "cast", "path": "n", "to": "integer"},
        ]
    )
    traces = pipeline.explain({"n": "5"})
    assert [(t.type, t.input, t.output, t.error) for t in traces] == [
        ("set", [{"n": "5"}], [{"n": "5", "a": 1}], None),
        ("filter", [{"n": "5", "a": 1}], [{"n": "5", "a": 1}], None),
        ("cast", [{"n": "5", "a": 1}], [{"n": 5, "a": 1}], None),
    ]
    assert len(pipeline.explain({"drop": True})) == 2
    failed = pipeline.explain({"n": "x"})
    assert failed[-1].to_dict()["step"] == 3 and "cannot cast" in failed[-1].error
    assert "[2] (cast, pattern 'n', step 3)" in failed[-1].error


def test_every_parameter_is_documented_in_its_transformer_docstring() -> None:
    for name, cls in transformer_types().items():
        documentation = "".join(klass.__doc__ or "" for klass in cls.__mro__)
        for field_name, field in cls.Params().fields.items():
            assert f"``{field.data_key or field_name}``" in documentation, (name, field.data_key or field_name)


def test_a_project_file_reports_bad_steps_with_file_line_and_dotted_path(tmp_path: Path) -> None:
    (tmp_path / "alumio.yaml").write_text(
        "outgoing:\n"
        "  triage:\n"
        "    publisher: {type: stdout}\n"
        "    entity_transformers:\n"
        "      - {use: mistral/chat-request, with: {prompt: '&{subject}'}}\n"
        "      - {type: remove, path: '$.x['}\n"
        "      - {type: sett, path: a}\n"
        "      - {type: copy, from: a}\n"
    )
    _, found = check_project(tmp_path)
    where = "outgoing.triage.entity_transformers"
    assert [(Path(p.file).name, p.path, p.message.split(":")[0]) for p in found] == [
        ("alumio.yaml", f"{where}[1].path", "invalid jsonpath '$.x['"),
        ("alumio.yaml", f"{where}[2].type", "unknown transformer type 'sett' (did you mean set?)"),
        ("alumio.yaml", f"{where}[3].to", "Missing data for required field."),
    ]
