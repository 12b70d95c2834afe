"""The transformer reference is read from the registry: every type, every parameter, a working example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.transformers.library import Library
from alumio_mistral.transformers.pipeline import compile_pipeline
from alumio_mistral.transformers.reference import describe, markdown
from alumio_mistral.transformers.registry import transformer_types

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "transformers.md"


def test_every_registered_type_is_described_with_every_parameter() -> None:
    docs = {doc.name: doc for doc in describe()}
    assert set(docs) == set(transformer_types())
    for name, cls in transformer_types().items():
        declared = {field.data_key or key for key, field in cls.Params().fields.items()}
        assert {param.name for param in docs[name].params} == declared, name
        assert docs[name].summary, f"{name} has no docstring summary"


@pytest.mark.parametrize("doc", describe(), ids=lambda doc: doc.name)
def test_every_example_compiles(doc: object) -> None:
    compile_pipeline([doc.example], library=Library.for_project(None))  # type: ignore[attr-defined]


def test_the_committed_page_matches_the_registry() -> None:
    assert DOCS_PAGE.read_text(encoding="utf-8") == markdown() + "\n", (
        "docs/transformers.md is stale: regenerate it with "
        "`alumio-mistral transform types --markdown > docs/transformers.md`"
    )


def test_types_command_lists_one_type_with_its_parameters_and_json() -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["transform", "types", "truncate"])
    assert shown.exit_code == 0
    assert "length (integer) required" in shown.output and "example: {type: truncate" in shown.output
    as_json = json.loads(runner.invoke(main, ["transform", "types", "--json"]).output)
    assert [entry["name"] for entry in as_json] == sorted(transformer_types())
    cast = next(entry for entry in as_json if entry["name"] == "cast")
    assert next(p for p in cast["params"] if p["name"] == "to")["choices"] == [
        "boolean", "date", "integer", "json", "number", "object", "string"]


def test_an_unknown_type_is_an_error_with_a_suggestion() -> None:
    result = CliRunner().invoke(main, ["transform", "types", "trunc"])
    assert result.exit_code != 0 and "did you mean 'truncate'" in result.output
