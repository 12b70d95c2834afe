"""Entities per second into tasks: a JSONL file (about a page of entities per transaction), and files.list
paged from the sandbox. Usage:

    python benchmarks/incoming.py [--entities 20000] [--files 2000] [--page-size 100]

The sandbox runs in this process, so the paged figure includes the server's cost on the
same cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.runtime import Runtime
from alumio_mistral.sandbox import Sandbox
from alumio_mistral.tasks import SqliteTaskStore


def jsonl(folder: Path, entities: int, dedup: str) -> float:
    folder.mkdir()
    with (folder / "in.jsonl").open("w") as handle:
        for n in range(entities):
            handle.write(json.dumps({"id": f"e{n}", "n": n, "text": "x" * 200}) + "\n")
    (folder / "alumio.yaml").write_text(
        f"incoming:\n  items:\n    subscriber: {{type: jsonl, path: in.jsonl}}\n    dedup: {dedup}\n"
    )
    project = load_project(folder)
    with SqliteTaskStore(project.store.path) as store:
        started = time.perf_counter()
        stats = Runtime(project, store=store).read()
        elapsed = time.perf_counter() - started
    assert stats.created == entities, stats
    return entities / elapsed


def paged(folder: Path, files: int, page_size: int) -> float:
    folder.mkdir()
    with Sandbox() as sandbox:
        with Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k")) as client:
            for n in range(files):
                client.call("files.upload", files={"file": (f"f{n}.jsonl", "{}\n"), "purpose": (None, "batch")})
        (folder / "alumio.yaml").write_text(
            "clients:\n  mistral: {prototype: mistral, base_uri: '" + sandbox.base_uri + "', api_key: k}\n"
            f"incoming:\n  files:\n    subscriber: {{entity: files.list, page_size: {page_size}}}\n"
        )
        project = load_project(folder)
        with SqliteTaskStore(project.store.path) as store:
            started = time.perf_counter()
            stats = Runtime(project, store=store).read()
            elapsed = time.perf_counter() - started
    assert stats.created == files, stats
    return files / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=2_000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        for dedup in ("always", "new"):
            rate = jsonl(root / f"jsonl-{dedup}", args.entities, dedup)
            print(f"jsonl, dedup {dedup}: {args.entities} entities, {rate:,.0f} tasks/s")
        rate = paged(root / "paged", args.files, args.page_size)
        print(f"files.list from the sandbox, page size {args.page_size}: {args.files} files, {rate:,.0f} tasks/s")


if __name__ == "__main__":
    main()
