"""The commands around tasks that need a person: exit codes, `tasks retry --force`, `tasks
resolve`, `tasks reconcile`, live leases, unknown names and a store that cannot be created."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import responses
import yaml
from click.testing import CliRunner

from alumio_mistral.cli import main
from alumio_mistral.outgoing import SENT_NAMESPACE
from alumio_mistral.tasks import SqliteTaskStore

BASE = "http://mistral.test"
KEY = "sk-cli-safety-13579"
LIBRARIES = f"{BASE}/v1/libraries"
FILES = f"{BASE}/v1/files"


def _project(folder: Path, rows: list[dict], outgoing: dict | None = None, **extra: object) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    document = {
        "clients": {"mistral": {"base_uri": BASE, "api_key": KEY, "max_attempts": 1}},
        "incoming": {"rows": {"subscriber": {"type": "jsonl", "path": "rows.jsonl"}}},
        "outgoing": {"out": outgoing or {"publisher": {"entity": "libraries.create"}, "failure": {"policy": "fail"}}},
        "routes": [{"incoming": "rows", "outgoing": "out"}],
        **extra,
    }
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    return folder


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def _store(folder: Path) -> SqliteTaskStore:
    return SqliteTaskStore(folder / ".alumio" / "tasks.db")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project(tmp_path / "p", [{"name": "ok"}, {"name": "maybe"}, {"name": "no"}])


def _answers() -> None:
    """ok is created, maybe gets a 500 (the server may have acted), no gets a 503."""
    def answer(request):
        name = json.loads(request.body)["name"]
        status = {"ok": 201, "maybe": 500, "no": 503}[name]
        return status, {}, json.dumps({"id": f"lib-{name}", "name": name, "message": "x"})

    responses.add_callback(responses.POST, LIBRARIES, callback=answer)


def _run_once(project: Path) -> dict[str, list]:
    """Run with :func:`_answers`; the tasks by status."""
    _answers()
    invoke("run", str(project))
    with _store(project) as store:
        return {status: store.list(status=status) for status in ("processed", "failed", "review")}


@responses.activate
def test_run_that_leaves_review_exits_3_and_says_what_needs_a_person(project):
    _answers()
    result = invoke("run", str(project))
    assert result.exit_code == 3, result.output
    assert "review 1 (need a person" in result.output and "failed 1" in result.output
    assert "1 task(s) in review need a person" in result.output and "UncertainPublish" in result.output
    assert KEY not in result.output


@responses.activate
def test_run_with_failures_only_exits_1(tmp_path):
    folder = _project(tmp_path / "p", [{"name": "no"}])
    _answers()
    assert invoke("run", str(folder)).exit_code == 1


@responses.activate
def test_retry_of_review_tasks_needs_force_and_says_what_it_risks(project):
    [review] = _run_once(project)["review"]
    for args in ([str(review.id)], ["--status", "review"]):
        refused = invoke("tasks", "retry", str(project), *args)
        assert refused.exit_code == 1
        assert f"task {review.id} is in review" in refused.output and "twice" in refused.output
        assert "--force" in refused.output
    assert len(responses.calls) == 3  # nothing was sent again
    responses.replace(responses.POST, LIBRARIES, json={"id": "lib-maybe"}, status=201)
    forced = invoke("tasks", "retry", str(project), str(review.id), "--force")
    assert forced.exit_code == 0, forced.output
    assert "warning" in forced.output and "twice" in forced.output
    with _store(project) as store:
        assert store.get(review.id).status == "processed"


@responses.activate
def test_resolve_settles_review_and_failed_tasks_with_a_note_who_and_when(project):
    tasks = _run_once(project)
    [review], [failed], [done] = tasks["review"], tasks["failed"], tasks["processed"]
    result = invoke("tasks", "resolve", str(project), str(review.id), str(failed.id), "--status", "processed",
                    "--note", "checked the library list by hand")
    assert result.exit_code == 0, result.output
    assert f"task {review.id}: review -> processed" in result.output
    with _store(project) as store:
        settled = store.get(review.id)
        assert settled.status == "processed" and store.get(failed.id).status == "processed"
    resolution = settled.resolution
    assert resolution["note"] == "checked the library list by hand" and resolution["from"] == "review"
    assert resolution["by"] and resolution["at"]
    again = invoke("tasks", "resolve", str(project), str(done.id), "--status", "failed")
    assert again.exit_code == 1 and "only review or failed tasks" in again.output
    assert invoke("tasks", "resolve", str(project), "1").exit_code == 2  # --status is required


def test_retry_leaves_a_task_under_a_live_lease_alone(project):
    invoke("incoming", "run", str(project))
    with _store(project) as store:
        [claimed] = store.claim("out", 1, "other-host:1:abc", lease_seconds=600)
    result = invoke("tasks", "retry", str(project), "--status", "processing")
    assert result.exit_code == 1
    assert f"task {claimed.id} is being worked on" in result.output and "other-host" in result.output
    with _store(project) as store:
        assert store.get(claimed.id).status == "processing"


def test_retry_of_a_lapsed_unsafe_task_whose_request_left_sends_nothing_and_holds_it_for_review(project):
    invoke("incoming", "run", str(project))
    with _store(project) as store:
        [claimed] = store.claim("out", 1, "gone-host:1:abc", lease_seconds=0)
        store.set(SENT_NAMESPACE, str(claimed.id), {"worker": "gone-host:1:abc", "look": None})
    result = invoke("tasks", "retry", str(project), str(claimed.id))
    assert result.exit_code == 3, result.output
    with _store(project) as store:
        assert store.get(claimed.id).status == "review"


@pytest.mark.parametrize("option", ["--incoming", "--outgoing"])
def test_tasks_list_of_an_unknown_name_is_an_error_listing_the_known_ones(project, option):
    result = invoke("tasks", "list", str(project), option, "nope")
    assert result.exit_code == 1
    kind = option.lstrip("-")
    assert f"no {kind} named 'nope'" in result.output
    assert ("known: rows" if kind == "incoming" else "known: out") in result.output


@pytest.mark.parametrize("store_path", ["/proc/alumio-nope/tasks.db", "blocker/tasks.db"])
@pytest.mark.parametrize("command", [["tasks", "list"], ["run"], ["incoming", "run"], ["storage", "list"]])
def test_a_store_folder_that_cannot_be_created_is_a_clean_error_from_every_command(tmp_path, store_path, command):
    folder = _project(tmp_path / "p", [{"name": "a"}], store={"path": store_path})
    (folder / "blocker").write_text("a file where the store's folder should be")
    result = invoke(*command, str(folder))
    assert result.exit_code == 1, result.output
    assert "tasks.db" in result.output and "cannot create the task store's folder" in result.output
    assert "Traceback" not in result.output


UPLOAD = {"publisher": {"entity": "files.upload", "body": "form",
                        "files": {"file": {"pattern": "text", "filename": "&{name}"}}}}


def _uploads_in_review(folder: Path, monkeypatch) -> list[int]:
    """Upload each row over a connection that drops after sending: every task lands in review."""
    import requests

    responses.post(FILES, body=requests.ConnectionError("Connection aborted"))
    assert invoke("run", str(folder)).exit_code == 3
    with _store(folder) as store:
        return [task.id for task in store.list(status="review")]


@responses.activate
def test_reconcile_finds_landed_uploads_and_frees_absent_ones(tmp_path, monkeypatch):
    rows = [{"name": name, "text": "hello", "form": {"purpose": "batch"}} for name in ("landed.txt", "absent.txt")]
    folder = _project(tmp_path / "p", rows, UPLOAD)
    landed, absent = _uploads_in_review(folder, monkeypatch)
    found = {"id": "file-1", "object": "file", "filename": "landed.txt", "bytes": 5, "purpose": "batch",
             "created_at": 4102444800}
    responses.get(FILES, json={"object": "list", "data": [found], "total": 1},
                  match=[responses.matchers.query_param_matcher({"search": "landed.txt", "purpose": "batch"},
                                                               strict_match=False)])
    responses.get(FILES, json={"object": "list", "data": [], "total": 0})
    early = invoke("tasks", "reconcile", str(folder), str(absent), "--json")  # it may still be on its way
    assert early.exit_code == 3
    [decision] = json.loads(early.output)
    assert decision["status"] == "review" and "look again after" in decision["note"]
    result = invoke("tasks", "reconcile", str(folder), "--settle", "0")
    assert result.exit_code == 0, result.output
    assert f"task {landed}: processed: found the file 'landed.txt' of 5 bytes" in result.output
    assert f"task {absent}: failed: no file 'absent.txt' of 5 bytes on the server" in result.output
    with _store(folder) as store:
        assert store.get(landed).status == "processed" and store.get(landed).result == found
        assert store.get(absent).status == "failed"
        assert store.get(absent).resolution["by"] == "tasks reconcile"
    assert not any(call.request.method == "POST" for call in responses.calls[-2:])  # reconcile only reads
    listed = invoke("tasks", "list", str(folder), "--status", "processed")
    assert f"{landed}  processed" in listed.output and "may have reached" not in listed.output, listed.output


@responses.activate
def test_reconcile_keeps_in_review_what_it_cannot_check(project):
    [review] = _run_once(project)["review"]  # a library create has no lookup
    result = invoke("tasks", "reconcile", str(project), "--json")
    assert result.exit_code == 3
    [decision] = json.loads(result.output)
    assert decision["task"] == review.id and decision["status"] == "review"
    with _store(project) as store:
        kept = store.get(review.id)
    assert kept.status == "review" and "nothing was recorded" in kept.resolution["note"]
    named = invoke("tasks", "reconcile", str(project), "1")
    assert named.exit_code == 1 and "only tasks in review are reconciled" in named.output


@responses.activate
def test_an_open_circuit_breaker_stops_the_run_fast_and_leaves_the_rest_new(tmp_path):
    folder = _project(tmp_path / "p", [{"n": n} for n in range(6)],
                      {"publisher": {"entity": "chat.complete"}, "failure": {"policy": "fail"}},
                      clients={"mistral": {"base_uri": BASE, "api_key": KEY, "max_attempts": 1,
                                           "breaker_failures": 2, "breaker_cool_down": 60}})
    responses.post(f"{BASE}/v1/chat/completions", status=500, json={"message": "down"})
    result = invoke("run", str(folder))
    assert result.exit_code == 1, result.output
    assert "stopped: outgoing 'out': stopped claiming tasks" in result.output and "stay new" in result.output
    assert len(responses.calls) == 2  # the breaker kept every later request back
    with _store(folder) as store:
        assert Counter(task.status for task in store.list()) == {"failed": 2, "new": 4}


def test_resolve_needs_no_secrets(tmp_path, monkeypatch):
    folder = _project(tmp_path / "p", [{"name": "a"}])
    with _store(folder) as store:
        [task_id] = store.add_tasks("rows", {"name": "a"}, ["out"], "a")
        store.claim("out", 1, "w")
        store.finish(task_id, "review", error={"type": "UncertainPublish", "message": "checked by hand"})
    document = yaml.safe_load((folder / "alumio.yaml").read_text())
    document["clients"]["mistral"]["api_key"] = "${UNSET_RESOLVE_KEY}"
    (folder / "alumio.yaml").write_text(yaml.safe_dump(document))
    monkeypatch.delenv("UNSET_RESOLVE_KEY", raising=False)
    result = invoke("tasks", "resolve", str(folder), str(task_id), "--status", "failed")
    assert result.exit_code == 0, result.output
