"""fastjson reads what ``json.loads`` reads, the same way, and at orjson's speed where that is so."""

from __future__ import annotations

import json
from types import SimpleNamespace

import orjson
import pytest

from alumio_mistral import fastjson

BEYOND_64_BITS = 2**64 + 1  # orjson reads this literal as a float: 1.8446744073709552e+19


@pytest.mark.parametrize("document", [
    f'{{"id": {BEYOND_64_BITS}}}',
    f'[{-BEYOND_64_BITS}]',
    '{"ids": [1, 2, 123456789012345678901234567890]}',
])
def test_an_integer_beyond_64_bits_keeps_every_digit(document: str) -> None:
    expected = json.loads(document)
    assert fastjson.loads(document) == expected
    assert fastjson.loads(document.encode()) == expected
    assert "float" not in repr(type(fastjson.loads(document.encode())))


def test_a_long_run_of_digits_inside_a_text_reads_the_same() -> None:
    document = '{"phone": "0031201234567890123456", "n": 18446744073709551615}'
    assert fastjson.loads(document.encode()) == {"phone": "0031201234567890123456", "n": 2**64 - 1}


def test_an_entity_stored_with_a_long_integer_reads_back_exactly() -> None:
    """orjson cannot write it, the standard library does; reading it back must not round it."""
    entity = {"id": 10**25 + 7, "name": "big"}
    assert fastjson.loads(fastjson.dumps(entity)) == entity


def test_what_orjson_refuses_the_standard_library_reads() -> None:
    assert fastjson.loads(b'{"x": NaN}')["x"] != fastjson.loads(b'{"x": NaN}')["x"]
    assert fastjson.loads(b'"\\ud800"') == "\ud800"
    with pytest.raises(ValueError):
        fastjson.loads(b'{"x": ')


def test_a_large_document_is_read_by_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """orjson's parse holds about twice the text on top of its value at its peak: too much for a large body."""
    def refuse(data: object) -> object:
        raise AssertionError("orjson read a document over the size limit")

    monkeypatch.setattr(fastjson, "orjson", SimpleNamespace(loads=refuse, dumps=orjson.dumps))
    large = json.dumps({"data": ["x" * 1000] * (fastjson.ORJSON_MAX_BYTES // 1000 + 1)}).encode()
    assert len(fastjson.loads(large)["data"]) == fastjson.ORJSON_MAX_BYTES // 1000 + 1
