"""Fuzzing project files: every example loads, or is a `FILE:LINE: dotted.path: message` list.

Two generators: valid projects with one part broken (a wrong type at a random dotted path, a
huge number, deep nesting, odd unicode, a NUL, a list for a mapping, a key added or removed),
and raw YAML texts assembled from the pieces that broke the loader before (anchors, aliases,
merge keys, tags, complex keys, long numbers). Never a traceback, each example under a second.
``ALUMIO_FUZZ_EXAMPLES`` raises the number of examples (1,000 each by default).
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alumio_mistral.config import ConfigError, Project, check_project, load_project

EXAMPLES = int(os.environ.get("ALUMIO_FUZZ_EXAMPLES", "1000"))
FUZZ = settings(max_examples=EXAMPLES, deadline=1000, suppress_health_check=[HealthCheck.too_slow])

VALID_PROJECTS: list[dict[str, Any]] = [
    {
        "description": "triage",
        "incoming": {"tickets": {"subscriber": {"type": "csv", "path": "tickets.csv"}, "identity": "id",
                                 "dedup": "new"}},
        "outgoing": {"triage": {
            "publisher": {"entity": "chat.complete"},
            "entity_transformers": [{"use": "mistral/chat-request", "with": {"prompt": "&{subject}", "max_tokens": 5}}],
            "response_transformers": [{"use": "mistral/chat-answer"}, {"type": "set", "path": "x", "value": "&{id}"}],
            "then": {"type": "jsonl", "path": "out/triage.jsonl"},
            "failure": {"policy": "retry", "attempts": 3, "backoff": 1.0},
            "concurrency": 4,
        }},
        "routes": [{"incoming": "tickets", "outgoing": ["triage"]}],
    },
    {
        "clients": {
            "mistral": {"api_key": "sk-fuzz-0123456789", "read_timeout": 30, "max_attempts": 2, "rate_limit": 5},
            "hook": {"prototype": "generic", "base_uri": "https://hooks.example.com", "auth": "header",
                     "api_key": "${HOOK_KEY:-hk-0123456789}", "headers": {"X-Team": "data"}},
        },
        "incoming": {"models": {"subscriber": {"entity": "models.list"}, "dedup": "changed",
                                "entity_transformers": [{"type": "copy", "from": "id", "to": "name"}]}},
        "outgoing": {"post": {"publisher": {"type": "http", "client": "hook", "uri": "/models",
                                            "method": "post"}, "disabled": True}},
        "routes": [{"incoming": "models", "outgoing": "post"}],
        "store": {"path": "state/tasks.db"},
    },
    {
        "transformers": {"row": {"steps": [{"type": "rename", "from": "a", "to": "b"}]}},
        "incoming": {"lines": {"subscriber": {"type": "jsonl", "path": "in.jsonl"},
                               "entity_transformers": [{"use": "row"}]}},
        "outgoing": {"out": {"publisher": {"type": "stdout"}}},
        "routes": [{"incoming": "lines", "outgoing": "out"}],
    },
]


def _nested(depth: int) -> Any:
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**18, max_value=10**60) | st.integers(min_value=-(10**60), max_value=-1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFFF, exclude_categories=("Cs",)), max_size=8),
    st.lists(st.integers() | st.text(max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers() | st.none(), max_size=4),
    st.integers(min_value=1, max_value=120).map(_nested),
    st.sampled_from(["${UNSET}", "${BAD", "$${x}", "${A:-}", "sandbox", "http://127.0.0.1:9", "&{id}", "-1",
                     "1e400", "2.5", "", " ", "a.b", "ftp://x", "mistral", "csv", "chat.complete", "[x]", "\u2019",
                     "x" * 5000, "~nobody/x", "../../etc/passwd"]),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in ``data``: mappings' keys and lists' indexes, as tuples."""
    yield prefix
    children = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in children:
        yield from _paths(value, (*prefix, key))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    *parents, last = path
    holder = data
    for key in parents:
        holder = holder[key]
    holder[last] = value
    return data


@st.composite
def broken_projects(draw: st.DrawFn) -> Any:
    """A valid project with one to three places replaced, removed or given an extra key."""
    data: Any = copy.deepcopy(draw(st.sampled_from(VALID_PROJECTS)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(data))))
        action = draw(st.sampled_from(["replace", "remove", "add", "wrap"]))
        holder: Any = data
        for key in path[:-1]:
            holder = holder[key]
        if action == "remove" and path:
            del holder[path[-1]]
        elif action == "add" and isinstance(_get(data, path), dict):
            _get(data, path)[draw(st.text(max_size=12) | st.sampled_from(["type", "client", "path", "with"]))] = draw(
                HOSTILE_VALUES)
        elif action == "wrap":  # a list where a mapping or a name belongs
            data = _set(data, path, [_get(data, path)])
        else:
            data = _set(data, path, draw(HOSTILE_VALUES))
    return data


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


YAML_PIECES = st.sampled_from([
    "incoming:", "outgoing:", "clients:", "routes:", "transformers:", "store:", "description:", "\n", "  ", "    ",
    "- ", ": ", "{", "}", "[", "]", ", ", "&a ", "&b ", "*a", "*b", "<<: ", "? ", "!!str ", "!!int ", "!!set ",
    "!!binary ", "!!python/name:os.system ", "!custom ", "'", '"', "# c", "\t", "9" * 120, "1e9", "1.0e300", ".inf",
    ".nan", "~", "null", "true", "0x1F", "0o17", "2001-12-14", "subscriber:", "publisher:", "type: csv",
    "type: stdout", "path: x.csv", "entity: chat.complete", "concurrency: ", "failure: {attempts: ", "---\n",
    "...\n", "%YAML 1.1\n", "\x00", "\ufeff", "\u2028", "\\0", "${UNSET}", "${", "&{id}", "|\n", ">\n",
])
RAW_YAML = st.lists(YAML_PIECES | st.text(max_size=4), max_size=40).map("".join)


def _assert_clean(file: Path) -> None:
    """A Project, or a ConfigError whose problems each name this file and a line."""
    try:
        loaded = load_project(file, environ={})
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            text = str(problem)
            if problem.file == str(file):
                assert problem.line is not None, text
                assert text.startswith(f"{file}:{problem.line}: "), text
        assert check_project(file, environ={})[0] is None
    else:
        assert isinstance(loaded, Project)


@FUZZ
@given(data=broken_projects())
def test_a_broken_project_loads_or_lists_located_problems(tmp_path_factory: Any, data: Any) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    file = folder / "alumio.yaml"
    file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _assert_clean(file)


@FUZZ
@given(text=RAW_YAML)
def test_raw_yaml_text_loads_or_lists_located_problems(tmp_path_factory: Any, text: str) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    file = folder / "alumio.yaml"
    file.write_text(text, encoding="utf-8", errors="surrogatepass")
    _assert_clean(file)
