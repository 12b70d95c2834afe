"""Regular expressions from a project, compiled with RE2 so that matching is linear in the text.

Python's ``re`` backtracks: ``^(a+)+$`` against 50,000 ``a`` and one ``b`` runs for longer than
anyone waits, so one such pattern (in a step, a condition or an entity field) would block a
whole run. RE2 (the ``google-re2`` package) never backtracks. It refuses the few features that
need backtracking, backreferences (``\\1`` inside a pattern) and lookarounds (``(?=``, ``(?!``,
``(?<=``, ``(?<!``), and that refusal is reported when the project is loaded, not per entity.

Replacement texts keep Python's syntax (``\\1``, ``\\g<name>``, ``\\n``) and are checked when
loaded too: a group the pattern does not have is a configuration error.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

import re2

#: the syntax RE2 leaves out, named in every error so the fix is obvious
RE2_NOTE = "RE2 syntax: no backreferences or lookarounds"

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is raised to us; RE2 would also print it to stderr

#: a backslash sequence of a replacement text (our own fixed pattern: Python's re is safe here)
_REPLACEMENT_ESCAPE = re.compile(r"\\(?:g<([^>]*)>|([1-9][0-9]?)|(.)|\Z)", re.DOTALL)
_CHARACTER_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a", "\\": "\\"}

Substitution = Callable[[str, int], str]
"""``substitute(text, count)``: ``text`` with the first ``count`` matches replaced (0 = all)."""


class RegexError(ValueError):
    """A regular expression or replacement text that cannot be used (raised when loading)."""


@lru_cache(maxsize=1024)
def compile_regex(text: str) -> Any:
    """``text`` compiled with RE2 (``search``, ``match``, ``finditer``... as in ``re``)."""
    try:
        return re2.compile(text, _OPTIONS)
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else error
        raise RegexError(f"invalid regular expression {text!r}: {reason} ({RE2_NOTE})") from None


def _group(regex: Any, reference: str) -> int:
    number = int(reference) if reference.isdigit() else regex.groupindex.get(reference)
    if number is None:
        raise RegexError(f"replacement refers to group {reference!r}, which the pattern does not name")
    if number > regex.groups:
        raise RegexError(f"replacement refers to group {number}; the pattern has {regex.groups}")
    return number


def _pieces(regex: Any, replacement: str) -> list[str | int]:
    """The replacement as literal texts and group numbers, in order."""
    pieces: list[str | int] = []
    literal: list[str] = []
    position = 0
    for escape in _REPLACEMENT_ESCAPE.finditer(replacement):
        literal.append(replacement[position : escape.start()])
        position = escape.end()
        name, number, character = escape.groups()
        if name is not None or number is not None:
            pieces.extend(("".join(literal), _group(regex, name if name is not None else number)))
            literal = []
        elif character in _CHARACTER_ESCAPES:
            literal.append(_CHARACTER_ESCAPES[character])
        elif character is None or (character.isascii() and character.isalnum()):
            shown = "a backslash at the end" if character is None else f"\\{character}"
            raise RegexError(f"bad escape in replacement {replacement!r}: {shown} (write \\\\ for a backslash)")
        else:
            literal.append("\\" + character)  # as in Python: other escapes keep their backslash
    pieces.append("".join(literal) + replacement[position:])
    return [piece for piece in pieces if piece != ""]


def compile_substitution(pattern: str, replacement: str) -> Substitution:
    """A function replacing matches of ``pattern`` by ``replacement``; both checked now."""
    regex = compile_regex(pattern)
    pieces = _pieces(regex, replacement)

    def substitute(text: str, count: int = 0) -> str:
        out: list[str] = []
        end = 0
        for number, match in enumerate(regex.finditer(text), 1):
            out.append(text[end : match.start()])
            out.extend(piece if type(piece) is str else (match.group(piece) or "") for piece in pieces)
            end = match.end()
            if number == count:
                break
        if not out:
            return text
        out.append(text[end:])
        return "".join(out)

    return substitute
