"""An operation that only the project's newer spec knows can be read and published."""

from __future__ import annotations

import json
from pathlib import Path

import responses

from alumio_mistral import engine
from alumio_mistral.config import load_project

BASE = "http://mistral.test"
NEWER_SPEC = """\
paths:
  /v1/gadgets:
    get:
      tags: [gadgets]
      parameters:
        - {name: page, in: query, schema: {type: integer}}
        - {name: page_size, in: query, schema: {type: integer}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  data: {type: array, items: {type: object}}
                  total: {type: integer}
  /v1/gadgets/{gadget_id}/polish:
    post:
      tags: [gadgets]
      parameters:
        - {name: gadget_id, in: path, required: true, schema: {type: string}}
      responses:
        '204': {description: polished}
"""
PROJECT = f"""\
spec: newer.yaml
clients:
  mistral: {{base_uri: "{BASE}", api_key: sk-spec-test-key-1234}}
incoming:
  gadgets: {{subscriber: {{entity: gadgets.list, page_size: 2}}}}
outgoing:
  polish:
    publisher: {{entity: gadgets.polish, path_params: {{gadget_id: "&{{id}}"}}}}
routes:
  - {{incoming: gadgets, outgoing: polish}}
"""


@responses.activate
def test_a_run_uses_operations_from_the_projects_spec(tmp_path: Path) -> None:
    (tmp_path / "newer.yaml").write_text(NEWER_SPEC, encoding="utf-8")
    (tmp_path / "alumio.yaml").write_text(PROJECT, encoding="utf-8")
    pages = [{"data": [{"id": "g1"}, {"id": "g2"}], "total": 3}, {"data": [{"id": "g3"}], "total": 3}]
    for page in pages:
        responses.get(f"{BASE}/v1/gadgets", body=json.dumps(page), content_type="application/json")
    for gadget in ("g1", "g2", "g3"):
        responses.post(f"{BASE}/v1/gadgets/{gadget}/polish", status=204)
    stats = engine.run(load_project(tmp_path, environ={}))
    assert (stats.read, stats.created, stats.processed, stats.failed) == (3, 3, 3, 0)
    assert [call.request.method for call in responses.calls] == ["GET", "GET", "POST", "POST", "POST"]
