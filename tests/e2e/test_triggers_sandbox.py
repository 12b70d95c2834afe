"""Trigger incomings against the sandbox: a baseline fires nothing, each change fires exactly one
event, two items of one second both fire, a restart fires nothing twice, a failed page deletes
nothing, and the retired fine-tuning routes stop with one message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import responses

from alumio_mistral.catalog import Catalog
from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.errors import RETIRED_FINE_TUNING
from alumio_mistral.runtime import Runtime
from alumio_mistral.sandbox.clock import ManualClock
from alumio_mistral.subscribers.triggers import STATE_KEY

pytestmark = pytest.mark.e2e

KEY = "sk-test-0123456789"


def project(folder: Path, base_uri: str, **subscribers: dict[str, Any]) -> Path:
    folder.mkdir(exist_ok=True)
    incoming = {name: {"subscriber": {"type": "trigger", **spec}, "dedup": "new"} for name, spec in subscribers.items()}
    (folder / "alumio.yaml").write_text(json.dumps({
        "clients": {"mistral": {"base_uri": base_uri, "api_key": KEY, "max_attempts": 1}},
        "incoming": incoming,
    }))
    return folder


def poll(folder: Path, name: str) -> list[dict[str, Any]]:
    """One poll of trigger incoming ``name``: the events it stored as new tasks."""
    with Runtime(load_project(folder, environ={})) as runtime:
        before = {task.id for task in runtime.store.list(incoming=name)}
        stats = runtime.read([name])
        assert stats.ok, stats.failures
        return [task.entity for task in runtime.store.list(incoming=name) if task.id not in before]


def upload(client: Client, name: str, purpose: str = "batch") -> dict[str, Any]:
    return client.call("files.upload", files={"file": (name, '{"custom_id": "a", "body": {}}\n'),
                                              "purpose": (None, purpose)}).json()


def batch(client: Client, lines: int = 1) -> dict[str, Any]:
    requests = [{"custom_id": f"c{n}", "body": {"input": "hi"}} for n in range(lines)]
    return client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed",
                                                  "requests": requests}).json()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(mistral_sandbox_factory, clock: ManualClock) -> Any:
    return mistral_sandbox_factory(clock=clock)


@pytest.fixture
def client(sandbox: Any) -> Any:
    with Client(ClientConfig(base_uri=sandbox.base_uri, api_key=KEY)) as client:
        yield client


def test_file_uploaded_baseline_then_one_event_each_and_two_in_one_second(tmp_path: Path, sandbox, client,
                                                                        clock: ManualClock) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, uploads={"event": "file.uploaded"})
    upload(client, "old.jsonl")
    assert poll(folder, "uploads") == []  # the baseline records what exists
    clock.sleep(5)
    first, second = upload(client, "a.jsonl"), upload(client, "b.jsonl")  # the same second
    assert first["created_at"] == second["created_at"]
    events = poll(folder, "uploads")
    assert sorted(e["resource"]["id"] for e in events) == sorted([first["id"], second["id"]])
    assert {e["event"] for e in events} == {"file.uploaded"}
    assert poll(folder, "uploads") == []
    third = upload(client, "c.jsonl")  # still the same second as the mark: fires, the others do not
    assert [e["resource"]["id"] for e in poll(folder, "uploads")] == [third["id"]]


def test_baseline_fire_fires_for_what_exists(tmp_path: Path, sandbox, client) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, uploads={"event": "file.uploaded", "baseline": "fire"})
    made = upload(client, "old.jsonl")
    assert [e["resource"]["id"] for e in poll(folder, "uploads")] == [made["id"]]


def test_file_uploaded_filters_on_purpose(tmp_path: Path, sandbox, client) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, ocr={"event": "file.uploaded", "purpose": "ocr"})
    poll(folder, "ocr")
    upload(client, "a.jsonl", "batch")
    wanted = upload(client, "b.pdf", "ocr")
    assert [e["resource"]["id"] for e in poll(folder, "ocr")] == [wanted["id"]]


def test_a_restart_before_the_mark_is_saved_fires_nothing_twice(tmp_path: Path, sandbox, client) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, uploads={"event": "file.uploaded"})
    poll(folder, "uploads")
    with Runtime(load_project(folder, environ={})) as runtime:
        mark = runtime.store.get("marks:uploads", STATE_KEY)
    made = upload(client, "a.jsonl")
    assert len(poll(folder, "uploads")) == 1
    with Runtime(load_project(folder, environ={})) as runtime:  # a crash after the tasks, before the mark
        runtime.store.set("marks:uploads", STATE_KEY, mark)
    assert poll(folder, "uploads") == []  # read again, and de-dup on the event id keeps it out
    with Runtime(load_project(folder, environ={})) as runtime:
        assert [t.entity["resource"]["id"] for t in runtime.store.list(incoming="uploads")] == [made["id"]]


def test_file_deleted_fires_once_per_deletion(tmp_path: Path, sandbox, client) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, gone={"event": "file.deleted"})
    kept, dropped = upload(client, "a.jsonl"), upload(client, "b.jsonl")
    assert poll(folder, "gone") == []
    client.call("files.delete", path_params={"file_id": dropped["id"]})
    events = poll(folder, "gone")
    assert [(e["event"], e["resource"]["id"]) for e in events] == [("file.deleted", dropped["id"])]
    assert poll(folder, "gone") == []
    assert kept["id"] != dropped["id"]


def test_model_deleted_watches_fine_tuned_models(tmp_path: Path, sandbox, client) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, gone={"event": "model.deleted"})
    assert poll(folder, "gone") == []
    tuned = [m["id"] for m in client.call("models.list").json()["data"] if m["id"].startswith("ft:")]
    client.call("models.delete", path_params={"model_id": tuned[0]})
    assert [e["resource"]["id"] for e in poll(folder, "gone")] == [tuned[0]]
    assert poll(folder, "gone") == []


def test_batch_jobs_created_succeeded_failed_and_cancelled(tmp_path: Path, sandbox, client, clock) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, created={"event": "batch_job.created"},
                     succeeded={"event": "batch_job.succeeded"}, failed={"event": "batch_job.failed"},
                     cancelled={"event": "batch_job.failed", "statuses": ["CANCELLED"]})
    for name in ("created", "succeeded", "failed", "cancelled"):
        assert poll(folder, name) == []
    clock.sleep(2)
    done, stopped = batch(client), batch(client)
    assert sorted(e["resource"]["id"] for e in poll(folder, "created")) == sorted([done["id"], stopped["id"]])
    for _ in range(3):
        client.call("batch_jobs.get", path_params={"job_id": done["id"]})
    client.call("batch_jobs.cancel", path_params={"job_id": stopped["id"]})
    client.call("batch_jobs.get", path_params={"job_id": stopped["id"]})
    [succeeded] = poll(folder, "succeeded")
    assert (succeeded["resource"]["id"], succeeded["resource"]["final_status"]) == (done["id"], "SUCCESS")
    [failed] = poll(folder, "failed")
    assert (failed["resource"]["id"], failed["resource"]["final_status"]) == (stopped["id"], "CANCELLED")
    assert [e["resource"]["id"] for e in poll(folder, "cancelled")] == [stopped["id"]]
    for name in ("created", "succeeded", "failed", "cancelled"):
        assert poll(folder, name) == []


@responses.activate
def test_a_failed_page_produces_no_deletions(tmp_path: Path) -> None:
    base = "https://api.example.test"
    folder = project(tmp_path / "p", base, gone={"event": "file.deleted", "page_size": 2})
    page = lambda ids, total: {"object": "list", "data": [{"id": i, "created_at": 1} for i in ids], "total": total}
    responses.get(f"{base}/v1/files", json=page(["a", "b"], 3))
    responses.get(f"{base}/v1/files", json=page(["c"], 3))
    assert poll(folder, "gone") == []
    responses.get(f"{base}/v1/files", json=page(["a", "b"], 3))
    responses.get(f"{base}/v1/files", status=500, json={"message": "down"})
    with Runtime(load_project(folder, environ={})) as runtime:
        stats = runtime.read(["gone"])
        assert not stats.ok and "500" in stats.failures[0].message
        assert runtime.store.list(incoming="gone") == []
        assert set(runtime.store.get("marks:gone", STATE_KEY)) == {"a", "b", "c"}  # the mark did not move


def test_fine_tuning_trigger_against_the_live_retirement_stops_with_one_message(tmp_path: Path, sandbox) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, jobs={"event": "fine_tuning_job.created"})
    before = sandbox.requests().get("fine_tuning.jobs.list", 0)
    with Runtime(load_project(folder, environ={})) as runtime:
        stats = runtime.read(["jobs"])
    assert stats.failed == 1 and len(stats.failures) == 1
    assert RETIRED_FINE_TUNING in stats.failures[0].message
    assert sandbox.requests().get("fine_tuning.jobs.list", 0) - before == 1  # no retries


FILE_ID = "00000000-0000-4000-8000-000000000001"
OLDER_SPEC = Path(__file__).resolve().parents[3] / "shared" / "mistral" / "openapi-2026-07-06-with-fine-tuning.yaml"


@pytest.mark.skipif(not OLDER_SPEC.exists(), reason="the older spec with the fine-tuning routes is not beside the checkout")
def test_fine_tuning_job_triggers_against_a_sandbox_serving_the_older_routes(tmp_path: Path,
                                                                           mistral_sandbox_factory, clock) -> None:
    sandbox = mistral_sandbox_factory(spec_path=OLDER_SPEC, clock=clock)
    folder = project(tmp_path / "p", sandbox.base_uri, created={"event": "fine_tuning_job.created"},
                     succeeded={"event": "fine_tuning_job.succeeded"}, failed={"event": "fine_tuning_job.failed"})
    folder.joinpath("alumio.yaml").write_text(folder.joinpath("alumio.yaml").read_text()[:-1] + f', "spec": "{OLDER_SPEC}"}}')
    for name in ("created", "succeeded", "failed"):
        assert poll(folder, name) == []
    clock.sleep(2)
    with Client(ClientConfig(base_uri=sandbox.base_uri, api_key=KEY), Catalog.load(OLDER_SPEC)) as client:
        create = lambda files: client.call("fine_tuning.jobs.create", json={
            "model": "open-mistral-7b", "hyperparameters": {"training_steps": 1}, "training_files": files}).json()
        good, bad, stopped = create([{"file_id": FILE_ID}]), create([]), create([{"file_id": FILE_ID}])
        client.call("fine_tuning.jobs.cancel", path_params={"job_id": stopped["id"]})
        for job in (good, bad, stopped):
            for _ in range(2):
                client.call("fine_tuning.jobs.get", path_params={"job_id": job["id"]})
    assert sorted(e["resource"]["id"] for e in poll(folder, "created")) == sorted(j["id"] for j in (good, bad, stopped))
    assert [e["resource"]["id"] for e in poll(folder, "succeeded")] == [good["id"]]
    assert sorted((e["resource"]["id"], e["resource"]["final_status"]) for e in poll(folder, "failed")) == sorted(
        [(bad["id"], "FAILED_VALIDATION"), (stopped["id"], "CANCELLED")])
    for name in ("created", "succeeded", "failed"):
        assert poll(folder, name) == []


def test_params_transformers_read_a_storage_and_the_time_before_the_read(tmp_path: Path, sandbox, client,
                                                                        clock: ManualClock) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "alumio.yaml").write_text(json.dumps({
        "clients": {"mistral": {"base_uri": sandbox.base_uri, "api_key": KEY, "max_attempts": 1}},
        "incoming": {"recent": {"subscriber": {"entity": "batch_jobs.list", "params": {"page_size": 50},
                                               "params_transformers": [
            {"type": "storage-get", "namespace": "cursors", "key": "jobs", "to": "params.created_after"},
            {"type": "set", "path": "params.order_by", "value": "-created"},
            {"type": "set", "path": "checked_at", "value": "&{now}"},
        ]}}},
    }))
    batch(client)
    clock.sleep(60)
    newer = batch(client)
    with Runtime(load_project(folder, environ={})) as runtime:
        runtime.store.set("cursors", "jobs", _iso_of(newer["created_at"]))
        assert runtime.read(["recent"]).ok
        assert [t.entity["id"] for t in runtime.store.list(incoming="recent")] == [newer["id"]]


def _iso_of(seconds: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def test_params_transformers_see_the_current_time() -> None:
    from alumio_mistral.subscribers.params import ParamsFromPipeline
    from alumio_mistral.transformers.context import MemoryStorages
    from alumio_mistral.transformers.library import Library

    built: list[dict[str, Any]] = []
    steps = [{"type": "set", "path": "params.created_after", "value": "&{now}"}]
    reader = ParamsFromPipeline(steps, {"page_size": 5}, Library.for_project(None), "incoming.x.subscriber",
                                lambda params: built.append(params) or object(), clock=lambda: 1767225600.0)
    reader.use_storage(MemoryStorages(), "marks:x")
    assert built == [{"page_size": 5, "created_after": "2026-01-01T00:00:00Z"}]


def test_a_status_trigger_restarted_before_its_mark_fires_nothing_twice(tmp_path: Path, sandbox, client) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, done={"event": "batch_job.succeeded"})
    poll(folder, "done")
    job = batch(client)
    for _ in range(3):
        client.call("batch_jobs.get", path_params={"job_id": job["id"]})
    with Runtime(load_project(folder, environ={})) as runtime:
        mark = runtime.store.get("marks:done", STATE_KEY)
    assert [e["resource"]["id"] for e in poll(folder, "done")] == [job["id"]]
    with Runtime(load_project(folder, environ={})) as runtime:  # the mark lost: a crash before it was saved
        runtime.store.set("marks:done", STATE_KEY, mark)
    assert poll(folder, "done") == []


def test_batch_job_created_with_model_and_metadata_filters_is_accepted_and_fires(tmp_path: Path, sandbox, client, clock) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri,
                     mine={"event": "batch_job.created", "model": "mistral-embed", "metadata": {"team": "a"}})
    assert poll(folder, "mine") == []
    clock.sleep(2)
    made = batch(client)
    assert [e["resource"]["id"] for e in poll(folder, "mine")] == [made["id"]]


def test_ocr_completed_fires_for_a_batch_job_on_the_ocr_endpoint_only(tmp_path: Path, sandbox, client) -> None:
    folder = project(tmp_path / "p", sandbox.base_uri, ocr={"event": "ocr.completed"})
    assert poll(folder, "ocr") == []
    document = {"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo="}
    ocr_job = client.call("batch_jobs.create", json={"endpoint": "/v1/ocr", "model": "mistral-ocr-latest", "requests": [
        {"custom_id": "page", "body": {"document": document}}]}).json()
    other = batch(client)
    for job in (ocr_job, other):
        for _ in range(3):
            client.call("batch_jobs.get", path_params={"job_id": job["id"]})
    [fired] = poll(folder, "ocr")
    assert (fired["event"], fired["resource"]["id"], fired["resource"]["final_status"]) == (
        "ocr.completed", ocr_job["id"], "SUCCESS")
    assert poll(folder, "ocr") == []
