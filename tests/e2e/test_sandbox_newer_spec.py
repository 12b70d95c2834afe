"""A newer spec extends the sandbox (its operations served, validated and answered from their
schemas) and the ``call`` command of a project whose ``spec:`` key names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from alumio_mistral.catalog import Catalog
from alumio_mistral.cli import main
from alumio_mistral.sandbox import Sandbox

pytestmark = pytest.mark.e2e
NEWER_SPEC = {
    "openapi": "3.1.0",
    "paths": {
        "/v1/gizmos": {
            "get": {"tags": ["gizmos"], "parameters": [
                {"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/GizmoList"}}}}}},
            "post": {"tags": ["gizmos"], "operationId": "gizmos_create", "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Gizmo"}}}},
                "responses": {"201": {"description": "made", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Gizmo"}}}}}},
        },
    },
    "components": {"schemas": {
        "Gizmo": {"type": "object", "required": ["id", "name", "created_at"], "description": "prose",
                  "properties": {"id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
                                 "created_at": {"type": "integer"}}},
        "GizmoList": {"type": "object", "required": ["data"],
                      "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Gizmo"}}}},
    }},
}
AUTH = {"Authorization": "Bearer k"}


@pytest.fixture
def newer_spec(tmp_path: Path) -> Path:
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(NEWER_SPEC), encoding="utf-8")
    return path


def test_a_newer_specs_operations_are_served_from_their_schemas(newer_spec: Path) -> None:
    with Sandbox(spec_path=newer_spec) as sandbox:
        listed = requests.get(sandbox.base_uri + "/v1/gizmos", headers=AUTH)
        assert listed.status_code == 200
        gizmo = listed.json()["data"][0]
        assert set(gizmo) == {"id", "name", "created_at"} and len(gizmo["id"]) == 36
        assert requests.get(sandbox.base_uri + "/v1/gizmos?page_size=0", headers=AUTH).status_code == 422
        made = requests.post(sandbox.base_uri + "/v1/gizmos", json={"name": "g"}, headers=AUTH)
        assert made.status_code == 422 and {"loc": ["body", "id"], "msg": "Field required", "type": "missing"} in made.json()["detail"]
        assert requests.get(sandbox.base_uri + "/v1/models", headers=AUTH).status_code == 200
    with Sandbox() as plain:
        assert requests.get(plain.base_uri + "/v1/gizmos", headers=AUTH).status_code == 404


def test_call_with_a_project_uses_its_spec(newer_spec: Path, tmp_path: Path) -> None:
    name = next(entity.name for entity in Catalog.load(newer_spec) if entity.path == "/v1/gizmos" and entity.method == "GET")
    with Sandbox(spec_path=newer_spec) as sandbox:
        (tmp_path / "alumio.yaml").write_text(
            f"spec: newer.json\nclients:\n  mistral: {{base_uri: '{sandbox.base_uri}', api_key: sk-newer-spec-1234}}\n",
            encoding="utf-8")
        result = CliRunner().invoke(main, ["call", name, "--project", str(tmp_path), "-p", "page_size=2"])
    assert result.exit_code == 0, result.output
    assert "data" in json.loads(result.output)
