"""Printing helpers shared by the commands: JSON for scripts, progress for people.

Progress goes to stderr: a live display on a terminal; elsewhere (CI, pipes, files) a summary
line every few seconds, so logs stay readable and still show that a long run is alive.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from contextlib import AbstractContextManager, nullcontext
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


#: seconds between summary lines off a terminal: a log file shows the run is alive
LINE_INTERVAL = 3.0
#: redraws a second of the live display on a terminal
REFRESH_PER_SECOND = 4


class Progress:
    """Counters of long work for a person watching: entities read, tasks created, tasks
    finished per outgoing, the rate, and the retry wait under way (read from the INFO log
    records that carry a ``retry_wait``, so the transport needs no hook of its own).

    On a terminal it is a live ``rich`` display, redrawn in place and gone at the end (log
    lines print above it). Elsewhere (CI, a file, a pipe) it writes one summary line every
    :data:`LINE_INTERVAL` seconds from a thread of its own, so a stalled run still says so.
    Use it as a context manager; :meth:`finish` prints the last line.
    """

    def __init__(self, label: str, stream: TextIO | None = None, *, live: bool | None = None,
                 interval: float = LINE_INTERVAL) -> None:
        self.label = label
        self.counts: dict[str, int] = {}
        #: outgoing -> status -> tasks finished
        self.outgoing: dict[str, dict[str, int]] = {}
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._interval = interval
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._wait: tuple[float, float, str] | None = None  # (ends at, seconds, reason)
        self._watcher = _RetryWaits(self)
        self._stopped = threading.Event()
        self._display: Any = None
        self._ticker: threading.Thread | None = None

    def __enter__(self) -> Progress:
        logging.getLogger(LOGGER).addHandler(self._watcher)
        if self._live:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self._stream, force_terminal=True)
            self._display = Live(self, console=console, refresh_per_second=REFRESH_PER_SECOND, transient=True,
                                 redirect_stdout=False)
            self._display.start()
        else:
            self._ticker = threading.Thread(target=self._tick, name=f"progress-{self.label}", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the display or the summary lines (idempotent)."""
        logging.getLogger(LOGGER).removeHandler(self._watcher)
        self._stopped.set()
        if self._display is not None:
            self._display.stop()
            self._display = None
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None

    def add(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self.counts[counter] = self.counts.get(counter, 0) + amount

    def finisher(self, outgoing: str) -> Callable[[str], None]:
        """A callback counting each task of ``outgoing`` by the status it finished in."""
        def finished(status: str) -> None:
            with self._lock:
                per = self.outgoing.setdefault(outgoing, {})
                per[status] = per.get(status, 0) + 1

        return finished

    def waiting(self, seconds: float, reason: str) -> None:
        """A retry wait began (shown until it is over)."""
        with self._lock:
            self._wait = (time.monotonic() + seconds, seconds, reason)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def parts(self) -> list[str]:
        """The figures, one group a part: totals with a rate, each outgoing, a retry wait."""
        with self._lock:
            counts, outgoing, wait = dict(self.counts), {k: dict(v) for k, v in self.outgoing.items()}, self._wait
        elapsed = self.elapsed
        busiest = max([counts.get("read", 0), sum(sum(per.values()) for per in outgoing.values())])
        parts = [", ".join(f"{name} {value}" for name, value in counts.items()) or "starting"]
        parts += [f"{name}: " + ", ".join(f"{status} {value}" for status, value in per.items())
                  for name, per in outgoing.items()]
        parts.append(f"{elapsed:.1f}s, {busiest / elapsed:.0f}/s" if elapsed > 0 else "-")
        if wait is not None and (left := wait[0] - time.monotonic()) > 0:
            parts.append(f"retry wait {left:.1f}s of {wait[1]:.1f}s ({wait[2]})")
        return parts

    def line(self) -> str:
        return f"{self.label}: " + " | ".join(self.parts())

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text("\n".join([self.label, *(f"  {part}" for part in self.parts())]))

    def _tick(self) -> None:
        while not self._stopped.wait(self._interval):
            self._write(self.line())

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def finish(self) -> None:
        """Stop, and print the final line (always, terminal or not)."""
        self.close()
        self._write(self.line())


#: the logger whose records carry the retry waits
LOGGER = "alumio_mistral"


def show_progress(label: str, shown: bool) -> AbstractContextManager[Progress | None]:
    """A :class:`Progress` for a person, or ``None`` where a script reads the output (``--json``)."""
    return Progress(label) if shown else nullcontext()


class _RetryWaits(logging.Handler):
    """Passes the ``retry_wait`` of a log record (http/retry.py, outgoing.py) to a progress."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(logging.INFO)
        self._progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        wait = getattr(record, "retry_wait", None)
        if wait is not None:
            self._progress.waiting(float(wait), str(getattr(record, "retry_reason", "")))
