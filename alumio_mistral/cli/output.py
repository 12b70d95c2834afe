"""Printing helpers shared by the commands: JSON for scripts, progress for people.

Progress goes to stderr and redraws in place on a terminal; elsewhere (CI, pipes) only a
final summary line is printed, so logs stay readable.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, TextIO

import click

from alumio_mistral.errors import AlumioError


#: exit codes of every command: done / something failed (replayable) / click's usage error /
#: a person must look (tasks in ``review``: the server may have acted). Review wins over
#: failures: failed tasks can be replayed by a script (``tasks retry``), review tasks cannot.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REVIEW = 0, 1, 2, 3


def exit_code(*, failed: bool, review: bool) -> int:
    """The exit code for a command that failed tasks and/or left tasks in ``review``."""
    if review:
        return EXIT_REVIEW
    return EXIT_FAILED if failed else EXIT_OK


def exit_after_publish(stats: Any) -> None:
    """Say what needs attention after publishing (a run, ``tasks retry``) and leave with the
    exit code :func:`exit_code` gives; return quietly when all went well."""
    for line in stats.stopped:
        click.echo(f"stopped: {line}", err=True)
    code = exit_code(failed=not stats.ok, review=stats.needs_review)
    if code == EXIT_OK:
        return
    problems = [f"{stats.failed + stats.read_failed} failure(s)"] if stats.failed or stats.read_failed else []
    problems += [f"{len(stats.stopped)} outgoing(s) stopped early"] if stats.stopped else []
    problems += [f"{stats.review} task(s) in review need a person"] if stats.needs_review else []
    fail(", ".join(problems), code)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (for ``--json`` options)."""
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str, ensure_ascii=False))


def fail(message: str, code: int = 1) -> None:
    """Print ``message`` on stderr and leave with a non-zero exit code."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def run_or_fail(action: Callable[[], Any]) -> Any:
    """Run ``action``; turn an :class:`AlumioError` into a clear message and exit code 1."""
    try:
        return action()
    except AlumioError as error:
        fail(str(error))


class Progress:
    """Counters for long work, shown live on a terminal and as a summary line otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.label = label
        self.counts: dict[str, int] = {}
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty()
        self._interval = interval
        self._started = time.monotonic()
        self._last_draw = 0.0

    def add(self, counter: str, amount: int = 1) -> None:
        self.counts[counter] = self.counts.get(counter, 0) + amount
        if self._live and time.monotonic() - self._last_draw >= self._interval:
            self._draw(end="\r")

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def line(self) -> str:
        parts = [f"{name} {value}" for name, value in self.counts.items()]
        elapsed = self.elapsed
        total = sum(self.counts.values())
        rate = f"{total / elapsed:.0f}/s" if elapsed > 0 else "-"
        return f"{self.label}: " + ", ".join(parts) + f" ({elapsed:.1f}s, {rate})"

    def _draw(self, end: str) -> None:
        self._last_draw = time.monotonic()
        self._stream.write("\x1b[2K" + self.line() + end if self._live else self.line() + end)
        self._stream.flush()

    def finish(self) -> None:
        """Print the final line (always, terminal or not)."""
        self._draw(end="\n")
