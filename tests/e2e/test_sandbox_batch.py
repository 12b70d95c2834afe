"""Batch jobs end to end: a 1,000-line JSONL file in, a 1,000-line output file out."""

from __future__ import annotations

import json

import pytest

from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.sandbox import Sandbox

pytestmark = pytest.mark.e2e


def _line(index: int) -> dict:
    return {"custom_id": f"req-{index}", "body": {"messages": [{"role": "user", "content": f"Question {index}"}]}}


def test_batch_job_from_a_thousand_line_file_succeeds_with_one_output_line_each() -> None:
    data = "".join(json.dumps(_line(i)) + "\n" for i in range(1000))
    with Sandbox() as sandbox, Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k")) as client:
        upload = client.call("files.upload", files={"file": ("in.jsonl", data), "purpose": (None, "batch")}).json()
        assert upload["num_lines"] == 1000
        job = client.call("batch_jobs.create", json={"input_files": [upload["id"]], "endpoint": "/v1/chat/completions",
                                                     "model": "mistral-small-latest"}).json()
        statuses = [job["status"]]
        while statuses[-1] not in ("SUCCESS", "FAILED") and len(statuses) < 10:
            job = client.call("batch_jobs.get", path_params={"job_id": job["id"]}).json()
            statuses.append(job["status"])
        assert statuses == ["QUEUED", "RUNNING", "SUCCESS"]
        assert (job["total_requests"], job["succeeded_requests"], job["failed_requests"]) == (1000, 1000, 0)
        output = client.call("files.download", path_params={"file_id": job["output_file"]}).text.splitlines()
        assert [json.loads(line)["custom_id"] for line in output] == [f"req-{i}" for i in range(1000)]
        live = client.call("chat.complete", json={**_line(7)["body"], "model": "mistral-small-latest"}).json()
        assert json.loads(output[7])["response"] == {"status_code": 200, "body": live}


def test_batch_job_lists_by_status_and_cancels() -> None:
    with Sandbox() as sandbox, Client(ClientConfig(base_uri=sandbox.base_uri, api_key="k")) as client:
        requests = [{"custom_id": "x", "body": {"input": "hello"}}]
        first = client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "model": "mistral-embed",
                                                       "requests": requests}).json()
        second = client.call("batch_jobs.create", json={"endpoint": "/v1/embeddings", "requests": requests}).json()
        client.call("batch_jobs.cancel", path_params={"job_id": second["id"]})
        queued = client.call("batch_jobs.list", query={"status": ["QUEUED"]}).json()
        assert [job["id"] for job in queued["data"]] == [first["id"]] and queued["total"] == 1
        cancelled = client.call("batch_jobs.get", path_params={"job_id": second["id"]}).json()
        assert cancelled["status"] == "CANCELLED"
        later = client.call("batch_jobs.list", query={"created_after": "2100-01-01T00:00:00Z"}).json()
        assert later == {"object": "list", "data": [], "total": 0}
