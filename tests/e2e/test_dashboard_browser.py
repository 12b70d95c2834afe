"""The dashboard in a real headless Chromium (Debian's ``chromium`` and ``chromium-driver``):
the overview's counts, filtering to failed tasks, their error, and retry from the page.

A screenshot of the overview is kept in the test's tmp_path and in ``test-artifacts/``.
Without Chromium the test skips, except in CI, where ``.ci/run`` installs it and it must run.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from dashboard_project import FAULTS, run_project, served, write_project

from alumio_mistral.sandbox import Sandbox
from alumio_mistral.sandbox.faults import Faults

pytestmark = pytest.mark.e2e

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        pytest.fail("CI is set but chromium or chromedriver is missing: .ci/run installs them", pytrace=False)
    pytest.skip("no chromium/chromedriver here (apt-get install chromium chromium-driver; CI runs this test)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402  (only where a browser exists)
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()


def _click_retry(browser, task_id: int) -> None:
    """Press the row's Retry button; the table is swapped by polling, so look it up afresh."""
    for _ in range(5):
        try:
            browser.find_element(By.CSS_SELECTOR, f'tr[data-task="{task_id}"] button.retry').click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"the retry button of task {task_id} kept being replaced")


def test_overview_filter_failed_and_retry_in_chromium(tmp_path: Path, browser) -> None:
    with Sandbox(faults=FAULTS) as sandbox:
        folder = write_project(tmp_path / "p", sandbox.base_uri, 50)
        run_project(folder)
        sandbox.app.faults = Faults.parse("")  # the retry will succeed
        with served(folder, poll_seconds=1) as (server, runtime):
            store = runtime.store
            counts = store.counts()
            failed = sorted(task.id for task in store.list(status="failed"))
            assert 1 <= len(failed) < 15 and counts["processed"] + counts["failed"] == 50

            browser.get(server.base_uri + "/")
            shown = {status: browser.find_element(By.CSS_SELECTOR, f'td[data-total="{status}"]').text
                     for status in ("processed", "failed", "new")}
            assert shown == {"processed": str(counts["processed"]), "failed": str(counts["failed"]), "new": "0"}
            assert browser.find_element(By.ID, "chart").is_displayed()
            ARTIFACTS.mkdir(exist_ok=True)
            browser.save_screenshot(str(tmp_path / "overview.png"))
            shutil.copy(tmp_path / "overview.png", ARTIFACTS / "dashboard-overview.png")

            browser.get(server.base_uri + "/tasks")
            Select(browser.find_element(By.NAME, "status")).select_by_visible_text("failed")
            browser.find_element(By.CSS_SELECTOR, "#filter button[type=submit]").click()
            WebDriverWait(browser, 10).until(lambda b: "status=failed" in b.current_url)
            rows = browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr[data-task]")
            assert sorted(int(row.get_attribute("data-task")) for row in rows) == failed
            assert all("Injected sandbox fault 400" in row.find_element(By.CSS_SELECTOR, "td.error").text
                       for row in rows)

            _click_retry(browser, failed[0])
            WebDriverWait(browser, 20).until(lambda _: store.get(failed[0]).status == "processed")
            assert sorted(task.id for task in store.list(status="failed")) == failed[1:]
            # back on the failed list, which no longer has it
            WebDriverWait(browser, 10).until(lambda b: "status=failed" in b.current_url and sorted(
                int(row.get_attribute("data-task"))
                for row in b.find_elements(By.CSS_SELECTOR, "#tasks tbody tr[data-task]")) == failed[1:])
