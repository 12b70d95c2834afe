"""Hostile project files: each is a `FILE:LINE: dotted.path: message`, at once, from every command.

Alias bombs, self-referring aliases, deep nesting, complex keys, NUL bytes, numbers too long to
parse, a list where a mapping or a name belongs, and numbers out of any sensible range used to
hang, crash with a traceback, or load silently (``concurrency: 2.5`` ran with 2).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.config import ConfigError, check_project, load_project
from alumio_mistral.config.source import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_VALUES

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]\n" for previous, name in zip("abcdefgh", "bcdefghi")
)
STDOUT_OUT = "outgoing:\n  o:\n    publisher: {type: stdout}\n"

#: (file text, dotted path, fragment of the message, line)
HOSTILE = {
    "billion laughs": (LAUGHS, "", f"more than {MAX_VALUES} values", 5),
    "anchor bomb in a list": ("a: &a [" + "y, " * 2000 + "y]\nb: [" + ", ".join(["*a"] * 30) + "]\n",
                              "", f"more than {MAX_VALUES} values", 2),
    "recursive alias": ("description: &a [*a]\n", "", "alias *a refers to a value that contains it", 1),
    "recursive mapping alias": ("incoming: &a {x: *a}\n", "", "alias *a refers to a value that contains it", 1),
    "deep flow nesting": ("description: " + "[" * 5000 + "]" * 5000 + "\n", "", "nesting depth", 1),
    "deep nesting within the bound": ("transformers:\n  t: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",
                                      "", f"nested more than {MAX_DEPTH} levels deep", 2),
    "complex key": ("incoming:\n  ? [a, b]\n  : {}\n", "incoming", "a key must be a plain name", 2),
    "mapping key": ("? {a: 1}\n: c\n", "", "a key must be a plain name", 1),
    "NUL byte": ("description: a\x00b\n", "", "a NUL character", 1),
    "escaped NUL": ('description: "a\\0b"\n', "description", "a NUL character", 1),
    "5,000-digit int": (STDOUT_OUT + "    concurrency: " + "9" * 5000 + "\n", "outgoing.o.concurrency",
                        "a number of 5000 characters", 4),
    "list as a client": ("clients: {mistral: [x]}\n", "clients.mistral", "expected a mapping", 1),
    "list as a subscriber type": ("incoming:\n  i:\n    subscriber: {type: [csv], path: x}\n",
                                  "incoming.i.subscriber.type", "expected one name, got list", 3),
    "list as a step type": ("incoming:\n  i:\n    subscriber: {type: stdin}\n    entity_transformers:\n"
                            "      - type: [set]\n", "incoming.i.entity_transformers[0].type",
                            "unknown transformer type", 5),
    "huge timeout": ("clients: {mistral: {read_timeout: 1.0e300}}\n", "clients.mistral.read_timeout",
                     "must be above 0 and at most 3600", 1),
    "fractional concurrency": (STDOUT_OUT + "    concurrency: 2.5\n", "outgoing.o.concurrency",
                               "expected a whole number", 4),
    "huge attempts": (STDOUT_OUT + "    failure: {attempts: 1000000000000}\n", "outgoing.o.failure.attempts",
                      "must be from 1 to 100", 4),
    "attempts written 1e12": (STDOUT_OUT + "    failure: {attempts: 1e12}\n", "outgoing.o.failure.attempts",
                              "expected a whole number", 4),
    "infinite backoff": (STDOUT_OUT + "    failure: {backoff: .inf}\n", "outgoing.o.failure.backoff",
                         "not permitted", 4),
    "unknown tag": ("description: !!python/object:os.system x\n", "", "could not determine a constructor", 1),
    "tag on a mapping": ("incoming: !!set {a, b}\n", "incoming", "unsupported tag", 1),
}


def _write(folder: Path, text: str) -> Path:
    file = folder / "alumio.yaml"
    file.write_text(text, encoding="utf-8")
    return file


def _assert_one_problem(problems: list, file: Path, path: str, fragment: str, line: int) -> None:
    found = [p for p in problems if p.path == path and fragment in p.message]
    assert found, [str(problem) for problem in problems]
    assert (found[0].file, found[0].line) == (str(file), line)
    assert str(found[0]).startswith(f"{file}:{line}: ")


@pytest.mark.parametrize(("text", "path", "fragment", "line"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_file_is_a_located_problem_in_under_a_second(
    tmp_path: Path, text: str, path: str, fragment: str, line: int
) -> None:
    file = _write(tmp_path, text)
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_project(file, environ={})
    _assert_one_problem(caught.value.problems, file, path, fragment, line)
    project, problems = check_project(file, environ={})
    assert project is None
    _assert_one_problem(problems, file, path, fragment, line)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("command", [["validate"], ["run"], ["incoming", "run"], ["tasks", "list"],
                                     ["storage", "list"], ["call", "models.list", "--project"]])
@pytest.mark.parametrize("case", ["billion laughs", "list as a client", "fractional concurrency"])
def test_every_command_reports_the_same_located_problem(tmp_path: Path, command: list[str], case: str) -> None:
    text, path, fragment, line = HOSTILE[case]
    file = _write(tmp_path, text)
    result = CliRunner().invoke(main, [*command, str(file)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{file}:{line}: {path or '(top level)'}: " in result.output and fragment in result.output


def test_a_file_larger_than_the_bound_is_refused_unread(tmp_path: Path) -> None:
    file = _write(tmp_path, "description: " + "x" * MAX_DOCUMENT_BYTES + "\n")
    with pytest.raises(ConfigError, match=f"a project file may have at most {MAX_DOCUMENT_BYTES}"):
        load_project(file, environ={})


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        (os.urandom(8) + b"\xff\xfe" + os.urandom(64), "not UTF-8 text", 1),
        (b"A=1\nB=2\x00\n", "a NUL character", 2),
    ],
    ids=["binary", "NUL"],
)
def test_a_binary_dotenv_is_a_located_problem(tmp_path: Path, content: bytes, message: str, line: int) -> None:
    _write(tmp_path, "description: ${A:-x}\n")
    (tmp_path / ".env").write_bytes(content.replace(b"\n", b"") if line == 1 else content)
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path, environ={})
    [problem] = caught.value.problems
    assert (problem.file, problem.line) == (str(tmp_path / ".env"), line) and message in problem.message


def test_merge_keys_still_work_and_the_key_written_wins(tmp_path: Path) -> None:
    file = _write(tmp_path, """\
outgoing:
  a: &base {publisher: {type: stdout}, concurrency: 2}
  b: {<<: *base, concurrency: 3}
  c: {<<: [*base]}
""")
    project = load_project(file, environ={})
    assert [project.outgoing[name].concurrency for name in "abc"] == [2, 3, 2]
