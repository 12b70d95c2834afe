"""Reading Mistral's ``files.list`` from a fast loopback server: us next to a bare loop and dlt.

One table per run: for each size, the wall time of each work (its imports and setup left
out), its ratio to a bare ``requests.Session`` loop over the same pages (the limit: what
reading costs at all) and its peak RSS. Every measurement runs in a fresh child process (so peak RSS is its own and no
import or cache carries over); each figure is the median of ``--repeat`` runs, interleaved
(work A, B, C, A, B, C...) so that a noisy neighbour on a shared machine hurts every work alike.

The server runs in its own process and answers from pre-built page bodies (pages of 1,000
entities in the shape of ``GET /v1/files``), so it is never the bottleneck. Usage:

    pip install -e '.[bench]'      # brings the optional peer, dlt
    python benchmarks/peers.py [--sizes 100000 1000000] [--repeat 3] [--works bare subscriber ...]

Works (dlt's are skipped when dlt is not installed):

- ``bare``: ``requests.Session`` loop, ``json.loads`` each page, count its ``data``
- ``subscriber``: our subscriber's ``records()`` over the same pages
- ``incoming``: our ``incoming run`` into SQLite tasks (``dedup: always``, one route)
- ``incoming-new``: the same with ``identity: id`` and ``dedup: new`` (not run by default)
- ``run-jsonl``: our full ``run`` to a JSONL file (which writes ahead: each batch read is written,
  synced, then stored with its tasks finished)
- ``store-floor``: what the SQLite task store alone costs a run through ``new`` tasks, no HTTP
  and no publishing: the entities of every page added, then claimed and finished, 1,000 at a
  time (each page one arrival row, made into task rows at the first claim; each task a row
  written three times; ``run-jsonl`` writes ahead, each task a row written once)
- ``dlt-iterate``: dlt's ``rest_api`` source, iterated
- ``dlt-run``: dlt's ``pipeline.run`` of that source to a local filesystem destination, JSONL

Three works take ``incoming`` apart (not run by default: ``--works bare pages store-adds
side-by-side incoming``):

- ``pages``: our subscriber's pages, each checked as a whole, as the reading thread of
  ``incoming`` takes them (no tasks made)
- ``store-adds``: the ``add_many`` calls of an ``incoming`` run into the SQLite store, on one
  thread with nothing else running (no HTTP)
- ``side-by-side``: both at once, on two threads that never wait for each other: what
  ``incoming`` would take if reading and storing overlapped perfectly (it lets a few batches
  wait for the writer, so that memory stays bounded)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

PAGE_SIZE = 1000
WORKS = ("bare", "subscriber", "incoming", "incoming-new", "run-jsonl", "store-floor", "pages", "store-adds",
         "side-by-side", "dlt-iterate", "dlt-run")
DEFAULT_WORKS = ("bare", "subscriber", "incoming", "run-jsonl", "store-floor", "dlt-iterate", "dlt-run")
DLT_WORKS = ("dlt-iterate", "dlt-run")


# -- the server ------------------------------------------------------------------------------


def file_object(number: int) -> dict[str, Any]:
    """One entity in the shape Mistral's ``files.list`` answers."""
    return {
        "id": str(uuid.UUID(int=number)),
        "object": "file",
        "bytes": 1000 + number % 9000,
        "created_at": 1_716_963_433 + number,
        "filename": f"train_{number:07d}.jsonl",
        "purpose": "fine-tune",
        "sample_type": "instruct",
        "num_lines": number % 500,
        "mimetype": "application/jsonl",
        "source": "upload",
        "signature": None,
    }


def build_pages(total: int) -> list[bytes]:
    """Every page body of a listing of ``total`` files, plus the empty page after the last."""
    pages = []
    for start in range(0, total, PAGE_SIZE):
        data = [file_object(n) for n in range(start, min(total, start + PAGE_SIZE))]
        pages.append(json.dumps({"data": data, "object": "list", "total": total}).encode())
    pages.append(json.dumps({"data": [], "object": "list", "total": total}).encode())
    return pages


def serve(sizes: list[int]) -> None:
    """Serve ``/N/v1/files?page=P`` for each size N until stdin closes; prints the port."""
    listings = {size: build_pages(size) for size in sizes}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms stall

        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            where = urlsplit(self.path)
            size, _, route = where.path.lstrip("/").partition("/")
            pages = listings.get(int(size)) if size.isdigit() and route == "v1/files" else None
            page = int(parse_qs(where.query).get("page", ["0"])[0])
            body = b'{"detail":"not found"}' if pages is None else pages[min(page, len(pages) - 1)]
            self.send_response(200 if pages is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the parent closes our stdin when it is done


# -- the works (each runs in a child process) ---------------------------------------------------


Run = Callable[[], int]


def work_bare(base: str, folder: Path) -> Run:
    import requests

    def run() -> int:
        count, page = 0, 0
        with requests.Session() as session:
            while True:
                response = session.get(f"{base}/v1/files", params={"page": page, "page_size": PAGE_SIZE},
                                       headers={"Authorization": "Bearer k"}, timeout=30)
                response.raise_for_status()
                body = json.loads(response.content)
                for _item in body["data"]:
                    count += 1
                if not body["data"] or count >= body["total"]:
                    return count
                page += 1

    return run


def _project(base: str, folder: Path, incoming: str, outgoing: str = "") -> Any:
    from alumio_mistral.config import load_project

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "alumio.yaml").write_text(
        f"clients:\n  mistral: {{base_uri: '{base}', api_key: k}}\n"
        "incoming:\n  files:\n"
        f"    subscriber: {{entity: files.list, page_size: {PAGE_SIZE}}}\n{incoming}" + outgoing
    )
    return load_project(folder, environ={})


ROUTED = "outgoing:\n  out:\n    publisher: {type: jsonl, path: out/files.jsonl}\nroutes:\n  - {incoming: files, outgoing: out}\n"


def work_subscriber(base: str, folder: Path) -> Run:
    from alumio_mistral.catalog import Catalog
    from alumio_mistral.http import Client, ClientConfig
    from alumio_mistral.subscribers import MistralSubscriber

    entity = Catalog.default().get("files.list")

    def run() -> int:
        count = 0
        with Client(ClientConfig(base_uri=base, api_key="k")) as client:
            for _record in MistralSubscriber(client, entity, page_size=PAGE_SIZE).records():
                count += 1
        return count

    return run


def _incoming(base: str, folder: Path, settings: str) -> Run:
    from alumio_mistral.runtime import Runtime

    project = _project(base, folder, settings, ROUTED)

    def run() -> int:
        with Runtime(project) as runtime:
            stats = runtime.read()
        assert stats.ok, stats.failures[:3]
        return stats.created

    return run


def work_incoming(base: str, folder: Path) -> Run:
    return _incoming(base, folder, "")


def work_incoming_new(base: str, folder: Path) -> Run:
    return _incoming(base, folder, "    identity: id\n    dedup: new\n")


def work_run_jsonl(base: str, folder: Path) -> Run:
    from alumio_mistral import engine

    project = _project(base, folder, "", ROUTED)

    def run() -> int:
        stats = engine.run(project)
        assert stats.ok, stats.failures[:3]
        return stats.processed

    return run


def _first_page(base: str) -> tuple[list[Any], int]:
    """The first page's entities, read before the clock starts, and how many pages there are:
    for the works of the store alone, that page stands for every page (ids do not matter
    there), so memory stays one page's."""
    import requests

    with requests.Session() as session:
        first = session.get(f"{base}/v1/files", params={"page": 0}, timeout=30).json()
    return first["data"], -(-first["total"] // PAGE_SIZE)


def work_store_floor(base: str, folder: Path) -> Run:
    from alumio_mistral.tasks import SqliteTaskStore, TaskOutcome
    from alumio_mistral.tasks.store import NewEntity

    page, pages = _first_page(base)

    def run() -> int:
        done = 0
        with SqliteTaskStore(folder / "tasks.db") as store:
            for _page in range(pages):
                store.add_many("files", [NewEntity(entity, None, None) for entity in page], ["out"])
            while batch := store.claim("out", PAGE_SIZE, "bench"):
                store.finish_many([TaskOutcome(task.id, "processed") for task in batch])
                done += len(batch)
        return done

    return run


def work_pages(base: str, folder: Path) -> Run:
    from alumio_mistral.catalog import Catalog
    from alumio_mistral.http import Client, ClientConfig
    from alumio_mistral.subscribers import MistralSubscriber

    entity = Catalog.default().get("files.list")

    def run() -> int:
        with Client(ClientConfig(base_uri=base, api_key="k")) as client:
            return sum(len(page.entities) for page in MistralSubscriber(client, entity, page_size=PAGE_SIZE).pages())

    return run


def work_store_adds(base: str, folder: Path) -> Run:
    """Each page's ``add_many`` into a new SQLite store, as ``incoming`` makes them."""
    from alumio_mistral.tasks import SqliteTaskStore
    from alumio_mistral.tasks.store import NewEntity

    page, pages = _first_page(base)

    def run() -> int:  # the store opened and closed on the clock, as incoming's is
        with SqliteTaskStore(folder / "tasks.db") as store:
            for _page in range(pages):
                store.add_many("files", [NewEntity(entity, entity["id"], None) for entity in page], ["out"])
        return pages * len(page)

    return run


def work_side_by_side(base: str, folder: Path) -> Run:
    read, store = work_pages(base, folder), work_store_adds(base, folder)

    def run() -> int:
        with ThreadPoolExecutor(1) as writer:
            stored = writer.submit(store)
            count = read()
        assert stored.result() == count
        return count

    return run


def _dlt_source(base: str) -> Any:
    from dlt.sources.rest_api import rest_api_source

    return rest_api_source({
        "client": {"base_url": f"{base}/v1/", "auth": {"type": "bearer", "token": "k"}},
        "resources": [{
            "name": "files",
            "endpoint": {
                "path": "files",
                "params": {"page_size": PAGE_SIZE},
                "data_selector": "data",
                # Mistral's total counts entities, not pages: stop on the empty page after the last
                "paginator": {"type": "page_number", "page_param": "page", "base_page": 0, "total_path": None},
            },
        }],
    })


def work_dlt_iterate(base: str, folder: Path) -> Run:
    source = _dlt_source(base)

    def run() -> int:
        count = 0
        for _item in source:
            count += 1
        return count

    return run


def work_dlt_run(base: str, folder: Path) -> Run:
    import dlt

    pipeline = dlt.pipeline(
        pipeline_name="peers", pipelines_dir=str(folder / "pipelines"), dataset_name="peers",
        destination=dlt.destinations.filesystem(bucket_url=(folder / "out").as_uri()),
    )
    source = _dlt_source(base)

    def run() -> int:
        info = pipeline.run(source, loader_file_format="jsonl")
        info.raise_on_failed_jobs()
        return int(pipeline.last_trace.last_normalize_info.row_counts["files"])

    return run


#: each work is set up (imports, project, client) outside the timed part, which is its ``Run``
WORK_FUNCTIONS: dict[str, Callable[[str, Path], Run]] = {
    "bare": work_bare,
    "subscriber": work_subscriber,
    "incoming": work_incoming,
    "incoming-new": work_incoming_new,
    "run-jsonl": work_run_jsonl,
    "store-floor": work_store_floor,
    "pages": work_pages,
    "store-adds": work_store_adds,
    "side-by-side": work_side_by_side,
    "dlt-iterate": work_dlt_iterate,
    "dlt-run": work_dlt_run,
}


def child(work: str, base: str) -> None:
    """Set up one work, time it, print its seconds, count and peak RSS as JSON."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    with tempfile.TemporaryDirectory(prefix="peers-") as temp:
        run = WORK_FUNCTIONS[work](base, Path(temp))
        started = time.perf_counter()
        count = run()
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "count": count, "rss": peak_rss()}))


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    ``VmHWM`` starts afresh at ``exec``, unlike ``ru_maxrss``, which Linux carries over from
    the parent that forked us.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


# -- the parent ----------------------------------------------------------------------------------


def measure(work: str, base: str, size: int) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", work, "--base", base, "--sizes", str(size)],
        capture_output=True, text=True, check=False,
    )
    if answer.returncode != 0:
        raise SystemExit(f"{work} at {size:,} failed:\n{answer.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    if result["count"] != size:
        raise SystemExit(f"{work} at {size:,} read {result['count']:,} entities, not {size:,}")
    return result


def dlt_installed() -> bool:
    return importlib.util.find_spec("dlt") is not None


def table(size: int, works: list[str], results: dict[str, list[dict[str, Any]]]) -> str:
    bare = statistics.median(r["seconds"] for r in results["bare"]) if "bare" in results else None
    lines = [f"{size:,} entities", f"  {'work':<14} {'wall s':>8} {'× bare':>8} {'peak RSS MiB':>13}"]
    for work in works:
        seconds = statistics.median(r["seconds"] for r in results[work])
        rss = statistics.median(r["rss"] for r in results[work]) / 2**20
        ratio = f"{seconds / bare:7.2f}×" if bare else "       -"
        lines.append(f"  {work:<14} {seconds:8.2f} {ratio:>8} {rss:13.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (the median is shown)")
    parser.add_argument("--works", nargs="+", choices=WORKS, default=list(DEFAULT_WORKS))
    parser.add_argument("--json", action="store_true", help="print every run as JSON too")
    parser.add_argument("--child", choices=WORKS, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.sizes)
    if args.child:
        return child(args.child, args.base)
    works = [work for work in args.works if work not in DLT_WORKS or dlt_installed()]
    if len(works) < len(args.works):
        print("dlt is not installed (pip install -e '.[bench]'): its works are left out", file=sys.stderr)
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--sizes", *map(str, args.sizes)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    every: dict[str, Any] = {}
    try:
        for size in args.sizes:
            base = f"http://127.0.0.1:{port}/{size}"
            results: dict[str, list[dict[str, Any]]] = {work: [] for work in works}
            for _round in range(args.repeat):
                for work in works:
                    results[work].append(measure(work, base, size))
            print(table(size, works, results), flush=True)
            every[str(size)] = results
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    if args.json:
        print(json.dumps(every))


if __name__ == "__main__":
    main()
