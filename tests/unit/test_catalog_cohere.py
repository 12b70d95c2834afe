"""The Cohere catalog: regenerated from the shared schemas file it must equal the committed one,
and its operations are found by name like Mistral's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alumio_mistral.catalog import Catalog, UnknownEntityError
from alumio_mistral.catalog.cohere import COHERE_FILE, generate

SCHEMAS = Path(__file__).parents[2].parent / "shared" / "cohere" / "chat-generate.schemas.json"


@pytest.mark.skipif(not SCHEMAS.exists(), reason="the Cohere schemas file is not beside the project")
def test_the_committed_cohere_catalog_is_what_the_schemas_give():
    assert generate(SCHEMAS) == json.loads(COHERE_FILE.read_text(encoding="utf-8"))


def test_cohere_operations_are_found_by_name():
    catalog = Catalog.default()
    chat, chat_v2, generate_ = (catalog.get(name) for name in ("cohere.chat", "cohere.chat_v2", "cohere.generate"))
    assert [(e.method, e.path) for e in (chat, chat_v2, generate_)] == [
        ("POST", "/v1/chat"), ("POST", "/v2/chat"), ("POST", "/v1/generate")]
    assert chat.extra["required"] == ["message"] and chat_v2.extra["required"] == ["messages", "model"]
    assert generate_.extra["stream_types"] == ["application/stream+json"]
    assert all(e.auth == "bearer" and e.body == "json" for e in (chat, chat_v2, generate_))
    with pytest.raises(UnknownEntityError):
        catalog.get("cohere.embed")
    assert "cohere.chat" not in {entity.name for entity in catalog}  # the Mistral listing stays Mistral's
