"""The dashboard over loopback HTTP on a project published to the sandbox: what each page
shows, the retry and resolve actions with the CLI's rules, the login and CSRF checks, and
that no page ever shows a secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from dashboard_project import FAULTS, KEY, run_project, served, write_project

from alumio_mistral.sandbox import Sandbox
from alumio_mistral.sandbox.faults import Faults
from alumio_mistral.service.app import ServiceApp
from alumio_mistral.service.dashboard import TOKEN_VARIABLE, BindRefused, check_bind

pytestmark = pytest.mark.e2e

TOKEN = "dashboard-login-token-5e1d0c7a"
PAGES = ["/", "/tasks", "/tasks?status=failed", "/schedules", "/project", "/login"]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(faults=FAULTS) as running:
        yield running


@pytest.fixture
def project(tmp_path: Path, sandbox) -> Path:
    sandbox.app.faults = Faults.parse(FAULTS)
    folder = write_project(tmp_path / "p", sandbox.base_uri, 40)
    run_project(folder)
    sandbox.app.faults = Faults.parse("")  # from now on every request succeeds: a retry completes
    return folder


def ids_on(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-task="(\d+)"', html)]


def csrf_on(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', html).group(1)


def test_overview_counts_and_chart_match_the_store(project: Path) -> None:
    with served(project) as (server, runtime):
        counts = runtime.store.counts()
        html = requests.get(server.base_uri + "/", timeout=10).text
    assert counts["failed"] >= 1 and counts["processed"] + counts["failed"] == 40
    for status in ("processed", "failed"):
        assert re.search(rf'data-total="{status}">{counts[status]}<', html)
    assert f"processed {counts['processed']}" in html and f"failed {counts['failed']}" in html  # the chart
    assert html.count("<rect") == 48 and "<svg" in html
    assert 'class="breaker closed">closed<' in html and "Open batch jobs" in html
    assert 'hx-trigger="every 3000ms"' in html and "/static/htmx.min.js" in html


def test_tasks_filter_to_failed_lists_exactly_them_with_their_error(project: Path) -> None:
    with served(project) as (server, runtime):
        failed = [task.id for task in runtime.store.list(status="failed")]
        html = requests.get(server.base_uri + "/tasks", params={"status": "failed"}, timeout=10).text
        by_text = requests.get(server.base_uri + "/tasks", params={"q": "item-007"}, timeout=10).text
        detail = requests.get(f"{server.base_uri}/tasks/{failed[0]}", timeout=10).text
    assert sorted(ids_on(html)) == sorted(failed)
    assert html.count("RequestValidationError: Injected sandbox fault 400") == len(failed)
    assert len(ids_on(by_text)) == 1 and "item-007" in by_text and "item-008" not in by_text
    assert "Injected sandbox fault 400" in detail and "/v1/chat/completions" in detail  # error and request


def test_retry_and_resolve_follow_the_cli_rules(project: Path) -> None:
    with served(project) as (server, runtime):
        store = runtime.store
        first, second, *_ = [task.id for task in store.list(status="failed")] + [None]
        page = requests.get(server.base_uri + "/tasks?status=failed", timeout=10).text
        refused = requests.post(server.base_uri + "/actions/retry", data={"id": first}, timeout=10)
        assert refused.status_code == 403 and store.get(first).status == "failed"
        done = requests.post(server.base_uri + "/actions/retry", data={"id": first, "csrf": csrf_on(page)},
                             timeout=30, allow_redirects=False)
        assert done.status_code == 303 and store.get(first).status == "processed"

        [review] = store.add_tasks("items", {"id": "x", "text": "again"}, ["chat"], "x")
        store.claim("chat", 10, "w", ids=[review])
        store.finish(review, "review", error={"type": "Unknown", "message": "no answer came"})
        detail = requests.get(f"{server.base_uri}/tasks/{review}", timeout=10).text
        assert "may do it twice" in detail and 'name="confirm_review"' in detail
        unconfirmed = requests.post(server.base_uri + "/actions/retry", data={"id": review, "csrf": csrf_on(detail)},
                                    timeout=10)
        assert unconfirmed.status_code == 409 and "may already have been carried out" in unconfirmed.text
        assert store.get(review).status == "review"
        requests.post(server.base_uri + "/actions/resolve", timeout=10, data={
            "id": review, "status": "failed", "note": "not on the server", "csrf": csrf_on(detail)})
        settled = store.get(review)
        assert settled.status == "failed" and settled.resolution["note"] == "not on the server"
        assert settled.resolution["by"].startswith("dashboard")

        [confirmed] = store.add_tasks("items", {"id": "y", "text": "once more"}, ["chat"], "y")
        store.claim("chat", 10, "w", ids=[confirmed])
        store.finish(confirmed, "review", error={"type": "Unknown", "message": "no answer came"})
        sent = requests.post(server.base_uri + "/actions/retry", timeout=30, allow_redirects=False, data={
            "id": confirmed, "confirm_review": "yes", "csrf": csrf_on(detail)})
        assert sent.status_code == 303 and store.get(confirmed).status == "processed"


def test_a_token_guards_every_page_and_the_login_sets_a_cookie(project: Path) -> None:
    with served(project, token=TOKEN) as (server, runtime):
        base = server.base_uri
        assert requests.get(base + "/", timeout=10).status_code == 401
        assert requests.get(base + "/tasks", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.get(base + "/tasks", headers=bearer, timeout=10).status_code == 200
        assert requests.post(base + "/login", data={"token": "nope"}, timeout=10).status_code == 401
        browser = requests.Session()
        login = browser.post(base + "/login", data={"token": TOKEN}, timeout=10, allow_redirects=False)
        assert login.status_code == 303 and TOKEN not in login.headers["Set-Cookie"]
        assert "HttpOnly" in login.headers["Set-Cookie"] and "SameSite=Strict" in login.headers["Set-Cookie"]
        page = browser.get(base + "/tasks?status=failed", timeout=10)
        assert page.status_code == 200
        failed = ids_on(page.text)[0]
        assert browser.post(base + "/actions/retry", data={"id": failed}, timeout=10).status_code == 403
        assert browser.post(base + "/actions/retry", data={"id": failed, "csrf": "0" * 64},
                            timeout=10).status_code == 403
        # a CSRF token of the open (loopback) dashboard is not one of this login
        assert requests.post(base + "/actions/retry", data={"id": failed, "csrf": csrf_on(page.text)},
                             timeout=10).status_code == 401
        assert runtime.store.get(failed).status == "failed"
        assert browser.post(base + "/actions/retry", data={"id": failed, "csrf": csrf_on(page.text)},
                            timeout=30).status_code == 200
        assert runtime.store.get(failed).status == "processed"


def test_without_a_token_only_loopback_host_names_are_answered(project: Path) -> None:
    with served(project) as (server, runtime):
        rebound = requests.get(server.base_uri + "/tasks", headers={"Host": f"evil.example:{server.port}"}, timeout=10)
        assert rebound.status_code == 403
        for host in ("localhost", f"127.0.0.1:{server.port}", f"[::1]:{server.port}"):
            assert requests.get(server.base_uri + "/", headers={"Host": host}, timeout=10).status_code == 200
        page = requests.get(server.base_uri + "/tasks?status=failed", timeout=10).text
        failed = ids_on(page)[0]
        away = requests.post(server.base_uri + "/actions/retry", allow_redirects=False, timeout=30,
                             data={"id": failed, "csrf": csrf_on(page), "next": "/\\evil.example/"})
        assert away.headers["Location"] == f"/tasks/{failed}"


def test_check_bind_refuses_the_network_without_a_token() -> None:
    with pytest.raises(BindRefused, match=TOKEN_VARIABLE):
        check_bind("0.0.0.0", {})
    with pytest.raises(BindRefused):
        check_bind("192.168.1.4", {TOKEN_VARIABLE: ""})
    assert check_bind("0.0.0.0", {TOKEN_VARIABLE: TOKEN}) == TOKEN
    assert check_bind("127.0.0.1", {}) is None and check_bind("::1", {}) is None and check_bind("localhost", {}) is None


def test_no_page_shows_a_secret(project: Path) -> None:
    with served(project, token=TOKEN) as (server, runtime):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        tasks = [f"/tasks/{task.id}" for task in runtime.store.list()]
        for path in PAGES + tasks:
            page = session.get(server.base_uri + path, timeout=10)
            assert page.status_code == 200, path
            assert KEY not in page.text and TOKEN not in page.text, path
        project_page = session.get(server.base_uri + "/project", timeout=10).text
        assert re.search(r"api_key: (&#39;|')\*\*\*", project_page)  # masked, even the ${VARIABLE} reference


def test_assets_ship_with_the_package_and_other_paths_stay_the_service_s(project: Path) -> None:
    with served(project) as (server, _):
        script = requests.get(server.base_uri + "/static/htmx.min.js", timeout=10)
        assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript"
        assert requests.get(server.base_uri + "/static/..%2Fapp.py", timeout=10).status_code == 404
        assert requests.get(server.base_uri + "/tasks/999999", timeout=10).status_code == 404
        # serve's own health route, not a page (503 here: this harness never starts the schedules)
        assert requests.get(server.base_uri + "/healthz", timeout=10).json()["store"] == "ok"
    bare = ServiceApp(health=lambda: (True, {}), metrics=lambda: (b"", "text/plain"))
    answers: list[str] = []
    bare({"PATH_INFO": "/", "REQUEST_METHOD": "GET"}, lambda status, headers: answers.append(status))
    assert answers == ["404 Not Found"]
