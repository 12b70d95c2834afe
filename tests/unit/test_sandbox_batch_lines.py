"""The sandbox reads a batch input file a line per request, as the service does."""

from __future__ import annotations

import json

from alumio_mistral.sandbox.state.batch import parse_lines


def _line(content: str) -> bytes:
    body = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": content}]}
    return json.dumps({"custom_id": "1", "body": body}, ensure_ascii=False).encode() + b"\n"


def test_a_request_holding_a_line_separator_in_a_text_is_one_request() -> None:
    """JSON allows U+2028 and U+2029 unescaped in a text (orjson writes them so); splitting the
    file with str.splitlines cut such a request in two lines that were not JSON."""
    data = _line("one\u2028two") + _line("three\u2029four") + b"\n"
    requests, problems = parse_lines(data)
    assert problems == []
    assert [request["body"]["messages"][0]["content"] for request in requests] == ["one\u2028two", "three\u2029four"]


def test_windows_line_ends_and_a_line_that_is_not_json_are_told_apart() -> None:
    requests, problems = parse_lines(_line("a").replace(b"\n", b"\r\n") + b"{not json\n")
    assert len(requests) == 1 and problems == ["line 2: not valid JSON"]
