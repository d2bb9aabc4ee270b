"""Cue times and links: kept by the parsers, shown by every citation, given by the JSON API.

Times are seconds into the recording (`00:12:31` when shown; `time_start_s`/`time_end_s` in
JSON, never the character offsets `start`/`end`); a passage of several cues runs from the
first one's start to the last one's end. A transcript may name its recording or page (`URL:`,
JSON `url`, a WebVTT `NOTE`); citations link there, with `#t=SECONDS` where times exist, and
only to http(s). Kremlin-layout files with a numeric stem link to their event page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as htmllib
import json
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from ports import free_port

from qa import links, load_corpus, load_transcript
from qa.chunking import chunk
from qa.context import index_texts
from qa.links import document_url, format_span, format_time, safe_url, span_times, with_time
from qa.rendering import answer_to_markdown, quote_to_markdown
from qa.results import Answer, Hit, Quote
from qa.transcript import Passage
from ui import render
from ui.api import answer_from_dict, answer_to_dict, quote_from_dict

MEDIA = "https://media.example.org/long-table/ep112.mp3"

# Twelve cues of one voice (one turn of ~190 words: two passages), then a short reply.
_CUE_WORDS = (
    "We started with kelp from the north shore, because the farms there were already "
    "harvesting more than the food market could take, and the price was low. "
)


def _vtt(note: str, cues: int = 12) -> str:
    parts = ["WEBVTT", "", note, ""]
    for i in range(cues):
        t0, t1 = 60 * i + 5, 60 * i + 50
        parts += [
            f"{i + 1}",
            f"00:{t0 // 60:02d}:{t0 % 60:02d}.250 --> 00:{t1 // 60:02d}:{t1 % 60:02d}.750",
            f"<v Ines Okafor>Part {i + 1}. {_CUE_WORDS}",
            "",
        ]
    parts += [
        "00:59:58.000 --> 01:02:03.500",
        "<v Gus Adeyemi>And the <b>price</b> today?",
        "",
    ]
    return "\n".join(parts)


NOTE_BLOCK = f"NOTE\nTitle: The Long Table, episode 112\nDate: 2022-09-14\nURL: {MEDIA}"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _verbatim(t: Any) -> None:
    for turn in t.turns:
        assert t.text[turn.start : turn.end] == turn.text
    for p in chunk(t):
        assert t.text[p.start : p.end] == p.text


# ---------------------------------------------------------------- parsers: times


def test_vtt_keeps_every_cue_span_and_time(tmp_path: Path) -> None:
    t = load_transcript(_write(tmp_path, "ep.vtt", _vtt(NOTE_BLOCK)))
    assert [x.speaker for x in t.turns] == ["Ines Okafor", "Gus Adeyemi"]
    assert len(t.cues) == 13
    for i, cue in enumerate(t.cues[:12]):
        # Each cue's text is exact at its offsets, inside its turn, in order.
        assert t.text[cue.start : cue.end] == f"Part {i + 1}. {_CUE_WORDS.strip()}"
        assert t.turns[0].start <= cue.start < cue.end <= t.turns[0].end
        assert (cue.time_start, cue.time_end) == (60 * i + 5.25, 60 * i + 50.75)
    last = t.cues[12]
    assert t.text[last.start : last.end] == "And the price today?"
    assert (last.time_start, last.time_end) == (3598.0, 3723.5)
    # The merged turn spans its first cue's start and its last cue's end.
    assert (t.turns[0].time_start, t.turns[0].time_end) == (5.25, 710.75)
    _verbatim(t)


def test_passages_of_a_long_turn_are_timed_by_their_own_cues(tmp_path: Path) -> None:
    t = load_transcript(_write(tmp_path, "ep.vtt", _vtt(NOTE_BLOCK)))
    passages = [p for p in chunk(t) if p.turn == 0]
    assert len(passages) >= 2, "the 12-cue turn should be cut into several passages"
    for p in passages:
        overlapping = [c for c in t.cues if c.start < p.end and c.end > p.start]
        assert (p.time_start, p.time_end) == (
            overlapping[0].time_start,
            overlapping[-1].time_end,
        )
    # The later passage starts later in the recording than the turn does.
    assert passages[-1].time_start > t.turns[0].time_start
    assert passages[0].time_start == 5.25


def test_span_times_first_cue_start_to_last_cue_end(tmp_path: Path) -> None:
    t = load_transcript(_write(tmp_path, "ep.vtt", _vtt(NOTE_BLOCK)))
    c2, c3, c4 = t.cues[2], t.cues[3], t.cues[4]
    assert span_times(t, 0, c3.start + 5, c3.end - 5) == (c3.time_start, c3.time_end)
    assert span_times(t, 0, c2.end - 10, c4.start + 3) == (c2.time_start, c4.time_end)
    assert span_times(t, 0, c3.start, c3.end) == (c3.time_start, c3.time_end)


def test_srt_cues_are_kept(fixtures_dir: Path) -> None:
    t = load_transcript(fixtures_dir / "ingest" / "subtitles_prefix.srt")
    assert t.cues and all(c.time_end >= c.time_start for c in t.cues)
    for turn in t.turns:
        inside = [c for c in t.cues if turn.start <= c.start and c.end <= turn.end]
        assert inside, turn
        assert (inside[0].time_start, inside[-1].time_end) == (turn.time_start, turn.time_end)
    assert t.url is None


def test_json_turn_times_become_passage_times(tmp_path: Path) -> None:
    data = {
        "title": "Phone-in",
        "date": "2023-07-18",
        "url": "https://radio.example.org/phone-in/2023-07-18",
        "turns": [
            {"speaker": "Gus Adeyemi", "text": "Good morning.", "start": 0.0, "end": 4.5},
            {"speaker": "Mira Cole", "text": "The ban starts Friday.", "start": 754.2, "end": 761},
            {"speaker": "Gus Adeyemi", "text": "Thank you."},
        ],
    }
    t = load_transcript(_write(tmp_path, "phone.json", json.dumps(data)))
    assert t.url == "https://radio.example.org/phone-in/2023-07-18"
    assert t.cues == []  # a JSON turn is its own cue
    by_turn = {p.turn: p for p in chunk(t)}
    assert (by_turn[1].time_start, by_turn[1].time_end) == (754.2, 761.0)
    assert (by_turn[2].time_start, by_turn[2].time_end) == (None, None)
    assert by_turn[1].url == t.url


def test_jsonl_metadata_line_url(tmp_path: Path) -> None:
    lines = [
        {"title": "Hearing", "url": "https://parliament.example.org/v/77"},
        {"speaker": "Olwen Pryce", "text": "Welcome.", "start": 1, "end": 3},
    ]
    path = _write(tmp_path, "h.jsonl", "\n".join(json.dumps(x) for x in lines))
    assert load_transcript(path).url == "https://parliament.example.org/v/77"


# ---------------------------------------------------------------- parsers: links


@pytest.mark.parametrize(
    "note",
    [
        f"NOTE url: {MEDIA}",
        f"NOTE {MEDIA}",
        f"NOTE\nRecorded for The Long Table, audio at {MEDIA}.",
        f"NOTE\nTitle: The Long Table\nURL: {MEDIA}",
    ],
)
def test_vtt_note_names_the_recording(tmp_path: Path, note: str) -> None:
    assert load_transcript(_write(tmp_path, "ep.vtt", _vtt(note, cues=2))).url == MEDIA


def test_vtt_header_url_line(tmp_path: Path) -> None:
    text = _vtt("NOTE nothing here", cues=2).replace("WEBVTT\n", f"WEBVTT\nURL: {MEDIA}\n", 1)
    assert load_transcript(_write(tmp_path, "ep.vtt", text)).url == MEDIA


def test_vtt_explicit_url_beats_a_url_mentioned_in_a_note(tmp_path: Path) -> None:
    note = f"NOTE\nSee https://other.example.org/blog for notes.\nURL: {MEDIA}"
    assert load_transcript(_write(tmp_path, "ep.vtt", _vtt(note, cues=2))).url == MEDIA


def test_vtt_note_after_the_first_cue_is_not_the_recording(tmp_path: Path) -> None:
    text = _vtt("NOTE plain", cues=2) + "\nNOTE https://elsewhere.example.org/x\n"
    assert load_transcript(_write(tmp_path, "ep.vtt", text)).url is None


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//media.example.org/ep.mp3",
        "www.example.org/ep.mp3",
        "https://user:secret@example.org/ep.mp3",
        "https://exa mple.org/ep.mp3",
        "",
    ],
)
def test_only_http_urls_are_kept(tmp_path: Path, bad: str) -> None:
    plain = f"Title: T\nURL: {bad}\n\nAnna Berg: Hello there.\n"
    assert load_transcript(_write(tmp_path, "p.txt", plain)).url is None
    js = {"url": bad, "turns": [{"speaker": "Anna Berg", "text": "Hello."}]}
    assert load_transcript(_write(tmp_path, "p.json", json.dumps(js))).url is None
    assert safe_url(bad) is None


def test_plain_url_header_is_metadata_not_a_turn(tmp_path: Path) -> None:
    text = (
        "Title: Transit strike mediation\nDate: 2023-06-02\n"
        "URL: https://video.example.org/strike?id=4&lang=en\n\n"
        "Walter Lind: Good afternoon.\nGideon Pell: Thank you, Mr Lind.\n"
    )
    t = load_transcript(_write(tmp_path, "p.txt", text))
    assert t.url == "https://video.example.org/strike?id=4&lang=en"
    assert [x.speaker for x in t.turns] == ["Walter Lind", "Gideon Pell"]
    assert all("example.org" not in x for x in index_texts(t, chunk(t)))
    _verbatim(t)


def test_kremlin_numeric_stem_links_to_the_event_page(tmp_path: Path, fixtures_dir: Path) -> None:
    src = fixtures_dir / "ingest" / "kremlin_mini.txt"
    numbered = tmp_path / "54102.txt"
    shutil.copy(src, numbered)
    t = load_transcript(numbered)
    assert t.format == "kremlin" and t.url is None  # derived, not read from the file
    assert document_url(t) == "http://en.kremlin.ru/d/54102"
    assert {p.url for p in chunk(t)} == {"http://en.kremlin.ru/d/54102"}
    assert document_url(t, kremlin=False) is None
    # A non-numeric stem is no event id.
    assert document_url(load_transcript(src)) is None
    # The link never enters the indexed text: that stays what it was.
    assert index_texts(t, chunk(t)) == index_texts(
        load_transcript(src), chunk(load_transcript(src))
    )
    assert all("kremlin.ru" not in x for x in index_texts(t, chunk(t)))


def test_kremlin_links_setting_turns_them_off(
    tmp_path: Path, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(fixtures_dir / "ingest" / "kremlin_mini.txt", tmp_path / "54102.txt")
    t = load_transcript(tmp_path / "54102.txt")
    monkeypatch.setattr(links, "KREMLIN_LINKS", False)
    assert document_url(t) is None
    assert {p.url for p in chunk(t)} == {None}
    assert document_url(t, kremlin=True) == "http://en.kremlin.ru/d/54102"


def test_kremlin_links_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in (
        ("0", False),
        ("off", False),
        ("False", False),
        ("1", True),
        ("", True),
    ):
        monkeypatch.setenv("TQA_KREMLIN_LINKS", value)
        assert links._env_flag() is expected, value


def test_kremlin_event_id_is_the_file_stem_even_when_the_doc_id_clashes(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(fixtures_dir / "ingest" / "kremlin_mini.txt", tmp_path / sub / "54102.txt")
    loaded = load_corpus(tmp_path).transcripts
    assert sorted(t.doc_id for t in loaded) == ["54102", "54102-2"]
    assert {document_url(t) for t in loaded} == {"http://en.kremlin.ru/d/54102"}


def test_other_formats_never_get_a_kremlin_link(tmp_path: Path) -> None:
    path = _write(tmp_path, "54102.txt", "Anna Berg: Hello there.\n")
    t = load_transcript(path)
    assert t.format == "plain" and document_url(t) is None


# ---------------------------------------------------------------- times and links, formatted


def test_format_time_and_span() -> None:
    assert format_time(0) == "00:00:00"
    assert format_time(751.9) == "00:12:31"
    assert format_time(7205) == "02:00:05"
    assert format_time(None) == "" and format_time(float("nan")) == "" and format_time(-1) == ""
    assert format_span(751.2, 765.0) == "00:12:31–00:12:45"
    assert format_span(751.2, 751.7) == "00:12:31"
    assert format_span(751.2, None) == "00:12:31"
    assert format_span(None, 9.0) == ""


def test_with_time_appends_or_replaces_the_media_fragment() -> None:
    assert with_time(MEDIA, 751.9) == f"{MEDIA}#t=751"
    assert with_time(MEDIA, None) == MEDIA
    assert with_time(f"{MEDIA}#t=3", 10) == f"{MEDIA}#t=10"
    assert with_time(f"{MEDIA}#xywh=0,0,10,10&t=3", 10) == f"{MEDIA}#xywh=0,0,10,10&t=10"
    assert (
        with_time("https://example.org/page#section-2", 10) == "https://example.org/page#section-2"
    )
    assert with_time("javascript:alert(1)//", 10) is None


def test_safe_url_encodes_markup_characters() -> None:
    url = safe_url("https://example.org/a\"><script>alert(1)</script>(x)'y")
    assert url == "https://example.org/a%22%3E%3Cscript%3Ealert%281%29%3C/script%3E%28x%29%27y"
    assert safe_url("HTTPS://Example.org/ok") == "https://Example.org/ok"
    assert safe_url("https://exämple.org/päth") == "https://xn--exmple-cua.org/p%C3%A4th"


# ---------------------------------------------------------------- rendering


def _quote(
    url: str | None = MEDIA, times: tuple[float | None, float | None] = (751.4, 765.0)
) -> Quote:
    text = "The price was low. Nobody else wanted it."
    return Quote(
        text=text,
        speaker="Ines Okafor",
        role=None,
        title="The Long Table, episode 112",
        date=dt.date(2022, 9, 14),
        place=None,
        doc_id="ep",
        turn=0,
        start=40,
        end=40 + len(text),
        score=0.9,
        highlight=(40, 58),
        time_start=times[0],
        time_end=times[1],
        url=url,
    )


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.texts: list[str] = []
        self._in: bool = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))
            self.texts.append("")
            self._in = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._in:
            self.texts[-1] += data


def _anchors(html: str) -> _Anchors:
    parser = _Anchors()
    parser.feed(html)
    return parser


def test_markdown_citation_links_to_the_moment() -> None:
    md = quote_to_markdown(_quote())
    cite = md.splitlines()[-1]
    assert cite.startswith("> — Ines Okafor · The Long Table, episode 112 · 14 September 2022 · ")
    assert cite.endswith(f"[00:12:31–00:12:45]({MEDIA}#t=751)")
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").render(md)
    found = _anchors(html)
    assert [a["href"] for a in found.anchors] == [f"{MEDIA}#t=751"]
    assert found.texts == ["00:12:31–00:12:45"]


def test_markdown_times_without_a_link_and_a_link_without_times() -> None:
    assert quote_to_markdown(_quote(url=None)).endswith(" · 00:12:31–00:12:45")
    md = quote_to_markdown(_quote(url="http://en.kremlin.ru/d/54102", times=(None, None)))
    assert md.endswith(" · [en.kremlin.ru](http://en.kremlin.ru/d/54102)")
    plain = quote_to_markdown(_quote(url=None, times=(None, None)))
    assert plain.endswith("· 14 September 2022")


@pytest.mark.parametrize(
    "hostile",
    [
        "javascript:alert(1)",
        "jAvAsCrIpT:alert(1)",
        " javascript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
    ],
)
def test_no_javascript_link_in_markdown_or_html(hostile: str) -> None:
    q = _quote(url=hostile)
    md = quote_to_markdown(q)
    assert "](" not in md and "script:" not in md and "data:" not in md
    assert md.endswith(" · 00:12:31–00:12:45")
    html = render.render_quote(q, "0-q0")
    assert "<a " not in html and "script:" not in html and "data:" not in html
    assert '<span class="tqa-time">00:12:31–00:12:45</span>' in html


def test_markdown_link_target_cannot_break_out() -> None:
    url = 'https://example.org/x) [evil](javascript:alert(1)) "<img src=x onerror=alert(1)>'
    md = quote_to_markdown(_quote(url=url.replace(" ", "")))
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").render(md)
    found = _anchors(html)
    assert len(found.anchors) == 1
    href = found.anchors[0]["href"] or ""
    assert href.startswith("https://example.org/x%29") and href.endswith("#t=751")
    assert not re.search(r"[\s\"'<>()]", href)  # nothing that could end the target or the tag
    assert "<img" not in html and found.texts == ["00:12:31–00:12:45"]


def test_html_citation_shows_time_and_links_safely() -> None:
    url = 'https://media.example.org/ep"112<b>.mp3?a=1&b=2'
    html = render.render_quote(_quote(url=url), "3-q1")
    found = _anchors(html)
    assert len(found.anchors) == 1
    a = found.anchors[0]
    assert a["href"] == "https://media.example.org/ep%22112%3Cb%3E.mp3?a=1&b=2#t=751"
    assert a["target"] == "_blank"
    assert "noopener" in (a["rel"] or "").split()
    assert found.texts == ["00:12:31–00:12:45 ↗"]
    assert "<b>" not in html and 'ep"112' not in html
    assert 'data-qid="3-q1"' in html
    # The link sits next to the citation button, never inside it.
    assert re.search(r"</button> <a ", html)


def test_html_event_page_link_without_times() -> None:
    html = render.render_quote(
        _quote(url="http://en.kremlin.ru/d/54102", times=(None, None)), "0-q0"
    )
    found = _anchors(html)
    assert [a["href"] for a in found.anchors] == ["http://en.kremlin.ru/d/54102"]
    assert found.texts == ["en.kremlin.ru ↗"]
    assert "tqa-time" not in html


def test_closest_matches_show_time_and_link() -> None:
    text = "The price was low."
    p = Passage("ep", 0, "Ines Okafor", None, None, "T", None, text, 5, 5 + len(text))
    p = dataclasses.replace(p, time_start=65.0, time_end=70.0, url=MEDIA)
    answer = Answer("q", [], True, [Hit(p, 0.2)])
    html = render.render_answer(answer, 0)
    assert [a["href"] for a in _anchors(html).anchors] == [f"{MEDIA}#t=65"]
    md = answer_to_markdown(answer)
    assert f"[00:01:05–00:01:10]({MEDIA}#t=65)" in md


def test_source_view_shows_turn_times_quote_time_and_link(tmp_path: Path) -> None:
    t = load_transcript(_write(tmp_path, "ep.vtt", _vtt(NOTE_BLOCK)))
    cue = t.cues[5]
    html = render.render_source(t, 0, (cue.start, cue.end))
    found = _anchors(html)
    hrefs = [a["href"] for a in found.anchors]
    assert MEDIA in hrefs  # the metadata's link
    assert f"{MEDIA}#t=5" in hrefs  # the turn, from its start
    assert f"{MEDIA}#t={int(cue.time_start)}" in hrefs  # the quote, from its own cue
    text = htmllib.unescape(re.sub(r"<[^>]+>", "", html))
    assert "00:00:05–00:11:50" in text  # the turn
    assert f"quote: {format_span(cue.time_start, cue.time_end)}" in text
    assert "00:59:58–01:02:03" in text  # the reply turn
    assert all("noopener" in (a["rel"] or "") for a in found.anchors)


def test_source_view_of_an_untimed_unlinked_transcript_is_unchanged(fixtures_dir: Path) -> None:
    t = load_transcript(fixtures_dir / "ingest" / "plain_basic.txt")
    html = render.render_source(t, 0, (t.turns[0].start, t.turns[0].end))
    assert "<a " not in html and "tqa-time" not in html


# ---------------------------------------------------------------- JSON


def test_json_fields_are_seconds_and_a_link() -> None:
    q = answer_to_dict(Answer("q", [_quote()], False))["quotes"][0]
    assert (q["start"], q["end"]) == (40, 81)  # character offsets, as before
    assert (q["time_start_s"], q["time_end_s"]) == (751.4, 765.0)
    assert q["url"] == f"{MEDIA}#t=751"
    untimed = answer_to_dict(Answer("q", [_quote(url=None, times=(None, None))], False))
    assert untimed["quotes"][0]["time_start_s"] is None
    assert untimed["quotes"][0]["url"] is None
    json.dumps(q)  # plain JSON


def test_json_round_trip_keeps_times_and_drops_hostile_links() -> None:
    d = answer_to_dict(Answer("q", [_quote()], False))
    back = answer_from_dict(d)
    assert (back.quotes[0].time_start, back.quotes[0].time_end) == (751.4, 765.0)
    assert answer_to_dict(back)["quotes"][0]["url"] == f"{MEDIA}#t=751"  # not #t=751#t=751
    hostile = {**d["quotes"][0], "url": "javascript:alert(1)", "time_start_s": "soon"}
    q = quote_from_dict(hostile)
    assert q.url is None and q.time_start is None
    assert "<a " not in render.render_quote(q, "0-q0")


# ---------------------------------------------------------------- the served API


@pytest.fixture(scope="module")
def timed_corpus(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("timed-corpus")
    note = f"NOTE url: {MEDIA}"  # no title, no date: the file name gives them
    (root / "2022-09-14_long_table_podcast.vtt").write_text(_vtt(note), encoding="utf-8")
    shutil.copy(fixtures_dir / "ingest" / "kremlin_mini.txt", root / "54102.txt")
    return root


@pytest.fixture(scope="module")
def timed_served(
    timed_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    gradio_client = pytest.importorskip("gradio_client")
    from qa.service import TranscriptQA
    from ui.app import build_app, launch

    index = tmp_path_factory.mktemp("timed-index") / "index"
    qa = TranscriptQA.build(timed_corpus, index, show_progress=False)
    app = build_app(qa)
    _, url = launch(app, port=free_port(), block=False)
    try:
        yield qa, gradio_client.Client(url, verbose=False)
    finally:
        app.close()


def _check_times(qa: Any, item: dict[str, Any]) -> None:
    """The item's times are those of the cues its text overlaps; its offsets are characters."""
    t = qa.transcript(item["doc_id"])
    assert t.text[item["start"] : item["end"]] == item["text"]
    cues = [c for c in t.cues if c.start < item["end"] and c.end > item["start"]]
    assert cues, item
    assert item["time_start_s"] == cues[0].time_start
    assert item["time_end_s"] == cues[-1].time_end
    assert item["url"] == f"{MEDIA}#t={int(cues[0].time_start)}"


def test_search_json_gives_cue_times_and_links(timed_served: tuple[Any, Any]) -> None:
    qa, client = timed_served
    result = client.predict(query="kelp from the north shore farms", k=5, api_name="/search")
    podcast = [h for h in result["hits"] if h["doc_id"] == "2022-09-14_long_table_podcast"]
    assert len(podcast) >= 2
    for hit in podcast:
        _check_times(qa, hit)
        assert hit["date"] == "2022-09-14" and hit["title"] == "Long table podcast"
    assert len({h["time_start_s"] for h in podcast}) >= 2  # passages of one turn, own times
    kremlin = client.predict(query="schools harvest governor", k=3, api_name="/search")
    event = [h for h in kremlin["hits"] if h["doc_id"] == "54102"]
    assert event
    for hit in event:
        assert hit["url"] == "http://en.kremlin.ru/d/54102"
        assert hit["time_start_s"] is None and hit["time_end_s"] is None


def test_ask_json_gives_cue_times_and_links(timed_served: tuple[Any, Any]) -> None:
    qa, client = timed_served
    result = client.predict(
        question="What did Ines Okafor say about the price of kelp?", api_name="/ask"
    )
    assert result["quotes"], result
    for quote in result["quotes"]:
        if quote["doc_id"] == "2022-09-14_long_table_podcast":
            _check_times(qa, quote)
    assert any(q["doc_id"] == "2022-09-14_long_table_podcast" for q in result["quotes"])


def test_links_and_cue_times_survive_saving_the_index(timed_corpus: Path, tmp_path: Path) -> None:
    from embeddings.store import transcript_from_dict, transcript_to_dict

    t = load_transcript(timed_corpus / "2022-09-14_long_table_podcast.vtt")
    back = transcript_from_dict(json.loads(json.dumps(transcript_to_dict(t))))
    assert back.url == t.url == MEDIA
    assert back.cues == t.cues
