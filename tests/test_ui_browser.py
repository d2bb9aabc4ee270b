"""The chat in a real headless Chromium: ask, see a cited quote, open its source; hostile
transcript text and hostile questions render as inert text; the server listens on
loopback only. Skips (with the reason) only when no Chromium or chromedriver is found.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
XSS_TITLE = 'Hearing on <script>window.__xss = 1</script> web safety & "escaping"'


def _find(names: list[str], env: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _find(["chromium", "chromium-browser", "google-chrome"], "TQA_CHROMIUM")
CHROMEDRIVER = _find(["chromedriver"], "TQA_CHROMEDRIVER")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path
) -> Iterator[tuple[Any, str]]:
    """`serve()` with its defaults over the tiny fixtures plus the XSS transcript."""
    from ui.app import serve

    corpus = tmp_path_factory.mktemp("browser") / "corpus"
    corpus.mkdir()
    for folder in ("retrieval", "xss"):
        for path in (fixtures_dir / folder).iterdir():
            shutil.copy(path, corpus / path.name)
    port = free_port()
    app = serve(corpus=str(corpus), port=port, show_progress=False, block=False)
    try:
        yield app, f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "no headless Chromium found (needs `chromium` and `chromedriver` on PATH, e.g. "
            "apt-get install chromium chromium-driver; .ci/run installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tqa-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1440,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: Any, condition: Any, timeout: float = 30) -> Any:
    return WebDriverWait(driver, timeout).until(condition)


def _ask(driver: Any, question: str) -> Any:
    """Type a question, press Enter, and return the finished exchange element."""
    before = len(driver.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange"))
    box = _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-question textarea"))
    box.send_keys(question)
    box.send_keys(Keys.ENTER)

    def answered(d: Any) -> Any:
        exchanges = d.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange")
        if len(exchanges) > before and not d.find_elements(By.CSS_SELECTOR, ".tqa-pending"):
            return exchanges[-1]
        return None

    return _wait(driver, answered)


def _open_source(driver: Any, button: Any) -> Any:
    """Click a citation and return the source panel once it shows that passage."""
    old = driver.find_element(By.ID, "tqa-source").text
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    return _wait(
        driver,
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#tqa-source .tqa-focus")
            and d.find_element(By.ID, "tqa-source").text != old
            and d.find_element(By.ID, "tqa-source")
        ),
    )


def _no_injected_elements(driver: Any) -> None:
    assert driver.execute_script("return window.__xss") is None
    for panel in ("tqa-chat", "tqa-source"):
        for tag in ("script", "img", "a", "iframe"):
            found = driver.find_elements(By.CSS_SELECTOR, f"#{panel} {tag}")
            assert not found, f"a <{tag}> element from transcript text was created in #{panel}"


def test_server_listens_on_loopback_only(server: tuple[Any, str]) -> None:
    app, url = server
    assert app.server_name == "127.0.0.1"
    port = app.server_port
    # The kernel's own table: the listening socket is bound to 127.0.0.1, not 0.0.0.0.
    tcp = Path("/proc/net/tcp")
    if tcp.exists():
        listening = [
            line.split()[1]
            for line in tcp.read_text().splitlines()[1:]
            if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port
        ]
        assert listening == [f"0100007F:{port:04X}"]


def test_ask_see_cited_quote_and_open_its_source(server: tuple[Any, str], browser: Any) -> None:
    _, url = server
    browser.get(url)
    exchange = _ask(browser, "What does the harbour wall need before winter?")
    quote = exchange.find_element(By.CSS_SELECTOR, "figure.tqa-quote blockquote")
    assert "The harbour wall needs new concrete before the winter storms arrive." in quote.text
    assert exchange.find_element(By.CSS_SELECTOR, "blockquote mark.tqa-best").text
    cite = exchange.find_element(By.CSS_SELECTOR, "figure.tqa-quote .tqa-cite")
    assert "Tom Reed" in cite.text and "Harbour budget meeting" in cite.text
    assert "4 March 2021" in cite.text and "Town Hall" in cite.text

    source = _open_source(browser, cite)
    focus = source.find_element(By.CSS_SELECTOR, ".tqa-focus")
    assert "Tom Reed" in focus.text
    assert "needs new concrete" in focus.find_element(By.CSS_SELECTOR, "mark").text
    turns = source.find_elements(By.CSS_SELECTOR, ".tqa-turn")
    assert len(turns) == 3  # the turn with the one before and the one after
    assert "Today we decide on the harbour wall repairs" in turns[0].text
    assert "How much will the concrete repairs cost?" in turns[2].text
    assert "Harbour budget meeting" in source.text and "Town Hall" in source.text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "chat.png"))


def test_side_panel_filters_and_follow_ups(server: tuple[Any, str], browser: Any) -> None:
    _, url = server
    browser.get(url)
    since = _wait(
        browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-since textarea, #tqa-since input")
    )
    since.send_keys("2022")
    _wait(browser, lambda d: "Since: 2022-01-01" in d.find_element(By.ID, "tqa-active").text)

    first = _ask(browser, "What did Mia Holm say about school lunches?")
    chips = first.find_element(By.CSS_SELECTOR, ".tqa-filters").text
    assert "Since: 2022-01-01" in chips  # from the side panel
    assert "Speaker: Mia Holm from your question" in chips  # implied, and marked as such
    follow_up = _ask(browser, "And what did she say about the cost?")
    assert "Speaker: Mia Holm" in follow_up.find_element(By.CSS_SELECTOR, ".tqa-filters").text
    for cite in follow_up.find_elements(By.CSS_SELECTOR, ".tqa-cite"):
        assert "Mia Holm" in cite.text
    assert "national nutrition grant covers two thirds" in follow_up.text

    browser.find_element(By.CSS_SELECTOR, "#tqa-clear-filters").click()
    _wait(browser, lambda d: "No filters" in d.find_element(By.ID, "tqa-active").text)
    assert since.get_attribute("value") == ""


def test_a_question_asked_while_another_is_answered_is_not_lost(
    server: tuple[Any, str], browser: Any
) -> None:
    _, url = server
    browser.get(url)
    box = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-question textarea"))
    box.send_keys("When will the rail tunnel open?" + Keys.ENTER)
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange"))
    second = _ask(browser, "What does the harbour wall need before winter?")
    exchanges = browser.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange")
    assert len(exchanges) == 2
    assert "The rail tunnel will open in October" in exchanges[0].text
    assert "needs new concrete" in second.text


def test_hostile_text_renders_as_inert_text(server: tuple[Any, str], browser: Any) -> None:
    _, url = server
    browser.get(url)
    question = (
        '<img src=x onerror="window.__xss = 1"> What did the inspectors find in the comment box?'
    )
    exchange = _ask(browser, question)
    assert exchange.find_element(By.CSS_SELECTOR, ".tqa-user .tqa-text").text == question
    cites = [
        c for c in exchange.find_elements(By.CSS_SELECTOR, ".tqa-cite") if "Dana Reyes" in c.text
    ]
    assert cites, "expected a quote from the hostile transcript"
    assert XSS_TITLE in cites[0].text  # the title's <script> shows as text
    source = _open_source(browser, cites[0])
    assert XSS_TITLE in source.text
    assert "Committee Room <b>4</b>, Harbour Vale" in source.text
    assert (
        "printed the text <script>window.__xss = 1</script> straight into the page" in source.text
    )
    assert 'accepted <img src=x onerror="window.__xss = 1"> as a name' in source.text
    _no_injected_elements(browser)

    exchange = _ask(browser, "What did the resident type when entities were mangled?")
    cites = [
        c for c in exchange.find_elements(By.CSS_SELECTOR, ".tqa-cite") if "Dana Reyes" in c.text
    ]
    assert cites, "expected a quote from the hostile transcript"
    source = _open_source(browser, cites[0])
    for literal in (
        "[click here](javascript:window.__xss=1) and **bold claims**",
        "typed &lt;b&gt; and &amp; and saw",
        "${window.__xss = 1}",
        "{{constructor.constructor('window.__xss = 1')()}}",
    ):
        assert literal in source.text
    _no_injected_elements(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "xss.png"))


def test_an_oversized_question_gets_a_message(server: tuple[Any, str], browser: Any) -> None:
    _, url = server
    browser.get(url)
    box = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-question textarea"))
    browser.execute_script(  # typing 100 kB key by key would take minutes
        "arguments[0].value = 'x'.repeat(100000);"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));",
        box,
    )
    browser.find_element(By.ID, "tqa-ask").click()
    message = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-chat .tqa-message"))
    assert "100,000 characters long; the limit is 2,000" in message.text
    shown = browser.find_element(By.CSS_SELECTOR, "#tqa-chat .tqa-user .tqa-text").text
    assert shown.endswith("(100,000 characters)") and len(shown) < 400
