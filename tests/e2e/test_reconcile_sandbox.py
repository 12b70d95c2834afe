"""Looking for the effect of an uncertain send on the sandbox: uploads, batch jobs, deletes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from alumio_mistral import reconcile
from alumio_mistral.catalog import Catalog
from alumio_mistral.http import Client, ClientConfig
from alumio_mistral.publishers import PlannedCall
from alumio_mistral.publishers.request import RenderedRequest

pytestmark = pytest.mark.e2e

KEY = "sk-reconcile-key-11223344"
CATALOG = Catalog.default()


@pytest.fixture
def client(mistral_sandbox):
    with Client(ClientConfig(base_uri=mistral_sandbox.base_uri, api_key=KEY, max_attempts=1)) as opened:
        yield opened


def _recorded(operation: str, request: RenderedRequest) -> dict:
    lookup = reconcile.lookup_for(operation, CATALOG)
    assert lookup is not None
    facts = reconcile.facts(operation, lookup, PlannedCall("POST", "unused", request), "mistral")
    assert facts is not None
    return facts


def test_an_upload_is_found_by_name_and_size_and_a_missing_one_is_absent(client):
    landed = _recorded("files.upload", RenderedRequest(files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"}))
    client.call("files.upload", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"})
    client.call("files.upload", files={"file": ("a.jsonl", b"{}\n{}\n")}, data={"purpose": "batch"})  # other size
    found = reconcile.look(landed, {"mistral": client}, CATALOG)
    assert found.verdict == reconcile.LANDED and found.found["filename"] == "a.jsonl" and found.found["bytes"] == 3
    missing = _recorded("files.upload", RenderedRequest(files={"file": ("b.jsonl", b"{}\n")}, data={"purpose": "batch"}))
    assert reconcile.look(missing, {"mistral": client}, CATALOG, settle=0).verdict == reconcile.ABSENT


def test_two_candidates_are_left_to_a_person(client):
    recorded = _recorded("files.upload", RenderedRequest(files={"file": ("twin.txt", b"x")}, data={}))
    for _ in range(2):
        client.call("files.upload", files={"file": ("twin.txt", b"x")}, data={"purpose": "ocr"})
    finding = reconcile.look(recorded, {"mistral": client}, CATALOG)
    assert finding.verdict == reconcile.UNKNOWN and "2 candidates" in finding.note


def test_a_file_uploaded_long_before_the_send_is_not_taken_for_it(client):
    client.call("files.upload", files={"file": ("old.txt", b"x")}, data={"purpose": "ocr"})
    recorded = _recorded("files.upload", RenderedRequest(files={"file": ("old.txt", b"x")}, data={}))
    recorded["sent_at"] = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert reconcile.look(recorded, {"mistral": client}, CATALOG, settle=0, now=later).verdict == reconcile.ABSENT


def test_a_batch_job_is_found_by_its_metadata(client):
    upload = client.call("files.upload", files={"file": ("in.jsonl", b'{"custom_id": "1", "body": {}}\n')},
                         data={"purpose": "batch"}).json()
    body = {"input_files": [upload["id"]], "endpoint": "/v1/chat/completions", "model": "mistral-small-latest",
            "metadata": {"run": "nightly-42"}}
    client.call("batch_jobs.create", json=body)
    landed = _recorded("batch_jobs.create", RenderedRequest(json=body))
    finding = reconcile.look(landed, {"mistral": client}, CATALOG)
    assert finding.verdict == reconcile.LANDED and finding.found["metadata"] == {"run": "nightly-42"}
    other = _recorded("batch_jobs.create", RenderedRequest(json={**body, "metadata": {"run": "nightly-43"}}))
    assert reconcile.look(other, {"mistral": client}, CATALOG, settle=0).verdict == reconcile.ABSENT


def test_a_delete_landed_when_the_object_is_gone(client):
    kept = client.call("files.upload", files={"file": ("keep.txt", b"x")}, data={"purpose": "ocr"}).json()
    gone = client.call("files.upload", files={"file": ("gone.txt", b"x")}, data={"purpose": "ocr"}).json()
    client.call("files.delete", path_params={"file_id": gone["id"]})
    for file, verdict in ((gone, reconcile.LANDED), (kept, reconcile.ABSENT)):
        recorded = _recorded("files.delete", RenderedRequest(path_params={"file_id": file["id"]}))
        assert reconcile.look(recorded, {"mistral": client}, CATALOG, settle=0).verdict == verdict


def test_operations_without_a_way_to_look_say_so():
    assert reconcile.lookup_for("libraries.create", CATALOG) is None
    assert reconcile.lookup_for("admin.api_keys.delete", CATALOG) is None  # no getter for the same object
    assert isinstance(reconcile.lookup_for("models.delete", CATALOG), reconcile.GoneAfterDelete)
    finding = reconcile.look(None, {}, CATALOG)
    assert finding.verdict == reconcile.UNKNOWN and "nothing was recorded" in finding.note


def test_facts_masked_in_the_record_are_never_called_absent(client):
    """Records are redacted; metadata under a secret-like key no longer matches the job that landed."""
    body = {"input_files": ["f-1"], "model": "mistral-small-latest", "metadata": {"api_token": "***"}}
    recorded = _recorded("batch_jobs.create", RenderedRequest(json=body))
    finding = reconcile.look(recorded, {"mistral": client}, CATALOG)
    assert finding.verdict == reconcile.UNKNOWN and "masked" in finding.note


def test_not_found_is_absent_only_once_the_send_is_older_than_the_settle_window(client):
    """Before: a file not found right after a timed-out upload was "absent", though the server
    could still be writing it, and `tasks retry` then uploaded it a second time."""
    recorded = _recorded("files.upload", RenderedRequest(files={"file": ("slow.txt", b"x")}, data={}))
    sent = datetime.fromisoformat(recorded["sent_at"])
    window = reconcile.settle_seconds(client.config)
    early = reconcile.look(recorded, {"mistral": client}, CATALOG)
    assert early.verdict == reconcile.UNKNOWN
    assert f"look again after {(sent + timedelta(seconds=window)).isoformat()}" in early.note
    later = sent + timedelta(seconds=window + 1)
    assert reconcile.look(recorded, {"mistral": client}, CATALOG, now=later).verdict == reconcile.ABSENT
    assert reconcile.look(recorded, {"mistral": client}, CATALOG, settle=0).verdict == reconcile.ABSENT


def test_the_settle_window_covers_every_attempt_and_wait_of_the_client():
    config = ClientConfig(base_uri="http://x.test", connect_timeout=2, read_timeout=0.5, max_attempts=3,
                          backoff_max=0.05, max_retry_wait=30)
    assert reconcile.settle_seconds(config) == pytest.approx(3 * 2.5 + 2 * 0.05 + reconcile.SERVER_GRACE)
    capped = ClientConfig(base_uri="http://x.test", read_timeout=60, max_attempts=5, max_retry_wait=10)
    assert reconcile.settle_seconds(capped) == pytest.approx(10 + 65 + reconcile.SERVER_GRACE)
