"""The chat in a real headless Chromium: ask, see a cited quote, open its source; hostile
transcript text and hostile questions render as inert text; the server listens on
loopback only. Over the bundled corpus (with a recording link added to a WebVTT file and a
400-turn transcript): a VTT quote's time and link, the source view paging and the
whole-transcript view, relevance labels, the settings drawer, the conversation surviving a
reload, copying an answer and exporting the conversation as Markdown. Skips (with the
reason) only when no Chromium or chromedriver is found.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ports import free_port

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
    index = str(corpus.parent / "index")  # not the default (.tqa-index in the current folder)
    app = serve(corpus=str(corpus), index=index, port=port, show_progress=False, block=False)
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


def _open(driver: Any, url: str) -> None:
    """The chat on a clean slate: no conversation kept in the browser by an earlier test."""
    driver.get(url)
    driver.execute_script("window.localStorage.clear();")
    driver.get(url)
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-question textarea"))


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
    _open(browser, url)
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
    _open(browser, url)
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
    _open(browser, url)
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
    _open(browser, url)
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
    _open(browser, url)
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


# ---------------------------------------------------------------- the bundled corpus, for daily use

MEDIA = "https://media.harbourvale.example/2023-06-19-strike.mp4"
STRIKE_VTT = "2023-06-19_transit_strike_settlement_press_conference.vtt"
STRIKE_TITLE = "Press conference on the end of the transit strike"
LONG_TURNS = 400
LONG_ANSWER_TURN = 250
LONG_ANSWER = "The lighthouse lamp on Gull Point will be replaced with an LED array in April."


def _long_hearing() -> str:
    """A 400-turn plain transcript: one turn says something no other turn does."""
    lines = ["Title: Long harbour commission hearing", "Date: 2024-12-02", "Place: Pier House", ""]
    for i in range(LONG_TURNS):
        who = "Ann Berg" if i % 2 == 0 else "Carl Holt"
        text = LONG_ANSWER if i == LONG_ANSWER_TURN else f"Item {i} of the agenda is noted."
        lines.append(f"{who}: {text}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Iterator[str]:
    """`serve()` over a copy of `corpus/` whose strike press conference (WebVTT) names its
    recording, plus a 400-turn hearing."""
    from ui.app import serve

    root = tmp_path_factory.mktemp("browser-corpus")
    corpus = root / "corpus"
    shutil.copytree(corpus_dir, corpus)
    vtt = corpus / STRIKE_VTT
    text = vtt.read_text(encoding="utf-8")
    place = "Place: City Hall, Harbour Vale\n"
    assert place in text
    vtt.write_text(text.replace(place, f"{place}URL: {MEDIA}\n", 1), encoding="utf-8")
    (corpus / "2024-12-02_long_harbour_hearing.txt").write_text(_long_hearing(), encoding="utf-8")
    port = free_port()
    app = serve(
        corpus=str(corpus), index=str(root / "index"), port=port, show_progress=False, block=False
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def _strike_quote(driver: Any) -> Any:
    """Ask about the strike deal and return the first quote from the WebVTT press conference."""
    exchange = _ask(driver, "What pay rise do drivers get under the two-year strike agreement?")
    for figure in exchange.find_elements(By.CSS_SELECTOR, "figure.tqa-quote"):
        if STRIKE_TITLE in figure.find_element(By.CSS_SELECTOR, ".tqa-cite").text:
            return figure
    raise AssertionError(f"no quote from {STRIKE_TITLE!r}: {exchange.text}")


def _visible_in(driver: Any, inner: Any, box: Any) -> bool:
    return bool(
        driver.execute_script(
            "const a = arguments[0].getBoundingClientRect(), b = arguments[1].getBoundingClientRect();"
            "return a.top >= b.top - 1 && a.top < b.bottom;",
            inner,
            box,
        )
    )


def test_vtt_quote_shows_its_time_and_link(corpus_server: str, browser: Any) -> None:
    _open(browser, corpus_server)
    figure = _strike_quote(browser)
    time_link = figure.find_element(By.CSS_SELECTOR, "figcaption a.tqa-time")
    shown = re.fullmatch(r"(\d\d):(\d\d):(\d\d)(?:–\d\d:\d\d:\d\d)? ↗", time_link.text)
    assert shown, time_link.text
    seconds = int(shown[1]) * 3600 + int(shown[2]) * 60 + int(shown[3])
    assert time_link.get_attribute("href") == f"{MEDIA}#t={seconds}"
    assert time_link.get_attribute("target") == "_blank"
    assert "noopener" in time_link.get_attribute("rel")
    # How closely it matches, in words and as a bar.
    rel = figure.find_element(By.CSS_SELECTOR, ".tqa-rel")
    assert re.fullmatch(r"(strong|fair|weak) match", rel.text)
    assert "support" in rel.get_attribute("title")
    # The source view shows every turn's time, linked to that moment.
    source = _open_source(browser, figure.find_element(By.CSS_SELECTOR, ".tqa-cite"))
    turn_links = source.find_elements(By.CSS_SELECTOR, ".tqa-turn-who a.tqa-time")
    assert turn_links and all(
        re.fullmatch(rf"{re.escape(MEDIA)}#t=\d+", a.get_attribute("href")) for a in turn_links
    )
    assert MEDIA in [
        a.get_attribute("href") for a in source.find_elements(By.CSS_SELECTOR, ".tqa-meta a")
    ]


def test_source_view_expands_and_opens_the_whole_transcript(
    corpus_server: str, browser: Any
) -> None:
    _open(browser, corpus_server)
    figure = _strike_quote(browser)
    best = figure.find_element(By.CSS_SELECTOR, "mark.tqa-best").text
    source = _open_source(browser, figure.find_element(By.CSS_SELECTOR, ".tqa-cite"))
    turns = len(source.find_elements(By.CSS_SELECTOR, ".tqa-turn"))
    later = source.find_element(By.CSS_SELECTOR, ".tqa-more[data-dir='later']")
    hidden = int(re.search(r"… (\d+) later turns? …", later.text)[1])
    last = source.find_elements(By.CSS_SELECTOR, ".tqa-turn")[-1].get_attribute("data-turn")
    later.click()
    _wait(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#tqa-source .tqa-turn"))
            == turns + min(10, hidden)
        ),
    )
    # The turn beside the button is where it was: reading goes on below it.
    box = browser.find_element(By.CSS_SELECTOR, "#tqa-source")
    kept = browser.find_element(By.CSS_SELECTOR, f"#tqa-source .tqa-turn[data-turn='{last}']")
    assert _visible_in(browser, kept, box)
    assert browser.find_elements(By.CSS_SELECTOR, "#tqa-source .tqa-focus mark.tqa-best")

    browser.find_element(By.CSS_SELECTOR, "#tqa-source .tqa-open-whole").click()
    dialog = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-reader .tqa-reader"))
    assert STRIKE_TITLE in dialog.find_element(By.CSS_SELECTOR, "h3").text
    assert "all 26 turns" in dialog.text  # a short transcript opens whole
    assert len(dialog.find_elements(By.CSS_SELECTOR, ".tqa-turn")) == 26
    focus = dialog.find_element(By.CSS_SELECTOR, ".tqa-focus")
    assert focus.find_element(By.CSS_SELECTOR, "mark.tqa-best").text == best
    body = dialog.find_element(By.CSS_SELECTOR, ".tqa-reader-body")
    _wait(
        browser,
        lambda d: _visible_in(d, focus.find_element(By.CSS_SELECTOR, "mark.tqa-best"), body),
    )
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "transcript_view.png"))
    dialog.find_element(By.CSS_SELECTOR, ".tqa-close").click()
    _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#tqa-reader .tqa-reader"))


def test_a_long_transcript_opens_in_pages_around_the_quote(
    corpus_server: str, browser: Any
) -> None:
    _open(browser, corpus_server)
    exchange = _ask(browser, "When will the lighthouse lamp on Gull Point be replaced?")
    figure = exchange.find_element(By.CSS_SELECTOR, "figure.tqa-quote")
    assert LONG_ANSWER in figure.text
    _open_source(browser, figure.find_element(By.CSS_SELECTOR, ".tqa-cite"))
    browser.find_element(By.CSS_SELECTOR, "#tqa-source .tqa-open-whole").click()
    dialog = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-reader .tqa-reader"))
    turns = dialog.find_elements(By.CSS_SELECTOR, ".tqa-turn")
    assert len(turns) == 101  # 50 either side of the quote, not 400
    assert [t.get_attribute("data-turn") for t in (turns[0], turns[-1])] == ["200", "300"]
    assert "turns 201–301 of 400" in dialog.text
    focus = dialog.find_element(By.CSS_SELECTOR, ".tqa-focus")
    assert focus.get_attribute("data-turn") == str(LONG_ANSWER_TURN)
    assert focus.find_element(By.CSS_SELECTOR, "mark.tqa-best").text == LONG_ANSWER
    body = dialog.find_element(By.CSS_SELECTOR, ".tqa-reader-body")
    _wait(browser, lambda d: _visible_in(d, focus, body))
    earlier = dialog.find_element(By.CSS_SELECTOR, ".tqa-more[data-dir='earlier']")
    assert "… 200 earlier turns …" in earlier.text
    later = dialog.find_element(By.CSS_SELECTOR, ".tqa-more[data-dir='later']")
    assert "… 99 later turns …" in later.text
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'});", later)
    later.click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tqa-reader .tqa-turn")) == 151)
    dialog = browser.find_element(By.CSS_SELECTOR, "#tqa-reader .tqa-reader")
    assert "… 49 later turns …" in dialog.text
    kept = dialog.find_element(By.CSS_SELECTOR, ".tqa-turn[data-turn='300']")
    assert _visible_in(browser, kept, dialog.find_element(By.CSS_SELECTOR, ".tqa-reader-body"))
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    _wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, "#tqa-reader .tqa-reader"))


def test_settings_drawer_sets_search_mode_and_number_of_quotes(
    corpus_server: str, browser: Any
) -> None:
    _open(browser, corpus_server)
    question = "What was said about the vaccine?"  # three quotes with the default settings
    assert len(_ask(browser, question).find_elements(By.CSS_SELECTOR, "figure.tqa-quote")) > 1
    browser.find_element(By.CSS_SELECTOR, "#tqa-settings button").click()
    words = _wait(
        browser,
        lambda d: d.find_element(
            By.XPATH, "//*[@id='tqa-mode']//label[contains(., 'Words (BM25)')]"
        ),
    )
    words.click()
    number = browser.find_element(By.CSS_SELECTOR, "#tqa-quotes input[type='number']")
    number.send_keys(Keys.CONTROL, "a")
    number.send_keys("1" + Keys.TAB)
    _wait(
        browser,
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#tqa-quotes input[type='range']").get_attribute(
                "value"
            )
            == "1"
        ),
    )
    exchange = _ask(browser, question)
    quotes = exchange.find_elements(By.CSS_SELECTOR, "figure.tqa-quote")
    assert len(quotes) == 1 and "Winter Shield" in quotes[0].text + exchange.text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "settings.png"))


def test_conversation_survives_a_reload_copies_and_exports(
    corpus_server: str, browser: Any, tmp_path: Path
) -> None:
    _open(browser, corpus_server)
    _strike_quote(browser)
    second = _ask(browser, "When was the Mill Creek barrier completed?")
    before = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange")]
    assert len(before) == 2
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "conversation.png"))

    # One answer copies with its citations (the clipboard itself is the browser's business).
    browser.execute_script(
        "Object.defineProperty(navigator, 'clipboard', {configurable: true, value: {"
        "writeText: (text) => { window.__copied = text; return Promise.resolve(); }}});"
    )
    second.find_element(By.CSS_SELECTOR, ".tqa-copy").click()
    copied = _wait(browser, lambda d: d.execute_script("return window.__copied"))
    assert copied.startswith("**Question:** When was the Mill Creek barrier completed?")
    assert "> — " in copied and "Mill Creek" in copied

    browser.refresh()
    _wait(
        browser,
        lambda d: (
            [e.text for e in d.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange")] == before
        ),
    )
    # The citations of a restored answer still open their source.
    restored = browser.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange")[0]
    cite = [
        c for c in restored.find_elements(By.CSS_SELECTOR, ".tqa-cite") if STRIKE_TITLE in c.text
    ]
    assert STRIKE_TITLE in _open_source(browser, cite[0]).text

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    export = _wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-export"))
    _wait(browser, lambda d: export.is_enabled())
    export.click()
    deadline = time.time() + 30
    while time.time() < deadline and not list(downloads.glob("*.md")):
        time.sleep(0.2)
    files = list(downloads.glob("*.md"))
    assert [f.name for f in files] == ["transcript-qa-conversation.md"]
    markdown = files[0].read_text(encoding="utf-8")
    (ARTIFACTS / "conversation.md").write_text(markdown, encoding="utf-8")
    assert markdown.startswith("# Transcript QA: conversation\n")
    assert "## 1. What pay rise do drivers get under the two-year strike agreement?" in markdown
    assert "## 2. When was the Mill Creek barrier completed?" in markdown
    assert f"· {STRIKE_TITLE} · 19 June 2023 · City Hall, Harbour Vale · [" in markdown
    assert re.search(rf"\[\d\d:\d\d:\d\d(–\d\d:\d\d:\d\d)?\]\({re.escape(MEDIA)}#t=\d+\)", markdown)

    # "New conversation" clears it, also from the browser's storage.
    browser.find_element(By.ID, "tqa-new").click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-empty"))
    browser.refresh()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-empty"))
    time.sleep(1)  # the restore on load has run
    assert not browser.find_elements(By.CSS_SELECTOR, "#tqa-chat .tqa-exchange")
    assert not browser.find_element(By.CSS_SELECTOR, "#tqa-export").is_enabled()


# ---------------------------------------------------------------- adding and removing transcripts

BOATHOUSE_VTT = """WEBVTT

NOTE
Title: Marten Bay boathouse briefing
Place: Pier House

00:00:01.000 --> 00:00:05.000
<v Ines Varga>The Marten Bay boathouse reopens to rowers on the first of June.

00:00:05.500 --> 00:00:08.000
<v Reporter>Will the moorings cost anything?

00:00:08.500 --> 00:00:12.000
<v Ines Varga>Moorings stay free for school crews until the end of the season.
"""
PIER_SRT = """1
00:00:00,500 --> 00:00:04,000
Oskar Lund: The north pier repairs will cost two hundred and forty thousand euros.

2
00:00:04,500 --> 00:00:07,000
Oskar Lund: Work starts after the autumn regatta.
"""
HUGE_MB = 60  # over the 50 MB limit; a sparse file, so it takes no disk


@pytest.fixture(scope="module")
def upload_server(
    tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path
) -> Iterator[tuple[str, Path, Path]]:
    """`serve()` over the tiny fixtures: (url, index folder, folder of files to upload)."""
    from ui.app import serve

    root = tmp_path_factory.mktemp("browser-uploads")
    corpus = root / "corpus"
    shutil.copytree(fixtures_dir / "retrieval", corpus)
    inbox = root / "inbox"
    inbox.mkdir()
    (inbox / "2025-02-03_boathouse_briefing.vtt").write_text(BOATHOUSE_VTT, encoding="utf-8")
    (inbox / "pier_repairs.srt").write_text(PIER_SRT, encoding="utf-8")
    shutil.copy(fixtures_dir / "ingest" / "schema.json", inbox / "library_opening.json")
    (inbox / "minutes_cp1252.txt").write_bytes("Ann Lee: Grüße aus Köln.\n".encode("cp1252"))
    with (inbox / "big_minutes.txt").open("wb") as fh:
        fh.truncate(HUGE_MB * 1024 * 1024)
    (inbox / "ferry_timetable.txt").write_text(
        "Title: Ferry timetable review\n\nBo Sun: The night ferry to Holm leaves at 23:40.\n",
        encoding="utf-8",
    )
    port = free_port()
    app = serve(
        corpus=str(corpus), index=str(root / "index"), port=port, show_progress=False, block=False
    )
    try:
        yield f"http://127.0.0.1:{port}/", root / "index", inbox
    finally:
        app.close()


def _open_documents(driver: Any, url: str) -> Any:
    """The chat, with its "Add or remove transcripts" section open; returns the section."""
    driver.get(url)
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-question textarea"))
    header = _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-documents button"))
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", header)
    header.click()
    _wait(driver, lambda d: d.find_element(By.ID, "tqa-doclist").is_displayed())
    return driver.find_element(By.ID, "tqa-documents")


def _upload(driver: Any, paths: list[Path], added: int) -> Any:
    """Choose `paths` in the upload box; return the report once `added` documents are in."""
    box = driver.find_element(By.CSS_SELECTOR, "#tqa-upload input[type=file]")
    box.send_keys("\n".join(str(p) for p in paths))
    word = "transcript" if added == 1 else "transcripts"
    return _wait(
        driver,
        lambda d: (
            f"Added {added} {word}" in d.find_element(By.ID, "tqa-upload-report").text
            and d.find_element(By.ID, "tqa-upload-report")
        ),
        timeout=120,
    )


def _rows(driver: Any) -> dict[str, Any]:
    """The document list's rows by title (without the "uploaded" badge)."""
    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#tqa-doclist tbody tr"):
        title = row.find_element(By.CSS_SELECTOR, ".tqa-doc-title")
        badge = title.find_elements(By.CSS_SELECTOR, ".tqa-badge")
        text = title.text
        if badge:
            text = text[: -len(badge[0].text)].strip()
        rows[text] = row
    return rows


def test_upload_three_good_files_and_one_bad_then_ask_about_one(
    upload_server: tuple[str, Path, Path], browser: Any
) -> None:
    url, index, inbox = upload_server
    section = _open_documents(browser, url)
    assert set(_rows(browser)) == {
        "Harbour budget meeting",
        "School meals debate",
        "Press conference on the rail tunnel",
    }
    good = ["2025-02-03_boathouse_briefing.vtt", "pier_repairs.srt", "library_opening.json"]
    # Refused by the server; kept back by the page (Gradio alone would refuse the whole lot).
    bad = ["minutes_cp1252.txt", "big_minutes.txt"]
    report = _upload(browser, [inbox / n for n in good + bad], added=3)
    text = report.text
    for title in ("Marten Bay boathouse briefing", "pier_repairs", "Library opening"):
        assert title in text
    assert "2 files not added" in text
    assert "minutes_cp1252.txt: line 1: not UTF-8 text (byte 0xfc" in text
    assert (
        f"big_minutes.txt: file is {HUGE_MB}.0 MB, over the 50 MB limit for one transcript" in text
    )
    rows = _rows(browser)
    for title in ("Marten Bay boathouse briefing", "pier_repairs", "Library opening"):
        assert rows[title].find_elements(By.CSS_SELECTOR, ".tqa-badge"), title
    boathouse = rows["Marten Bay boathouse briefing"].text
    assert "3 February 2025" in boathouse and "Ines Varga" in boathouse
    assert rows["Library opening"].find_element(By.CSS_SELECTOR, ".tqa-num").text == "3"
    assert sorted(p.name for p in (index / "uploads").iterdir()) == sorted(good)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", section)
    time.sleep(0.5)
    browser.save_screenshot(str(ARTIFACTS / "uploads.png"))

    # Searchable at once, and the chat's pickers know the new speakers and documents.
    exchange = _ask(browser, "When does the Marten Bay boathouse reopen?")
    quote = exchange.find_element(By.CSS_SELECTOR, "figure.tqa-quote")
    assert "reopens to rowers on the first of June" in quote.text
    cite = quote.find_element(By.CSS_SELECTOR, ".tqa-cite").text
    assert "Ines Varga" in cite and "Marten Bay boathouse briefing" in cite
    assert "3 February 2025" in cite
    _speaker_offered(browser, "Oskar", "Oskar Lund")
    browser.refresh()  # a page opened after the upload knows them too
    _speaker_offered(browser, "Oskar", "Oskar Lund")


def _speaker_offered(driver: Any, typed: str, name: str) -> None:
    """Typing `typed` into the speaker picker offers `name`."""
    speaker = _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#tqa-speaker input"))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", speaker)
    speaker.click()
    speaker.send_keys(typed)
    _wait(
        driver,
        lambda d: any(
            name in o.text for o in d.find_elements(By.CSS_SELECTOR, "#tqa-speaker [role=option]")
        ),
    )
    speaker.send_keys(Keys.ESCAPE)


def test_remove_a_document(upload_server: tuple[str, Path, Path], browser: Any) -> None:
    from selenium.webdriver.support import expected_conditions

    url, index, inbox = upload_server
    _open_documents(browser, url)
    _upload(browser, [inbox / "ferry_timetable.txt"], added=1)
    assert (index / "uploads" / "ferry_timetable.txt").is_file()
    exchange = _ask(browser, "When does the night ferry to Holm leave?")
    assert "23:40" in exchange.find_element(By.CSS_SELECTOR, "figure.tqa-quote").text

    row = _rows(browser)["Ferry timetable review"]
    button = row.find_element(By.CSS_SELECTOR, "button.tqa-remove")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()
    alert = _wait(browser, expected_conditions.alert_is_present(), timeout=10)
    assert "Ferry timetable review" in alert.text
    alert.accept()
    _wait(
        browser,
        lambda d: (
            "Removed “Ferry timetable review” and its stored file."
            in d.find_element(By.ID, "tqa-upload-report").text
        ),
    )
    assert "Ferry timetable review" not in _rows(browser)
    assert not (index / "uploads" / "ferry_timetable.txt").exists()
    exchange = _ask(browser, "When does the night ferry to Holm leave?")
    assert "23:40" not in exchange.text

    # Cancelling the confirmation removes nothing.
    row = _rows(browser)["School meals debate"]
    row.find_element(By.CSS_SELECTOR, "button.tqa-remove").click()
    _wait(browser, expected_conditions.alert_is_present(), timeout=10).dismiss()
    time.sleep(1)
    assert "School meals debate" in _rows(browser)
