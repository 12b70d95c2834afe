"""Cohere's chat and generate operations, for publishers (``entity: cohere.chat``, ``client: cohere``).

Derived facts only: ``cohere.json`` is written by ``python -m alumio_mistral.catalog.cohere
SCHEMAS`` from the request and response schemas of Cohere's public spec (a test regenerates it
and fails on any difference). The names are ours: v1 chat keeps the plain name, v2 chat is
``chat_v2``. Streaming is asked for by the body (``"stream": true``), as for Mistral chat.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from alumio_mistral.catalog.entity import Entity

COHERE_FILE = Path(__file__).with_name("cohere.json")
#: our stable name per Cohere route
NAMES: dict[str, str] = {"/v1/chat": "cohere.chat", "/v2/chat": "cohere.chat_v2", "/v1/generate": "cohere.generate"}
#: the prefix every Cohere entity name starts with
PREFIX = "cohere."


def generate(schemas_path: str | Path) -> list[dict[str, Any]]:
    """The entities of the three operations of a Cohere schemas file, as ``cohere.json`` holds them."""
    schemas = json.loads(Path(schemas_path).read_text(encoding="utf-8"))
    entities = []
    for path, operation in schemas["operations"].items():
        request = operation["request"]["content"]["application/json"]["schema"]
        answers = operation["responses"]["200"]["content"]
        entities.append(Entity(
            name=NAMES[path],
            operation_id=operation["operationId"],
            title=f"Cohere {operation['operationId']}",
            method=operation["method"],
            path=path,
            body="json",
            body_required=True,
            auth="bearer",
            # stateless generation: a repeat costs tokens but changes nothing on the server
            safe_to_retry=True,
            group="cohere",
            response_json="object",
            extra={
                "sse_optional": "stream" in request.get("properties", {}),
                "required": sorted(request.get("required", [])),
                "stream_types": sorted(set(answers) - {"application/json"}),
            },
        ).to_dict())
    return sorted(entities, key=lambda entity: entity["name"])


@lru_cache(maxsize=1)
def cohere_entities() -> dict[str, Entity]:
    """The committed Cohere entities by name (parsed once per process)."""
    data = json.loads(COHERE_FILE.read_text(encoding="utf-8"))
    return {item["name"]: Entity.from_dict(item) for item in data}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m alumio_mistral.catalog.cohere SCHEMAS_JSON", file=sys.stderr)
        return 2
    COHERE_FILE.write_text(json.dumps(generate(argv[0]), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
