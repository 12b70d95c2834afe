"""A project can name a newer spec file whose operations extend the catalog it is checked against."""

from __future__ import annotations

from pathlib import Path

import pytest

from alumio_mistral.catalog import Catalog
from alumio_mistral.config import ConfigError, load_project

GADGETS = "paths:\n  /v1/gadgets:\n    get:\n      tags: [gadgets]\n      responses: {'200': {description: ok}}\n"
PROJECT = "{spec}incoming:\n  gadgets:\n    subscriber: {{entity: gadgets.list}}\n"


def write(folder: Path, spec_line: str) -> Path:
    (folder / "newer.yaml").write_text(GADGETS, encoding="utf-8")
    (folder / "alumio.yaml").write_text(PROJECT.format(spec=spec_line), encoding="utf-8")
    return folder


def test_a_project_spec_adds_its_operations_to_the_project_catalog(tmp_path: Path) -> None:
    project = load_project(write(tmp_path, "spec: newer.yaml\n"), environ={})
    assert project.catalog.get("gadgets.list").path == "/v1/gadgets"
    assert "gadgets.list" not in Catalog.default()


def test_without_the_spec_the_entity_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"incoming\.gadgets\.subscriber\.entity: unknown entity 'gadgets.list'"):
        load_project(write(tmp_path, ""), environ={})


def test_an_unreadable_spec_is_a_problem_at_spec(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alumio\.yaml:1: spec: .*missing\.yaml"):
        load_project(write(tmp_path, "spec: missing.yaml\n"), environ={})


def test_a_project_without_spec_uses_the_committed_catalog(tmp_path: Path) -> None:
    (tmp_path / "alumio.yaml").write_text("incoming: {}\n", encoding="utf-8")
    assert load_project(tmp_path, environ={}).catalog is Catalog.default()
