"""Named definitions: shipped + project folder (project wins), parameters, cycles, file errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import alumio_mistral
from alumio_mistral.transformers import Library, TransformConfigError, compile_pipeline
from alumio_mistral.transformers import library as library_module


def write(root: Path, name: str, text: str) -> None:
    path = root / "transformers" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_shipped_definitions_are_found() -> None:
    names = Library.for_project(None).names()
    for name in (
        "mistral/chat-request",
        "mistral/chat-answer",
        "mistral/model-row",
        "mistral/file-row",
        "mistral/batch-job-row",
    ):
        assert name in names


def test_shipped_folder_is_the_repository_one_in_a_checkout_else_the_installed_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert library_module.shipped_folder() == Path(alumio_mistral.__file__).resolve().parents[1] / "transformers"
    fake_package = tmp_path / "site" / "alumio_mistral" / "__init__.py"
    fake_package.parent.mkdir(parents=True)
    fake_package.touch()
    monkeypatch.setattr(alumio_mistral, "__file__", str(fake_package))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    assert library_module.shipped_folder() == tmp_path / "venv" / "share" / "alumio-mistral" / "transformers"


def test_project_folder_wins_and_inline_wins_over_both(tmp_path: Path) -> None:
    write(tmp_path, "mistral/model-row", "- {type: set, path: mine, value: true}\n")
    write(tmp_path, "local", "steps: [{type: set, path: from, value: folder}]\n")
    library = Library.for_project(tmp_path, {"local": [{"type": "set", "path": "from", "value": "inline"}]})
    assert library.compile("mistral/model-row").run({}) == [{"mine": True}]
    assert library.compile("local").run({}) == [{"from": "inline"}]


def test_use_cycle_is_rejected_naming_the_cycle(tmp_path: Path) -> None:
    write(tmp_path, "a", "- {use: b}\n")
    write(tmp_path, "b", "- {type: conditional, if: {path: x, exists: true}, then: [{use: a}]}\n")
    library = Library.for_project(tmp_path)
    with pytest.raises(TransformConfigError, match=r"cycle of 'use' references: a -> b -> a") as caught:
        compile_pipeline([{"use": "a"}], source="alumio.yaml", where="incoming.x.entity_transformers", library=library)
    assert caught.value.problems[0][0].endswith("b.yaml")
    with pytest.raises(TransformConfigError, match=r"cycle of 'use' references: self -> self"):
        Library.for_project(None, {"self": [{"use": "self"}]}).compile("self")


def test_parameters_defaults_required_and_unknown(tmp_path: Path) -> None:
    write(
        tmp_path,
        "greet",
        "parameters: {who: {required: true}, n: {default: 1}}\n"
        "steps: [{type: set, path: msg, value: 'hi %{who}'}, {type: set, path: n, value: '%{n}'}]\n",
    )
    library = Library.for_project(tmp_path)
    assert library.compile("greet", {"who": "you"}).run({}) == [{"msg": "hi you", "n": 1}]
    with pytest.raises(TransformConfigError) as caught:
        compile_pipeline([{"use": "greet", "with": {"whom": 1}}], source="p.yaml", library=library)
    assert [(path, message.split(" (")[0]) for _, path, message in caught.value.problems] == [
        ("[0].with.whom", "greet has no parameter 'whom'"),
        ("[0].with", "greet needs parameter 'who'"),
    ]


def test_unknown_name_bad_yaml_and_bad_definition_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(TransformConfigError, match=r"p.yaml: \[0\]: no transformer definition named 'nope'"):
        compile_pipeline([{"use": "nope"}], source="p.yaml", library=Library.for_project(None))
    write(tmp_path, "broken", "steps: [\n")
    with pytest.raises(TransformConfigError, match=r"broken.yaml: : not valid YAML"):
        Library.for_project(tmp_path)
    (tmp_path / "transformers" / "broken.yaml").write_text("steps: []\nteste: []\n")
    with pytest.raises(TransformConfigError, match=r"broken.yaml: teste: Unknown field"):
        Library.for_project(tmp_path)


def test_bad_steps_inside_a_definition_name_its_file(tmp_path: Path) -> None:
    write(tmp_path, "bad", "- {type: set, path: 'a[', value: 1}\n")
    library = Library.for_project(tmp_path)
    with pytest.raises(TransformConfigError) as caught:
        compile_pipeline([{"use": "bad"}], source="alumio.yaml", library=library)
    [(source, path, message)] = caught.value.problems
    assert source.endswith("transformers/bad.yaml") and path == "steps[0].path" and "invalid jsonpath" in message


def test_parameters_inside_text_and_undeclared_ones(tmp_path: Path) -> None:
    write(
        tmp_path,
        "text",
        "parameters: {n: {default: null}, m: {default: 3}}\n" "steps: [{type: set, path: t, value: '[%{n}|%{m}]'}]\n",
    )
    assert Library.for_project(tmp_path).compile("text").run({}) == [{"t": "[|3]"}]
    write(tmp_path, "undeclared", "steps: [{type: set, path: t, value: '%{nope}'}]\n")
    with pytest.raises(
        TransformConfigError, match=r"undeclared.yaml: parameters: %\{nope\} is used in the steps but not declared"
    ):
        Library.for_project(tmp_path)
