"""``Client.call_json``: the answer decoded as the operation documents it, so a broken 2xx
from a status poll or a create is a BrokenResponseError that callers report like any failed
call, never a ValueError that ends a whole run with a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import responses

from alumio_mistral.config import load_project
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.http.errors import BrokenResponseError
from alumio_mistral.runtime import Runtime

BASE = "https://api.mistral.test"
JOB = f"{BASE}/v1/batch/jobs/job-1"


@responses.activate
def test_a_good_answer_is_its_json() -> None:
    responses.get(JOB, json={"id": "job-1", "status": "SUCCESS"})
    with Client(ClientConfig(base_uri=BASE, api_key="k")) as client:
        assert client.call_json("batch_jobs.get", path_params={"job_id": "job-1"}) == {"id": "job-1",
                                                                                        "status": "SUCCESS"}


@responses.activate
@pytest.mark.parametrize("body", ["<html>gateway</html>", '{"id": "job-1", "sta', "[1, 2]"])
def test_a_broken_answer_is_a_broken_response_error_naming_the_operation(body: str) -> None:
    responses.get(JOB, body=body, content_type="application/json")
    with Client(ClientConfig(base_uri=BASE, api_key="k")) as client:
        with pytest.raises(BrokenResponseError, match="broken answer") as raised:
            client.call_json("batch_jobs.get", path_params={"job_id": "job-1"})
    assert raised.value.entity == "batch_jobs.get" and raised.value.status == 200


@responses.activate
def test_a_batch_job_poll_answered_with_garbage_fails_the_source_not_the_run(tmp_path: Path) -> None:
    responses.get(JOB, body="<html>gateway</html>", content_type="text/html")
    (tmp_path / "alumio.yaml").write_text(json.dumps({
        "clients": {"mistral": {"base_uri": BASE, "api_key": "k", "max_attempts": 1}},
        "incoming": {"job": {"subscriber": {"type": "batch-job", "job_id": "job-1", "every": "1ms"}},
                     "rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
    }))
    (tmp_path / "rows.jsonl").write_text('{"id": 1}\n')
    with Runtime(load_project(tmp_path, environ={})) as runtime:
        stats = runtime.read()
    assert stats.failed == 1 and stats.created == 1  # the other incoming still ran
    assert "batch_jobs.get" in str(stats.failures[0]) and "broken answer" in str(stats.failures[0])
