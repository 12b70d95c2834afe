"""Logging options of every command: -v/-q, --log-level, --log-format json with secrets masked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.cli.logs import JsonFormatter, StderrHandler, configure_logging, level_for
from alumio_mistral.secrets import register_secret

SECRET = "sk-logging-secret-31337"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("verbose", "quiet", "level", "expected"),
    [(0, 0, None, logging.WARNING), (1, 0, None, logging.INFO), (2, 0, None, logging.DEBUG), (5, 0, None, logging.DEBUG),
     (0, 1, None, logging.ERROR), (0, 9, None, logging.CRITICAL), (2, 0, "error", logging.ERROR)],
)
def test_level_for(verbose: int, quiet: int, level: str | None, expected: int) -> None:
    assert level_for(verbose, quiet, level) == expected


def test_json_lines_mask_secrets_and_keep_extra_fields(capsys: pytest.CaptureFixture[str]) -> None:
    register_secret(SECRET)
    configure_logging(logging.INFO, "json")
    log = logging.getLogger("alumio_mistral.test")
    log.info("waiting with key %s", SECRET, extra={"retry_wait": 2.5})
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["waiting with key ***", "failed"]
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "alumio_mistral.test" and lines[0]["retry_wait"] == 2.5
    assert "ValueError: bad key ***" in lines[1]["exception"]
    assert SECRET not in json.dumps(lines)


def test_the_package_logs_info_for_the_progress_display_even_when_warnings_are_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(logging.WARNING)
    assert logging.getLogger("alumio_mistral").isEnabledFor(logging.INFO)
    logging.getLogger("alumio_mistral.test").info("not printed")
    logging.getLogger("alumio_mistral.test").warning("printed")
    assert capsys.readouterr().err == "WARNING alumio_mistral.test: printed\n"


def test_the_options_are_on_the_group_for_every_command() -> None:
    result = CliRunner().invoke(main, ["--log-format", "json", "-v", "entities", "delete model", "--json"])
    assert result.exit_code == 0, result.output
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, StderrHandler))
    assert handler.level == logging.INFO and isinstance(handler.formatter, JsonFormatter)
    result = CliRunner().invoke(main, ["--log-level", "loud", "entities"])
    assert result.exit_code == 2 and "--log-level" in result.output
