"""How fast the dashboard answers with a million tasks in the SQLite store.

Writes 1,000,000 tasks (three outgoings, statuses mostly processed, their updates spread over
two days) straight into a fresh store in one transaction, serves the dashboard over loopback
and times 20 requests of each page: the tasks page (the goal: median under 200 ms), its
filters, a page deep in the keyset, and the overview (counts and the per-hour chart).

Run: python benchmarks/dashboard.py [--tasks N]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
import yaml

from alumio_mistral.config import load_project
from alumio_mistral.runtime import Runtime
from alumio_mistral.service.app import ServiceApp
from alumio_mistral.service.dashboard.app import dashboard_for
from alumio_mistral.tasks import SqliteTaskStore
from alumio_mistral.wsgi_server import BackgroundServer

ROUNDS = 20
GOAL_MS = 200.0
OUTGOINGS = ("chat", "files", "embed")


def write_project(folder: Path) -> Path:
    """A project the dashboard can load; nothing is ever sent."""
    folder.mkdir(parents=True, exist_ok=True)
    publisher = {"publisher": {"entity": "chat.complete", "body": "request"}}
    document = {
        "clients": {"mistral": {"base_uri": "http://127.0.0.1:9", "api_key": "bench-key-not-used"}},
        "incoming": {"items": {"subscriber": {"type": "jsonl", "path": "items.jsonl"}, "identity": "id"}},
        "outgoing": {name: publisher for name in OUTGOINGS},
        "routes": [{"incoming": "items", "outgoing": name} for name in OUTGOINGS],
    }
    (folder / "items.jsonl").write_text("")
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def fill(path: Path, count: int) -> float:
    """``count`` tasks in one transaction with one executemany; returns the seconds it took.

    A raw connection without syncs, the indexes dropped during the insert and built again after
    it (from their own stored SQL): minutes become seconds, and the store ends up as it would.
    """
    SqliteTaskStore(path).close()  # the schema, by the store's own migrations
    now = datetime.now(timezone.utc)
    error = json.dumps({"type": "ApiError", "message": "upstream said no", "status": 422})

    def rows():
        for n in range(count):
            status = "failed" if n % 13 == 0 else "new" if n % 50 == 1 else "processed"
            updated = (now - timedelta(seconds=(count - n) * 172_800 / count)).isoformat(timespec="milliseconds")
            yield ("items", OUTGOINGS[n % 3], json.dumps({"id": f"item-{n}", "text": f"hello {n}"}), f"item-{n}",
                   status, 1, updated, updated, error if status == "failed" else None)

    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
                         " AND sql IS NOT NULL").fetchall()
    db.execute("BEGIN")
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    db.executemany(
        "INSERT INTO tasks (incoming, outgoing, entity, identity, status, attempts, created_at, updated_at,"
        " last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    for _, sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")  # no ANALYZE: a real store has no statistics either
    db.close()
    return time.perf_counter() - started


def median_ms(session: requests.Session, url: str) -> float:
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        answer = session.get(url, timeout=60)
        timings.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    count = parser.parse_args().tasks
    with tempfile.TemporaryDirectory() as folder:
        project = write_project(Path(folder) / "p")
        database = project / ".alumio" / "tasks.db"
        print(f"wrote {count:,} tasks in {fill(database, count):.1f} s")
        with SqliteTaskStore(database) as store:
            with Runtime(load_project(project, environ={}), store=store) as runtime:
                app = ServiceApp(health=lambda: (True, {}), metrics=lambda: (b"", "text/plain"),
                                 dashboard=dashboard_for(runtime))
                server = BackgroundServer(app, ident="dashboard-bench").start()
                try:
                    session, base = requests.Session(), server.base_uri
                    pages = {
                        "tasks page": "/tasks",
                        "tasks, failed": "/tasks?status=failed",
                        "tasks, outgoing files + failed": "/tasks?outgoing=files&status=failed",
                        "tasks, outgoing files": "/tasks?outgoing=files",
                        "tasks, incoming items": "/tasks?incoming=items",
                        "tasks, a page half way down": f"/tasks?before={count // 2}",
                        "tasks, text found often": "/tasks?q=hello+1",
                        "task detail": f"/tasks/{count // 2}",
                        "overview": "/",
                    }
                    for label, path in pages.items():
                        took = median_ms(session, base + path)
                        goal = f"  (goal < {GOAL_MS:.0f} ms: {'met' if took < GOAL_MS else 'MISSED'})" \
                            if label == "tasks page" else ""
                        print(f"{label:<34} median of {ROUNDS}: {took:7.1f} ms{goal}")
                finally:
                    server.stop()


if __name__ == "__main__":
    main()
