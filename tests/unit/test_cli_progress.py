"""The progress of long commands: summary lines off a terminal, figures per outgoing, retry waits."""

from __future__ import annotations

import io
import logging
import time

import pytest

from alumio_mistral.cli.output import Progress


def test_off_a_terminal_a_summary_line_comes_every_interval_even_when_nothing_moves() -> None:
    stream = io.StringIO()
    with Progress("run", stream, interval=0.05) as progress:
        progress.add("read", 3)
        time.sleep(0.3)
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 3
    assert all(line.startswith("run: read 3 | ") for line in lines)


def test_lines_stop_when_it_closes_and_finish_prints_the_last_one() -> None:
    stream = io.StringIO()
    with Progress("incoming", stream, interval=0.05) as progress:
        progress.add("read", 2)
        progress.add("created", 2)
    written = stream.getvalue()
    time.sleep(0.15)
    assert stream.getvalue() == written
    progress.finish()
    assert stream.getvalue().splitlines()[-1].startswith("incoming: read 2, created 2 | ")


def test_tasks_are_counted_per_outgoing() -> None:
    progress = Progress("run", io.StringIO())
    triage, archive = progress.finisher("triage"), progress.finisher("archive")
    for status in ("processed", "processed", "failed"):
        triage(status)
    archive("processed")
    assert progress.parts()[1:3] == ["triage: processed 2, failed 1", "archive: processed 1"]


def test_a_logged_retry_wait_is_shown_while_it_lasts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="alumio_mistral")  # as the command line sets it
    stream = io.StringIO()
    log = logging.getLogger("alumio_mistral.http")
    with Progress("run", stream, interval=60) as progress:
        log.info("waiting", extra={"retry_wait": 30.0, "retry_reason": "HTTP 429"})
        assert "retry wait 30.0s of 30.0s (HTTP 429)" in progress.line().replace("29.9s", "30.0s")
        log.info("waiting", extra={"retry_wait": 0.01, "retry_reason": "HTTP 503"})
        time.sleep(0.02)
        assert "retry wait" not in progress.line()
    log.info("after", extra={"retry_wait": 30.0, "retry_reason": "HTTP 429"})
    assert "retry wait" not in progress.line()  # no longer listening once closed


def test_on_a_terminal_the_display_is_live_and_gone_at_the_end() -> None:
    stream = io.StringIO()
    with Progress("run", stream, live=True) as progress:
        progress.add("read", 5000)
        time.sleep(0.4)
    shown = stream.getvalue()
    assert "read 5000" in shown
    assert "\x1b[" in shown  # redrawn in place with cursor moves
