"""An ``http`` publisher's ``uri`` template, filled so that data never changes where it points.

The template is configuration and may name any host; the values its placeholders take come
from records and are data. Each value is escaped as one path segment (or one query value
after ``?``), so a ``/``, ``?``, ``#``, ``@`` or a whole URL in a record stays inside its
place; a path segment a value went into may not end up empty, a dot segment or holding a
slash once decoded (like a Mistral path parameter); and a placeholder may not stand where
the scheme or host is written.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

from alumio_mistral.http.client import check_segment
from alumio_mistral.transformers.patterns import Evaluator, compile_value, to_text

#: one ``&{path}`` or ``&{path|default}`` placeholder, kept by ``re.split`` (odd indexes)
_PLACEHOLDER = re.compile(r"(&\{[^{}]*\})")
#: the start of an absolute URL up to its path: ``scheme://host:port`` or ``//host``
_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*")


class UriTemplateError(ValueError):
    """A template whose placeholder could choose the host, or a value that cannot fit its place."""


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of an absolute URL: where a request goes."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


class UriTemplate:
    """Compiled once per outgoing; :meth:`render` gives the URI for one record."""

    def __init__(self, text: str) -> None:
        pieces = _PLACEHOLDER.split(text)
        authority = _AUTHORITY.match(text)
        if authority and len(pieces) > 1 and len(pieces[0]) < authority.end():
            raise UriTemplateError(
                f"{text!r}: a placeholder may not set the scheme, host or port; write them in the uri"
            )
        #: the literal start of the template, up to its first placeholder
        self.prefix = pieces[0]
        self._pieces: list[str | tuple[str, Evaluator]] = [
            (piece, compile_value(piece)) if index % 2 else piece for index, piece in enumerate(pieces)
        ]

    def render(self, record: Any) -> str:
        """The URI for ``record``; raises :class:`UriTemplateError` for a value that cannot fit."""
        rendered: list[str] = []
        in_path = True
        filled: dict[int, str] = {}  # path segment index -> the placeholder that went into it
        for piece in self._pieces:
            if isinstance(piece, str):
                rendered.append(piece)
                in_path = in_path and not any(mark in piece for mark in "?#")
                continue
            placeholder, evaluate = piece
            value = evaluate(record)
            if in_path:
                filled["".join(rendered).count("/")] = placeholder
            rendered.append(quote(value if isinstance(value, str) else to_text(value), safe=""))
        uri = "".join(rendered)
        segments = re.split(r"[?#]", uri, maxsplit=1)[0].split("/")
        for index, placeholder in filled.items():
            problem = check_segment(segments[index])
            if problem:
                raise UriTemplateError(f"placeholder {placeholder}: the path segment {problem}")
        return uri
