"""Every regular expression a project supplies runs on RE2, so no pattern can stall a run.

With Python's ``re``, ``^(a+)+$`` against 50,000 ``a`` and a final ``b`` backtracks through
about 2**50,000 ways of splitting the ``a`` before failing: the tests below that use it never
finished on the old code (a run was blocked for minutes with far shorter texts). On RE2 each
takes milliseconds. They assert results, not times; a regression shows as a hung test.
"""

from __future__ import annotations

from typing import Any

import pytest

from alumio_mistral.transformers import TransformConfigError, TransformError, compile_pipeline
from alumio_mistral.transformers.patterns import compile_pattern
from alumio_mistral.transformers.regex import RegexError, compile_substitution

CATASTROPHIC = "^(a+)+$"
HOSTILE = "a" * 50_000 + "b"


def run(steps: list[dict[str, Any]], entity: Any) -> list[Any]:
    return compile_pipeline(steps).run(entity)


def test_regex_replace_with_a_catastrophic_pattern_returns_at_once() -> None:
    step = {"type": "regex-replace", "path": "s", "pattern": CATASTROPHIC, "replace": "x"}
    assert run([step], {"s": HOSTILE}) == [{"s": HOSTILE}]
    assert run([step], {"s": "aaaa"}) == [{"s": "x"}]


def test_a_matches_condition_with_a_catastrophic_pattern_returns_at_once() -> None:
    step = {"type": "filter", "unless": {"path": "s", "matches": CATASTROPHIC}}  # keeps what matches
    assert run([step], {"s": HOSTILE}) == []
    assert run([step], {"s": "aaa"}) == [{"s": "aaa"}]


def test_rename_by_regex_with_a_catastrophic_pattern_returns_at_once() -> None:
    step = {"type": "rename", "regex": [{"match": CATASTROPHIC, "replace": "only_a"}]}
    assert run([step], {HOSTILE: 1, "aa": 2}) == [{HOSTILE: 1, "only_a": 2}]


def test_a_validate_pattern_with_a_catastrophic_pattern_returns_at_once() -> None:
    step = {"type": "validate", "fields": {"s": {"type": "string", "pattern": CATASTROPHIC}}}
    with pytest.raises(TransformError, match="field 's'"):
        run([step], {"s": HOSTILE})
    assert run([step], {"s": "aaa"}) == [{"s": "aaa"}]


def test_a_jsonpath_filter_and_sub_with_a_catastrophic_pattern_return_at_once() -> None:
    found = compile_pattern(f'$.items[?name =~ "{CATASTROPHIC}"].name')
    assert found.find({"items": [{"name": HOSTILE}, {"name": "aa"}]}) == ["aa"]
    substituted = compile_pattern("$.name.`sub(/(a+)+b/, x)`")
    assert substituted.find({"name": HOSTILE + "c"}) == ["xc"]


@pytest.mark.parametrize(
    "pattern, refused",
    [(r"(a)\1", r"invalid escape sequence: \\1"), ("a(?=b)", r"invalid perl operator: \(\?="), ("(", "missing \\)")],
)
def test_syntax_re2_lacks_is_refused_at_load_naming_the_step(pattern: str, refused: str) -> None:
    steps = [{"type": "trim", "path": "s"}, {"type": "regex-replace", "path": "s", "pattern": pattern, "replace": ""}]
    with pytest.raises(TransformConfigError, match=rf"\[1\]\.pattern: invalid regular expression .*{refused}") as caught:
        compile_pipeline(steps, where="incoming.tickets.entity_transformers")
    assert "RE2 syntax: no backreferences or lookarounds" in str(caught.value)
    assert caught.value.problems[0][1] == "incoming.tickets.entity_transformers[1].pattern"


def test_unsupported_syntax_in_conditions_rename_validate_and_jsonpath_is_refused_at_load() -> None:
    lookahead = "a(?!b)"
    for step, where in [
        ({"type": "filter", "when": {"path": "s", "matches": lookahead}}, "[0].when.matches"),
        ({"type": "rename", "regex": [{"match": lookahead, "replace": ""}]}, "[0].regex[0].match"),
        ({"type": "validate", "fields": {"s": {"pattern": lookahead}}}, "[0].fields.s.value.pattern"),
        ({"type": "copy", "from": f'$.items[?name =~ "{lookahead}"]', "to": "x"}, "[0].from"),
    ]:
        with pytest.raises(TransformConfigError, match="RE2 syntax") as caught:
            compile_pipeline([step])
        assert caught.value.problems[0][1] == where, step


def test_replacements_keep_python_syntax_and_any_text() -> None:
    substitute = compile_substitution(r"(?P<word>\w+)@(\w+)", r"\2 → \g<word>\n\\")
    assert substitute("ana@example, bo@site", 0) == "example → ana\n\\, site → bo\n\\"
    assert substitute("ana@example, bo@site", 1) == "example → ana\n\\, bo@site"
    assert compile_substitution("x*", "-")("abxd", 0) == "-a-b--d-"  # empty matches as in Python


@pytest.mark.parametrize(
    "replacement, message",
    [(r"\2", "refers to group 2; the pattern has 1"), (r"\g<nope>", "group 'nope'"), ("\\", "a backslash at the end"),
     (r"\d", r"bad escape .*\\d")],
)
def test_a_bad_replacement_is_refused_when_compiled(replacement: str, message: str) -> None:
    with pytest.raises(RegexError, match=message):
        compile_substitution("(a)", replacement)
