"""A secret one test registers does not mask the words of the tests after it (see the
``_secrets_of_this_test_only`` fixture); the two tests run in this order."""

from __future__ import annotations

from alumio_mistral.secrets import redact, register_secret

WORD = "fuzzword"  # what a fuzzed project may put where a key goes


def test_a_test_registers_a_common_word_as_a_secret() -> None:
    register_secret(WORD)
    assert redact(f"client {WORD!r}") == "client '***'"


def test_the_next_test_still_sees_the_word() -> None:
    assert redact(f"client {WORD!r}") == f"client {WORD!r}"
