"""The batch-job subscriber against the sandbox: a job polled to SUCCESS yields itself and one
entity per result line; a cancelled job ends CANCELLED and fires batch_job.failed; a deadline
ends the poll with an error naming the job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.runtime import Runtime
from alumio_mistral.subscribers.batch_job import BatchJobSubscriber

pytestmark = pytest.mark.e2e

KEY = "sk-test-0123456789"


def write_project(folder: Path, base_uri: str, incoming: dict[str, Any]) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "alumio.yaml").write_text(json.dumps({
        "clients": {"mistral": {"base_uri": base_uri, "api_key": KEY, "max_attempts": 1}}, "incoming": incoming}))
    return folder


def create_job(client: Client, lines: int) -> dict[str, Any]:
    requests = [{"custom_id": f"line-{n}", "body": {"input": f"text {n}"}} for n in range(lines)]
    return client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed",
                                                  "requests": requests}).json()


def test_a_job_of_1000_lines_polled_to_success_yields_1000_results(tmp_path: Path, mistral_sandbox) -> None:
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        job = create_job(client, 1000)
    folder = write_project(tmp_path / "p", mistral_sandbox.base_uri, {"results": {"subscriber": {
        "type": "batch-job", "job_id": job["id"], "every": "1ms", "results": True}}})
    with Runtime(load_project(folder, environ={})) as runtime:
        stats = runtime.read(["results"])
        assert stats.ok, stats.failures
        tasks = [task.entity for task in runtime.store.list(incoming="results", limit=2000)]
    assert tasks[0]["id"] == job["id"] and tasks[0]["status"] == "SUCCESS"
    results = tasks[1:]
    assert len(results) == 1000
    assert {r["custom_id"] for r in results} == {f"line-{n}" for n in range(1000)}
    assert all(r["status_code"] == 200 and r["body"]["data"][0]["embedding"] for r in results)


class LinesOnly:
    """A download that can only be read line by line: ``content`` or ``text`` would read it whole."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.lines_read = 0

    def iter_lines(self) -> Any:
        for line in self._response.iter_lines():
            self.lines_read += 1
            yield line

    def __enter__(self) -> LinesOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        self._response.close()


class StreamingOnly:
    """A client whose downloads must be asked for as streams."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.downloads: list[LinesOnly] = []

    def call(self, entity: str, **kwargs: Any) -> Any:
        response = self.client.call(entity, **kwargs)
        if entity != "files.download":
            return response
        assert kwargs.get("stream") is True and not response.raw.isclosed()
        self.downloads.append(LinesOnly(response))
        return self.downloads[-1]

    def call_json(self, entity: str, **kwargs: Any) -> Any:
        return self.client.call_json(entity, **kwargs)


def test_result_lines_are_streamed_not_loaded_whole(mistral_sandbox) -> None:
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        job = create_job(client, 200)
        streaming = StreamingOnly(client)
        records = BatchJobSubscriber(streaming, job["id"], every=0.001, results=True).records()
        next(records)  # the job, polled to SUCCESS
        next(records)  # the first result: the download has begun and is read a line at a time
        [download] = streaming.downloads
        assert download.lines_read == 1
        assert sum(1 for _ in records) == 199


def test_a_job_cancelled_midway_ends_cancelled_and_fires_batch_job_failed(tmp_path: Path, mistral_sandbox) -> None:
    folder = write_project(tmp_path / "p", mistral_sandbox.base_uri, {
        "failed": {"subscriber": {"type": "trigger", "event": "batch_job.failed"}, "dedup": "new"}})
    with Runtime(load_project(folder, environ={})) as runtime:
        assert runtime.read(["failed"]).created == 0  # the baseline
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY)) as client:
        job = create_job(client, 10)
        client.call("batch_jobs.get", path_params={"job_id": job["id"]})  # RUNNING
        client.call("batch_jobs.cancel", path_params={"job_id": job["id"]})
        [final] = [record.entity for record in BatchJobSubscriber(client, job["id"], every=0.001).records()]
    assert final["status"] == "CANCELLED"
    with Runtime(load_project(folder, environ={})) as runtime:
        assert runtime.read(["failed"]).ok
        [event] = [task.entity for task in runtime.store.list(incoming="failed")]
    assert (event["event"], event["resource"]["id"], event["resource"]["final_status"]) == (
        "batch_job.failed", job["id"], "CANCELLED")


def test_a_deadline_ends_the_poll_with_an_error_naming_the_job(tmp_path: Path, mistral_sandbox_factory) -> None:
    sandbox = mistral_sandbox_factory(batch_step=3600)  # the job stays QUEUED
    with Client(ClientConfig(base_uri=sandbox.base_uri, api_key=KEY)) as client:
        job = create_job(client, 1)
    folder = write_project(tmp_path / "p", sandbox.base_uri, {"wait": {"subscriber": {
        "type": "batch-job", "job_id": job["id"], "every": "10ms", "deadline": "50ms"}}})
    with Runtime(load_project(folder, environ={})) as runtime:
        stats = runtime.read(["wait"])
    assert stats.failed == 1
    message = stats.failures[0].message
    assert job["id"] in message and "QUEUED" in message and "deadline" in message
