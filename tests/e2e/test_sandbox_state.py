"""Stateful families over HTTP, through the ``mistral_sandbox`` fixture, paging through real data."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests

from alumio_mistral.sandbox import Sandbox, embedded_base_uri

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(mistral_sandbox: Sandbox) -> "Api":
    return Api(mistral_sandbox.base_uri)


class Api:
    def __init__(self, base_uri: str) -> None:
        self.base = base_uri
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer sandbox-key"

    def __call__(self, method: str, path: str, **kwargs: object) -> requests.Response:
        response = self.session.request(method, self.base + path, **kwargs)
        assert response.status_code < 400, response.text
        return response


def test_files_page_with_totals_and_filters(api: Api) -> None:
    for index in range(5):
        purpose = "batch" if index % 2 else "ocr"
        api("POST", "/v1/files", files={"file": (f"f{index}.txt", b"x"), "purpose": (None, purpose)})
    pages = [api("GET", "/v1/files", params={"page": page, "page_size": 2}).json() for page in range(4)]
    assert [len(p["data"]) for p in pages] == [2, 2, 1, 0] and {p["total"] for p in pages} == {5}
    batch = api("GET", "/v1/files", params={"purpose": "batch"}).json()
    assert batch["total"] == 2 and {f["filename"] for f in batch["data"]} == {"f1.txt", "f3.txt"}
    first = pages[0]["data"][0]
    assert api("GET", f"/v1/files/{first['id']}/content").content == b"x"
    signed = api("GET", f"/v1/files/{first['id']}/url").json()["url"]
    assert requests.get(signed, timeout=5).content == b"x", "a signed URL needs no bearer token"
    no_file = api.session.post(api.base + "/v1/files", files={"purpose": (None, "batch")})
    assert no_file.status_code == 422 and no_file.json()["detail"][0]["loc"] == ["body", "file"]
    bad_visibility = api.session.post(api.base + "/v1/files", files={"file": ("a", b"x"), "visibility": (None, "x")})
    assert bad_visibility.status_code == 422 and bad_visibility.json()["detail"][0]["loc"] == ["body", "visibility"]
    api("DELETE", f"/v1/files/{first['id']}")
    assert api.session.get(f"{api.base}/v1/files/{first['id']}").status_code == 404


def test_conversations_start_append_restart_history_and_stream(api: Api) -> None:
    started = api("POST", "/v1/conversations", json={"model": "mistral-small-latest", "inputs": "Hi"}).json()
    conversation = started["conversation_id"]
    api("POST", f"/v1/conversations/{conversation}", json={"inputs": [{"role": "user", "content": "More"}]})
    history = api("GET", f"/v1/conversations/{conversation}/history").json()["entries"]
    assert [e["type"] for e in history] == ["message.input", "message.output"] * 2
    restarted = api("POST", f"/v1/conversations/{conversation}/restart",
                    json={"inputs": "Instead", "from_entry_id": history[1]["id"]}).json()
    messages = api("GET", f"/v1/conversations/{restarted['conversation_id']}/messages").json()["messages"]
    assert [m["content"] for m in messages[:2]] == ["Hi", history[1]["content"]] and messages[2]["content"] == "Instead"
    stream = api("POST", f"/v1/conversations/{conversation}", json={"inputs": "Go", "stream": True})
    names = [line[len("event: "):] for line in stream.text.splitlines() if line.startswith("event: ")]
    assert names[0] == "conversation.response.started" and names[-1] == "conversation.response.done"
    assert set(names[1:-1]) == {"message.output.delta"}
    listed = [api("GET", "/v1/conversations", params={"page": p, "page_size": 1}).json() for p in range(3)]
    assert [len(page) for page in listed] == [1, 1, 0]
    api("DELETE", f"/v1/conversations/{conversation}")
    assert len(api("GET", "/v1/conversations").json()) == 1


def test_agents_page_by_token_to_the_end(api: Api) -> None:
    created = [api("POST", "/v1/agents", json={"model": "m", "name": f"agent {i}"}).json()["id"] for i in range(5)]
    seen, token, pages = [], None, 0
    while True:
        params = {"page_size": 2, **({"page_token": token} if token else {})}
        page = api("GET", "/v1/agents/pages", params=params).json()
        seen += [agent["id"] for agent in page["data"]]
        token, pages = page["next_page_token"], pages + 1
        if not token:
            break
    assert seen == created and pages == 3
    assert len(api("GET", "/v1/agents", params={"page": 2, "page_size": 2}).json()) == 1


def test_libraries_and_documents(api: Api) -> None:
    library = api("POST", "/v1/libraries", json={"name": "Handbook"}).json()
    base = f"/v1/libraries/{library['id']}/documents"
    document = api("POST", base, files={"file": ("guide.md", b"# Guide\fpage two")}).json()
    statuses = [api("GET", f"{base}/{document['id']}/status").json()["process_status"] for _ in range(2)]
    assert statuses == ["in_progress", "done"]
    assert api("GET", f"{base}/{document['id']}/text_content").json() == {"text": "# Guide\fpage two"}
    assert api("GET", f"/v1/libraries/{library['id']}").json()["nb_documents"] == 1
    listed = api("GET", base, params={"page_size": 1}).json()
    assert listed["pagination"]["total_items"] == 1 and listed["pagination"]["has_more"] is False
    api("DELETE", f"{base}/{document['id']}")
    assert api("GET", "/v1/libraries").json()["data"][0]["nb_documents"] == 0


def test_stopping_a_sandbox_frees_its_port_and_thread() -> None:
    before = set(threading.enumerate())
    sandbox = Sandbox().start()
    port = sandbox.port
    requests.get(sandbox.base_uri + "/_sandbox/requests").raise_for_status()
    serving = [thread for thread in set(threading.enumerate()) - before if thread.name == "mistral-sandbox"]
    sandbox.stop()
    assert serving and not any(thread.is_alive() for thread in serving)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_embedded_sandbox_is_one_per_process() -> None:
    uri = embedded_base_uri()
    assert uri == embedded_base_uri()
    assert json.loads(requests.get(uri + "/_sandbox/requests").text) is not None


def test_fixture_validates_requests(mistral_sandbox: Sandbox) -> None:
    answer = requests.post(mistral_sandbox.base_uri + "/v1/embeddings", json={"input": "x"},
                           headers={"Authorization": "Bearer k"})
    assert answer.status_code == 422
