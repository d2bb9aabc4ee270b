"""Markdown rendering: transcript text is escaped, never interpreted; citations are complete."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qa.rendering import answer_to_markdown, escape_html, escape_markdown, quote_to_markdown
from qa.results import Answer, Hit, Quote
from qa.transcript import Passage

markdown_it = pytest.importorskip("markdown_it")
MD = markdown_it.MarkdownIt("commonmark")

NASTY = (
    "Hello *world* and __bold__ <script>alert(1)</script> &amp; [link](http://x.y) "
    "`code` $x^2$ # not a heading | a | b | ~~gone~~ ![img](a.png) \\ backslash."
)


def _quote(text: str, best: str | None = None, offset: int = 50) -> Quote:
    best = best or text
    h = offset + text.index(best)
    return Quote(
        text=text,
        speaker="Vladimir Putin",
        role="President of Russia",
        title="Meeting with Marine Le Pen",
        date=dt.date(2017, 3, 24),
        place="The Kremlin, Moscow",
        doc_id="54102",
        turn=2,
        start=offset,
        end=offset + len(text),
        score=0.8,
        highlight=(h, h + len(best)),
    )


def _text_of(html: str) -> str:
    """The visible text of rendered HTML (tags dropped, entities decoded)."""
    import html as htmllib

    return htmllib.unescape(re.sub(r"<[^>]+>", "", html))


def test_special_characters_render_literally() -> None:
    md = quote_to_markdown(_quote(NASTY))
    html = MD.render(md)
    assert "<script>" not in html and "<em>" not in html and "<a " not in html
    assert "<code>" not in html and "<img" not in html and "<h1>" not in html
    assert "<strong>" in html  # our own markup stays live
    assert NASTY in _text_of(html).replace("\n", " ")


def test_line_starts_do_not_become_lists_headings_or_code() -> None:
    text = "First line.\n- not a list\n1. not ordered\n    not code\n# not heading\n=== not setext"
    html = MD.render(quote_to_markdown(_quote(text, best="First line.")))
    for tag in ("<ul>", "<ol>", "<pre>", "<h1>", "<h2>"):
        assert tag not in html
    assert html.count("<blockquote>") == 1


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab *_[]()<>#|!`$&\\~-+=.1\n")), min_size=1, max_size=60)
)
def test_any_text_renders_as_itself(text: str) -> None:
    if not text.strip():
        return
    html = MD.render(escape_markdown(text))
    # Rendering adds no markup beyond paragraphs and line breaks.
    assert set(re.findall(r"<(/?\w+)", html)) <= {"p", "/p", "br"}
    visible = " ".join(_text_of(html).split())
    assert visible == " ".join(text.split())


def test_best_sentence_is_bold_and_citation_follows() -> None:
    text = "We value our ties with France. We do not interfere in elections. Thank you."
    md = quote_to_markdown(_quote(text, best="We do not interfere in elections."))
    assert "> We value our ties with France. **We do not interfere in elections.** Thank you." in md
    assert md.splitlines()[-1] == (
        "> — Vladimir Putin, President of Russia · Meeting with Marine Le Pen · 24 March 2017 · The Kremlin, Moscow"
    )


def test_who_answers_lead_with_the_speaker() -> None:
    answer = Answer(
        question="Who said France should not be influenced?",
        quotes=[_quote("We do not interfere.")],
        abstained=False,
    )
    assert answer.to_markdown().startswith("**Vladimir Putin**\n\n> ")
    plain = Answer(
        question="What was said about France?",
        quotes=[_quote("We do not interfere.")],
        abstained=False,
    )
    assert plain.to_markdown().startswith("> ")


def test_abstention_says_so_and_lists_closest_matches() -> None:
    passage = Passage(
        doc_id="1",
        turn=0,
        speaker="Anna *Bold*",
        role=None,
        date=None,
        title="Talks",
        place=None,
        text="Something <b>near</b> the topic.",
        start=0,
        end=31,
    )
    answer = Answer(
        question="What is the boiling point of tungsten?",
        quotes=[],
        abstained=True,
        closest=[Hit(passage=passage, score=0.1)],
    )
    md = answer.to_markdown()
    assert md.startswith("The transcripts do not seem to answer this question.")
    assert (
        "**Closest matches**" in md and "&lt;b&gt;near&lt;/b&gt;" in md and "Anna \\*Bold\\*" in md
    )
    assert "> " not in md  # closest matches are not presented as quotes


def test_implied_filters_are_named_unless_the_ui_shows_them() -> None:
    answer = Answer(
        question="What did Putin say in March 2017?",
        quotes=[_quote("We do not interfere.")],
        abstained=False,
        implied_filters={
            "speaker": "Vladimir Putin",
            "since": dt.date(2017, 3, 1),
            "until": dt.date(2017, 3, 31),
        },
    )
    assert (
        "*Understood as: speaker Vladimir Putin · 1 March 2017 – 31 March 2017*"
        in answer.to_markdown()
    )
    assert "Understood as" not in answer_to_markdown(answer, show_filters=False)


def test_escape_html() -> None:
    assert escape_html('<a href="x">&</a>') == "&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;"


def test_a_turn_by_no_one_in_particular_is_cited_by_its_role(tmp_path) -> None:
    from dataclasses import replace

    from qa import load_transcript
    from ui.render import citation_text, render_source

    asked = replace(_quote("Will the fares go up?"), speaker=None, role="question from the floor")
    md = quote_to_markdown(asked)
    assert md.splitlines()[-1].startswith("> — Question from the floor · Meeting with")
    who = Answer(question="Who asked about fares?", quotes=[asked], abstained=False)
    assert who.to_markdown().startswith("**Question from the floor**")
    narrative = replace(asked, role=None)
    assert quote_to_markdown(narrative).splitlines()[-1].startswith("> — Unattributed · ")
    assert "Question from the floor" in citation_text(
        None, "question from the floor", "T", None, None
    )
    assert "Narrative (no speaker)" in citation_text(None, None, "T", None, None)
    named = replace(asked, speaker="Lucy Tran", role="Harbour Vale Courier")
    assert "> — Lucy Tran, Harbour Vale Courier · " in quote_to_markdown(named)

    (tmp_path / "a.txt").write_text("Ann Lee: Hello.\nQuestion: Why now?\nAnn Lee: Because.\n")
    html = render_source(load_transcript(tmp_path / "a.txt"), 1, (0, 0))
    assert '<div class="tqa-turn-who">Question from the floor</div>' in html


# ---------------------------------------------------------------- the chat: relevance, export, copy

MEDIA = "https://media.example.org/ep112.mp4"


def _timed(text: str = "We do not interfere in elections.", support: float | None = 0.8) -> Quote:
    from dataclasses import replace

    return replace(_quote(text), time_start=751.4, time_end=765.0, url=MEDIA, support=support)


@pytest.mark.parametrize(
    ("support", "label", "share"),
    [
        (0.95, "strong", 1.0),
        (1.30, "strong", 1.0),  # dense plus lexical can pass 1
        (0.75, "strong", 0.6),
        (0.7499, "fair", 0.6),
        (0.60, "fair", 0.3),
        (0.5999, "weak", 0.3),
        (0.45, "weak", 0.1),  # the abstention threshold: the shortest bar, never empty
        (0.10, "weak", 0.1),
    ],
)
def test_relevance_labels(support: float, label: str, share: float) -> None:
    from ui.render import relevance, render_relevance

    assert relevance(support) == (label, share)
    html = render_relevance(support)
    assert f'class="tqa-rel tqa-rel-{label}"' in html
    assert _text_of(html) == f"{label} match"
    assert f"width: {share * 100:.0f}%" in html
    assert f"support {support:.2f}" in html  # the number itself, on hover


def test_relevance_unknown_shows_nothing() -> None:
    from ui.render import relevance, render_quote, render_relevance

    assert relevance(None) is None and relevance(float("nan")) is None
    assert render_relevance(None) == ""
    assert "tqa-rel" not in render_quote(_timed(support=None), "0-q0")
    shown = render_quote(_timed(support=0.8), "0-q0")
    assert "strong match" in _text_of(shown)
    # Under the citation, never inside its button.
    assert shown.index("</button>") < shown.index("tqa-rel")


def test_quote_support_comes_from_the_answerer() -> None:
    from qa.answering import AnswerSettings, Candidate, support

    hit = Hit(Passage("d", 0, "A", None, None, "T", None, "x", 0, 1), 1.0)
    c = Candidate(0, hit, 0, 1, "x", dense=0.6, lexical=0.5, reply=0.2)
    assert support(c, AnswerSettings()) == pytest.approx(0.6 + 0.3 * 0.5)
    assert Quote("t", None, None, "T", None, None, "d", 0, 0, 1, 0.5, (0, 1)).support is None


def _exchanges() -> list:
    from ui.conversation import Exchange

    p = Passage("d", 3, "Tom Reed", None, dt.date(2021, 3, 4), "Harbour", "Town Hall", NASTY, 0, 10)
    return [
        Exchange(
            "What did he say about <script>elections</script>?", Answer("q", [_timed()], False)
        ),
        Exchange("x" * 5000, message="The question is 5,000 characters long; the limit is 2,000."),
        Exchange("What about the *ferry*?", Answer("q", [], True, [Hit(p, 0.2)])),
        Exchange("Still thinking?", pending=True),
    ]


def test_conversation_exports_as_markdown_with_full_citations() -> None:
    from ui.conversation import conversation_markdown

    when = dt.datetime(2026, 12, 2, 14, 5)
    md = conversation_markdown(_exchanges(), "Transcript QA", "3 transcripts · 9 speakers", when)
    assert md.startswith(
        "# Transcript QA: conversation\n\n"
        "Exported 2 December 2026, 14:05. Searched: 3 transcripts · 9 speakers.\n"
    )
    # Each finished question is a numbered section; the one still waiting is left out.
    assert re.findall(r"^## (\d)\. ", md, re.M) == ["1", "2", "3"]
    assert "Still thinking" not in md
    # A quote: verbatim, best sentence in bold, who (role), event, date, place, time and link.
    assert "> **We do not interfere in elections.**" in md
    assert (
        "> — Vladimir Putin, President of Russia · Meeting with Marine Le Pen · 24 March 2017 · "
        f"The Kremlin, Moscow · [00:12:31–00:12:45]({MEDIA}#t=751)"
    ) in md
    # The message shown instead of an answer, and an oversized question by its start and size.
    assert "*The question is 5,000 characters long; the limit is 2,000.*" in md
    assert "x" * 400 not in md
    # An abstention says so, with the closest passages and their citations.
    assert "The transcripts do not seem to answer this question." in md
    assert "Tom Reed · Harbour · 4 March 2021 · Town Hall" in md
    # Transcript and user text are data: nothing in it becomes markup.
    html = MD.render(md)
    assert "<script>" not in html and "<em>ferry</em>" not in html and "<img" not in html
    assert [a for a in re.findall(r'<a href="([^"]+)"', html)] == [f"{MEDIA}#t=751"]
    assert "What did he say about &lt;script&gt;elections&lt;/script&gt;?" in html
    assert "x" * 300 + "… (5,000 characters)" in _text_of(html)


def test_an_empty_conversation_exports_a_note() -> None:
    from ui.conversation import conversation_markdown

    md = conversation_markdown([], when=dt.datetime(2026, 1, 5, 9, 0))
    assert (
        md
        == "# Transcript QA: conversation\n\nExported 5 January 2026, 09:00.\n\n*No questions yet.*\n"
    )


def test_one_answer_copies_with_its_citation() -> None:
    import base64
    import html as htmllib

    from ui.conversation import exchange_markdown
    from ui.render import render_conversation

    first = _exchanges()[0]
    md = exchange_markdown(first)
    assert md.startswith(
        "**Question:** What did he say about &lt;script&gt;elections&lt;/script&gt;?\n\n"
    )
    assert md.endswith(f"[00:12:31–00:12:45]({MEDIA}#t=751)")
    page = render_conversation(_exchanges())
    buttons = re.findall(r'<button type="button" class="tqa-copy" data-md="([^"]*)"', page)
    assert len(buttons) == 2  # the two answers; not the message, not the pending question
    assert base64.b64decode(htmllib.unescape(buttons[0])).decode("utf-8") == md
    assert "<script>" not in page
