"""JSON in and out at the speed of ``orjson``, with the standard library where it says no.

Every entity read from a page and written into a task passes through here, so the encoder
sets the pace of a whole run: ``orjson`` is about ten times faster than ``json.dumps`` for an
entity and twice as fast as ``json.loads`` for a page. Where ``orjson`` refuses a value that
``json`` accepts (keys that are not text, integers beyond 64 bits, ``NaN`` in a document,
escaped lone surrogates), the standard library does the work, so what is accepted does not
change. Where ``orjson`` would read a document differently (it reads an integer literal beyond
64 bits as a float, losing its digits), or hold too much memory doing it (a large document),
the standard library reads it instead. One difference remains: ``NaN`` and infinities are
written as ``null`` (they have no JSON form; entities holding them are refused before they
are stored).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import orjson

#: each byte a digit maps to, and every other byte: a run of digits shows as a run of zeros
_DIGIT_RUNS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
#: the shortest run of digits that may be an integer beyond 64 bits (2**64 has 20 digits),
#: which ``orjson`` would read as a float
_LONG_NUMBER = b"0" * 20
#: documents longer than this are read by the standard library: ``orjson``'s parse holds about
#: twice the text on top of the value it builds at its peak (the standard library, nothing on
#: top), and for a large document the peak matters more than the time (a page of 1,000 Mistral
#: files is 0.3 MB; a 5.6 MB document peaked at 63 MiB of RSS against 54)
ORJSON_MAX_BYTES = 1 << 20


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is (``TypeError`` for what JSON cannot hold)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps_joined(values: Iterable[Any]) -> tuple[bytearray, list[int]]:
    """Each value as the UTF-8 of :func:`dumps`, back to back in one buffer, and where each one
    ends in it. Each encoded value is let go as soon as it is copied in: keeping a ``bytes``
    per value alive (a list of them) cost a memory allocation each that took several times
    as long as the encoding itself (1.4 µs against 0.18 µs for an entity)."""
    buffer, ends = bytearray(), []
    end, encode = ends.append, orjson.dumps
    for value in values:
        try:
            buffer += encode(value)
        except TypeError:
            buffer += dumps(value).encode()
        end(len(buffer))
    return buffer, ends


def loads(data: bytes | str) -> Any:
    """The JSON value in ``data``, read as ``json.loads`` reads it (``ValueError`` when it is
    not JSON). The check for long numbers runs in C at about 1.5 GB/s; a long run of digits
    inside a text only sends the document to the standard library, which reads it the same."""
    return loads_finite(data)[0]


def loads_finite(data: bytes | str) -> tuple[Any, bool]:
    """:func:`loads`, and whether every number in the value is sure to be finite: ``orjson``
    refuses ``NaN``, the infinities and numbers beyond a double, so a document it read holds
    none (one the standard library read may), and nobody needs to look for them."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    if len(raw) > ORJSON_MAX_BYTES or _LONG_NUMBER in raw.translate(_DIGIT_RUNS):
        return json.loads(data), False
    try:
        return orjson.loads(data), True
    except ValueError:
        return json.loads(data), False
