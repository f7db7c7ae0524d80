"""The search page and API inside Airflow: a real api-server with the plugin, a real browser.

Starts ``airflow api-server`` with this project's plugins on 127.0.0.1, checks that the
page is in the UI's navigation and behind Airflow's authentication, then drives the page
in headless Chromium (Debian's chromium + chromedriver): it loads, a query returns hits,
and a hit's link carries its timestamp.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.airflow import clean_env
from support.http import free_port, json_request

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(media, run_pipeline, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("page-data")
    outcome = run_pipeline(media.url("talk.mp4"), root, "--chunk-words", "40")
    assert outcome.code == 0, outcome.output
    return root


@pytest.fixture(scope="module")
def airflow(data_dir, airflow_home, tmp_path_factory):
    """(base URL, JWT) of a running api-server with the Scribeflow plugin."""
    port = free_port()
    log = tmp_path_factory.mktemp("api-server") / "api-server.log"
    env = clean_env(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db?timeout=30",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__LAZY_LOAD_PLUGINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        PYTHONPATH=str(ROOT / "plugins"),
        SCRIBEFLOW_DATA=str(data_dir),
    )
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    with open(log, "w") as out:
        proc = subprocess.Popen([airflow_bin, "api-server", "--host", "127.0.0.1", "--port",
                                 str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if json_request(f"{base}/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated")
                               .read_text())
        status, body = json_request(f"{base}/auth/token",
                               data={"username": "admin", "password": passwords["admin"]})
        assert status in (200, 201), body
        yield base, body["access_token"]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)


def test_page_is_registered_in_the_navigation(airflow):
    base, token = airflow
    status, body = json_request(f"{base}/api/v2/plugins", token)
    assert status == 200
    plugin = next(p for p in body["plugins"] if p["name"] == "scribeflow")
    view = plugin["external_views"][0]
    assert (view["name"], view["href"], view["destination"]) == ("Search transcripts",
                                                                 "scribeflow/", "nav")
    assert plugin["fastapi_apps"][0]["url_prefix"] == "/scribeflow"
    assert body.get("import_errors", []) == [] or not any(
        "scribeflow" in str(e) for e in body.get("import_errors", []))


def test_api_is_behind_airflow_authentication(airflow):
    base, token = airflow
    status, _ = json_request(f"{base}/scribeflow/api/search?q=volcanoes")
    assert status in (401, 403)
    status, _ = json_request(f"{base}/scribeflow/api/search?q=volcanoes", "not-a-valid-token")
    assert status in (401, 403)
    status, body = json_request(f"{base}/scribeflow/api/search?q=melted+rock+and+magma&k=2", token)
    assert status == 200 and "magma" in body["hits"][0]["text"].lower()
    status, body = json_request(f"{base}/scribeflow/api/search?q=", token)
    assert status == 400 and body["detail"] == "empty query: give a few words to search for"


def test_search_page_in_a_browser(airflow, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = airflow
    browser.get(f"{base}/api/v2/monitor/health")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{base}/scribeflow/")
    assert browser.title.startswith("Search transcripts")
    browser.find_element(By.ID, "q").send_keys("the largest planet in the solar system")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 60).until(until.presence_of_element_located((By.CSS_SELECTOR, ".hit")))
    first = browser.find_elements(By.CSS_SELECTOR, ".hit")[0]
    assert "jupiter" in first.find_element(By.TAG_NAME, "p").text.lower()
    link = first.find_element(By.TAG_NAME, "a")
    assert link.text.startswith("talk @ ")
    href = link.get_attribute("href")
    assert href.startswith("http://127.0.0.1:") and "/talk.mp4#t=" in href
    seconds = int(href.rsplit("#t=", 1)[1])
    minutes, secs = link.text.removeprefix("talk @ ").split(":")
    assert int(minutes) * 60 + int(secs) == seconds
    assert browser.find_element(By.ID, "status").text.endswith("hits")
    browser.save_screenshot(str(tmp_path / "search.png"))

    # an empty store-side error shows as a message, not a crash
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("x" * 1200)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(
        lambda d: "query too long" in d.find_element(By.ID, "status").text)
    assert browser.find_elements(By.CSS_SELECTOR, ".hit") == []


def test_page_opens_inside_the_airflow_ui(airflow, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = airflow
    browser.get(f"{base}/api/v2/monitor/health")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.get(f"{base}/plugin/scribeflow-search")
    frame = WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[src*='scribeflow']"))[0]
    browser.save_screenshot(str(tmp_path / "airflow-ui.png"))
    browser.switch_to.frame(frame)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "q"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Search transcripts"
    browser.switch_to.default_content()


def test_serve_command_runs_the_same_app_locally(data_dir):
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("scribeflow")), "serve", "--port",
                             str(port)], env=clean_env(SCRIBEFLOW_DATA=str(data_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = json_request(f"{base}/api/search?q=baking+bread+with+yeast&k=1")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.5)
        assert status == 200 and "flour" in body["hits"][0]["text"].lower()
        assert json_request(f"{base}/api/search?q=ok&date_to=soon")[0] == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)
