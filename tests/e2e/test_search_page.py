"""The search page and API inside Airflow: a real api-server with the plugin, a real browser.

Starts ``airflow api-server`` with this project's plugins on 127.0.0.1, checks that the
page is in the UI's navigation and behind Airflow's authentication, then drives the page
in headless Chromium (Debian's chromium + chromedriver): it loads, a query returns hits
grouped by video with the query's words marked, a hit on a local file opens the player at its
second, the page follows the UI's dark mode, and the API docs load with no internet.
Screenshots land in ``$SCRIBEFLOW_SCREENSHOTS`` when it is set (else the test's tmp dir).
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
WARM_HOSTS = True  # its runs go to the session's model host and run host
ROOT = Path(__file__).resolve().parents[2]


#: A stored passage of an interview, with the two speakers heard in it.
INTERVIEW = "Why are the coral reefs turning white? Warm water drives the algae out of the coral."


@pytest.fixture(scope="module")
def data_dir(media, run_pipeline, tmp_path_factory, embedder) -> Path:
    from scribeflow.core.files import DataPaths
    from scribeflow.core.records import ChunkRow
    from scribeflow.index.store.parquet import ParquetStore

    root = tmp_path_factory.mktemp("page-data")
    # a local file: its hits link to the app's player, not to file://
    outcome = run_pipeline(str(media.root / "talk.mp4"), root, "--chunk-words", "40")
    assert outcome.code == 0, outcome.output
    vector = embedder.encode([INTERVIEW], normalize_embeddings=True)[0]
    ParquetStore(DataPaths(root).parquet_store).upsert_video("reefs", [ChunkRow(
        id="reefs-0", video_id="reefs", chunk_index=0, unit_index=0, start=12.0, end=20.0,
        text=INTERVIEW, title="Reefs", channel=None, upload_date=None, language="en",
        url="https://example.org/reefs", model="all-MiniLM-L6-v2", vector=vector,
        speakers=("Speaker 1", "Speaker 2"))])
    # the digest of what was stored so far, as the digest DAG writes it
    import datetime as dt

    from scribeflow.library.digest import write_digest

    write_digest(DataPaths(root), "scheduled__first", dt.datetime.now(dt.UTC),
                 "http://127.0.0.1/scribeflow")
    return root


@pytest.fixture(scope="module")
def answering_llm():
    """The api-server's LLM: a real local server with the scripted editor's answers."""
    from support.openai_server import EditorScript, ScriptedOpenAI

    with ScriptedOpenAI(EditorScript(error_at=0, rate_limit_first=False)) as server:
        yield server


@pytest.fixture(scope="module")
def airflow(data_dir, airflow_home, tmp_path_factory, answering_llm):
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
        OPENAI_BASE_URL=answering_llm.base_url, OPENAI_API_KEY="k", OPENAI_MODEL="m",
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
    views = [(v["name"], v["href"], v["destination"]) for v in plugin["external_views"]]
    assert views == [("Search transcripts", "scribeflow/", "nav"),
                     ("Channel digests", "scribeflow/digests/", "nav")]
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


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SCRIBEFLOW_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def signed_in(browser, base: str, token: str, theme: str = "light") -> None:
    browser.get(f"{base}/api/v2/monitor/health")
    browser.add_cookie({"name": "_token", "value": token, "path": "/"})
    browser.execute_script("window.localStorage.setItem('theme', arguments[0])", theme)


def wait_until_model_ready(base: str, token: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        status, body = json_request(f"{base}/scribeflow/api/status", token)
        assert status == 200 and body["search_model"]["state"] != "failed", body
        if body["search_model"]["state"] == "ready":
            return
        assert time.monotonic() < deadline, body
        time.sleep(1)


def test_search_page_in_a_browser(airflow, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as until
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = airflow
    # the api-server loads the search model as it starts, in the background
    wait_until_model_ready(base, token)
    browser.set_window_size(1280, 900)
    signed_in(browser, base, token)
    browser.get(f"{base}/scribeflow/")
    assert browser.title.startswith("Search transcripts")
    WebDriverWait(browser, 10).until(lambda d: not d.find_element(By.ID, "model").is_displayed())
    # the form fits one line at 1280 px
    tops = browser.execute_script(
        "return [...document.querySelectorAll('#search > *')].map(e => e.getBoundingClientRect().top)")
    assert len(tops) == 10 and max(tops) - min(tops) < 4, tops
    browser.find_element(By.ID, "q").send_keys("the largest planet in the solar system")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 60).until(until.presence_of_element_located((By.CSS_SELECTOR, ".video")))
    (video,) = browser.find_elements(By.CSS_SELECTOR, ".video")  # one video: its hits grouped
    assert video.find_element(By.TAG_NAME, "h2").text == "talk"  # the title, not the raw id
    assert video.get_attribute("data-video-id").startswith("file-")
    assert "file-" not in video.text
    hits = video.find_elements(By.CSS_SELECTOR, ".hit")
    meta = video.find_element(By.CSS_SELECTOR, ".meta").text
    assert meta == f"en · {len(hits)} moments" and len(hits) >= 2, meta
    jupiter = next(h for h in hits if "jupiter" in h.find_element(By.TAG_NAME, "p").text.lower())
    marked = {m.text.lower() for m in jupiter.find_elements(By.TAG_NAME, "mark")}
    assert {"largest", "planet"} <= marked and not marked & {"the", "in"}, marked
    relevance = jupiter.find_element(By.CSS_SELECTOR, ".relevance").text
    assert relevance.endswith("% match") and 30 <= int(relevance.removesuffix("% match")) <= 100
    assert "weak" not in jupiter.get_attribute("class")
    # passages far in meaning (under the similarity floor) are not listed
    assert all(int(h.find_element(By.CSS_SELECTOR, ".relevance").text[:-7]) >= 15 for h in hits)
    assert browser.find_element(By.ID, "status").text.endswith("hits in 1 video")
    assert not video.find_elements(By.CSS_SELECTOR, ".speakers")  # one voice: nobody named
    browser.save_screenshot(str(shots / "search-light.png"))

    # the hit's time plays the video right there from that second (the link itself is the
    # player page, for a new tab)
    link = jupiter.find_element(By.CSS_SELECTOR, "a.time")
    href = link.get_attribute("href")
    assert href.startswith(f"{base}/scribeflow/watch/file-") and "?t=" in href
    second = int(href.rsplit("?t=", 1)[1])
    minutes, secs = link.text.split(":")
    assert int(minutes) * 60 + int(secs) == second > 0
    link.click()
    assert_plays_inline(browser, video, second)
    assert len(browser.window_handles) == 1
    browser.save_screenshot(str(shots / "search-playing.png"))
    # the player page, as a new tab would open it
    browser.get(href)
    state = "const v = document.getElementById('player'); return [v.readyState, v.currentTime, v.paused, v.error && v.error.code]"
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(state)[0] >= 2)
    ready, at, _, error = browser.execute_script(state)
    assert error is None and second - 0.5 <= at < second + 3, (ready, at, second)
    assert browser.find_element(By.TAG_NAME, "h1").text == "talk"
    browser.save_screenshot(str(shots / "player.png"))
    browser.get(f"{base}/scribeflow/")
    # a speaker's number keeps the passages where that speaker is heard, each naming them
    speaker = browser.find_element(By.NAME, "speaker")
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("why do coral reefs turn white")
    speaker.send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "status").text.endswith("in 1 video")
        and d.find_elements(By.CSS_SELECTOR, ".video[data-video-id=reefs]"))
    (reefs,) = browser.find_elements(By.CSS_SELECTOR, ".hit")
    assert reefs.find_element(By.CSS_SELECTOR, ".speakers").text == "Speaker 1, Speaker 2:"
    speaker.clear()
    speaker.send_keys("the host")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(
        lambda d: "filter speaker must be" in d.find_element(By.ID, "status").text)
    speaker.clear()
    browser.get(f"{base}/scribeflow/")
    # nothing near in meaning: the nearest passages, each marked weak, and the status says so
    browser.find_element(By.ID, "q").send_keys("stock market interest rates and inflation")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(until.presence_of_element_located((By.CSS_SELECTOR, ".hit")))
    weak = browser.find_elements(By.CSS_SELECTOR, ".hit")
    assert all("weak" in h.get_attribute("class") and "weak match" in h.text for h in weak)
    assert browser.find_element(By.ID, "status").text.endswith(
        ": nothing matched closely; these are the nearest passages")
    browser.save_screenshot(str(shots / "search-weak.png"))

    # a store-side refusal shows as a message, not a crash
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys("x" * 1200)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(
        lambda d: "query too long" in d.find_element(By.ID, "status").text)
    assert browser.find_elements(By.CSS_SELECTOR, ".hit") == []


def assert_plays_inline(browser, section, second: int) -> None:
    """The video's inline player, under its title, plays on from ``second``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    player = WebDriverWait(browser, 10).until(
        lambda d: section.find_elements(By.CSS_SELECTOR, "video.inline"))[0]
    state = "const v = arguments[0]; return [v.readyState, v.currentTime, v.paused, v.error && v.error.code]"
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(state, player)[0] >= 2)
    ready, at, _, error = browser.execute_script(state, player)
    assert error is None and second - 0.5 <= at < second + 3, (ready, at, second)
    time.sleep(1.5)
    assert browser.execute_script(state, player)[1] > at, "the inline player did not play"


def luminance(css_colour: str) -> float:
    import re

    numbers = [float(n) for n in re.findall(r"[\d.]+", css_colour)]
    if css_colour.startswith("oklch"):
        return numbers[0]
    return (0.2126 * numbers[0] + 0.7152 * numbers[1] + 0.0722 * numbers[2]) / 255


def test_page_opens_inside_the_airflow_ui_in_its_colour_mode(airflow, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = airflow
    browser.set_window_size(1280, 900)
    for theme in ("dark", "light"):
        signed_in(browser, base, token, theme)
        browser.get(f"{base}/plugin/scribeflow-search")
        frame = WebDriverWait(browser, 60).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[src*='scribeflow']"))[0]
        WebDriverWait(browser, 30).until(
            lambda d, theme=theme: d.execute_script(
                "return document.documentElement.classList.contains(arguments[0])", theme))
        browser.switch_to.frame(frame)
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "q"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "Search transcripts"
        assert browser.execute_script("return document.documentElement.dataset.theme") == theme
        background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert (luminance(background) < 0.35) == (theme == "dark"), background
        tops = browser.execute_script(
            "return [...document.querySelectorAll('#search > *')].map(e => e.getBoundingClientRect().top)")
        assert max(tops) - min(tops) < 4, tops  # one line inside the UI's frame too
        browser.find_element(By.ID, "q").send_keys("magma under a volcano")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(browser, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".hit"))
        if theme == "dark":
            in_the_frame(browser, base, shots)
        browser.switch_to.default_content()
        browser.save_screenshot(str(shots / f"airflow-ui-{theme}.png"))


def in_the_frame(browser, base: str, shots: Path) -> None:
    """Inside the UI's sandboxed frame (no new windows, no navigating the window): a hit's
    time plays the video inline; its title opens the video's results page in the frame,
    whose way back is the search page and whose run link makes the UI show the run."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    frame_sandbox = browser.execute_script(
        "return window.frameElement && window.frameElement.getAttribute('sandbox')")
    assert frame_sandbox and "allow-popups" not in frame_sandbox, frame_sandbox
    section = browser.find_element(By.CSS_SELECTOR, ".video")
    link = section.find_element(By.CSS_SELECTOR, "a.time")
    second = int(link.get_attribute("href").rsplit("?t=", 1)[1])
    link.click()
    assert_plays_inline(browser, section, second)
    assert len(browser.window_handles) == 1
    browser.switch_to.default_content()
    browser.save_screenshot(str(shots / "airflow-ui-playing.png"))
    browser.switch_to.frame(browser.find_elements(By.CSS_SELECTOR, "iframe[src*='scribeflow']")[0])
    video_id = section.get_attribute("data-video-id")
    section.find_element(By.CSS_SELECTOR, "h2 a").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.files"))
    assert browser.execute_script("return location.pathname") == f"/scribeflow/videos/{video_id}"
    assert "Subtitles (SRT)" in browser.find_element(By.CSS_SELECTOR, "ul.files").text
    run_id = "manual__2026-12-03T10:00:00+00:00"
    browser.execute_script("location.search = arguments[0]", f"?run={run_id}")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "run"))
    browser.find_element(By.ID, "run").click()
    browser.switch_to.default_content()
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return location.pathname").startswith(
            "/dags/video_pipeline/runs/manual__2026-12-03T10"))


def test_api_docs_load_without_internet(airflow, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = airflow
    signed_in(browser, base, token)
    browser.get(f"{base}/scribeflow/api/docs")
    title = WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))[0]
    assert title.text.startswith("Scribeflow search")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
    paths = {b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text
             for b in browser.find_elements(By.CSS_SELECTOR, ".opblock")}
    assert paths == {"/api/status", "/api/search", "/api/ask"}, paths
    browser.save_screenshot(str(shots / "api-docs.png"))


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


def test_ask_in_a_browser_cites_the_moment_and_declines_the_unrelated(airflow, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, token = airflow
    wait_until_model_ready(base, token)
    browser.set_window_size(1280, 900)
    signed_in(browser, base, token)
    browser.get(f"{base}/scribeflow/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("Which planet is the biggest?")
    browser.find_element(By.CSS_SELECTOR, "button[value=ask]").click()
    answer = WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.ID, "answer") if d.find_element(By.ID, "answer")
        .is_displayed() else None)
    browser.save_screenshot(str(shots / "ask.png"))
    assert "largest planet" in answer.text.lower()
    (cite,) = answer.find_elements(By.CSS_SELECTOR, "a.cite")
    assert cite.text == "[1]" and cite.get_attribute("href").startswith(
        f"{base}/scribeflow/watch/file-")  # the player, at the cited second
    (item,) = answer.find_elements(By.CSS_SELECTOR, "li")
    assert item.text.startswith("talk @ ") and "jupiter" in item.text.lower()
    assert not browser.find_elements(By.CSS_SELECTOR, ".video")  # an answer, not a hit list
    box.clear()
    box.send_keys("Who won the football match yesterday?")
    browser.find_element(By.CSS_SELECTOR, "button[value=ask]").click()
    WebDriverWait(browser, 60).until(
        lambda d: "does not hold" in d.find_element(By.ID, "answer").text)
    assert not browser.find_elements(By.CSS_SELECTOR, "#answer a.cite")


def test_the_digests_page_lists_the_digest_and_its_feed(airflow, browser):
    from selenium.webdriver.common.by import By

    base, token = airflow
    signed_in(browser, base, token)
    browser.get(f"{base}/scribeflow/digests/")
    assert browser.title.startswith("Channel digests")
    (first, *_) = browser.find_elements(By.CSS_SELECTOR, "ul.digests a")
    first.click()
    assert browser.title.startswith("What your channels said")
    assert "talk" in browser.find_element(By.TAG_NAME, "h3").text
    status, _ = json_request(f"{base}/scribeflow/digests/feed.atom")
    assert status in (401, 403)  # behind Airflow's authentication, as the page is
