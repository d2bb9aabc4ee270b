"""Property-based fuzzing: every parser and the question parser, on adversarial input.

Properties:
- `load_transcript` on any file either returns a `Transcript` whose turns are verbatim slices
  of its text (and chunk into verbatim passages), or raises `TranscriptError` naming the file.
  Nothing else: no `IndexError`, `ValueError`, `RecursionError`, … and no hang.
- `understand` / `parse_dates` / `SpeakerNames.find` on any question return a sane `Query`:
  dates in order, speakers from the known list, a non-empty search text; never raise.

Inputs are built to look almost right (speaker lines with odd labels, WebVTT cues with broken
timings, JSON with wrong types, date strings out of range) because that is where parsers
break; plain random text and bytes are fuzzed in tests/test_parsers_bad_input.py.

Each test has a bounded number of examples and every example a time budget (a SIGALRM timer:
a catastrophic regex or an endless loop fails the test instead of hanging the suite).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.chunking import chunk, sentence_spans
from qa.errors import TranscriptError
from qa.ingest import load_transcript
from qa.query import SpeakerNames, parse_dates, understand
from qa.transcript import Transcript

EXAMPLE_SECONDS = 10  # generous: the machine is shared; a hang is minutes, not seconds
# The unit suite runs 60 examples a test; benchmarks/bad_corpus.py runs many more this way.
EXAMPLES = int(os.environ.get("TQA_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # wall-clock per example is enforced by `budget` (robust to a busy machine)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)


@contextmanager
def budget(seconds: float = EXAMPLE_SECONDS) -> Iterator[None]:
    """Fail (TimeoutError) if the block runs longer than `seconds`: a hang becomes a failure."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module", autouse=True)
def _warm_up() -> None:
    """Import dateparser and blingfire once, so the first example is not charged for it."""
    parse_dates("in March 2017", dt.date(2020, 1, 1))
    sentence_spans("Warm up. Now.", 0)


# --- building blocks ---------------------------------------------------------------------

# Characters that break naive parsers: line separators other than "\n" (str.splitlines
# splits on them), NUL-free controls, combining marks, RTL, colons, brackets, emoji.
TRICKY = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\t\u200b\u200f\u0301\ufeff:<>&;[]()*-—…«»\"'’💥"
text_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
tricky_text = st.text(
    alphabet=st.one_of(text_chars, st.sampled_from(list(TRICKY))), min_size=0, max_size=60
)
words = st.text(alphabet="abcdefghij klmnop.,?!", min_size=1, max_size=50)
body = st.one_of(words, tricky_text)

ODD_LABELS = [
    "Vladimir Putin",
    "President of Russia Vladimir Putin",
    "Question",
    "Q",
    "Dr. O'Neil-Smith",
    "Ms Okafor (interpreted)",
    "Putin (retranslated from Russian)",
    "Speaker 1",
    "Mr. Ü. Ñandú",
    "李明",
    "V.Putin",
    "PUTIN",
    "de la Cruz",
    "— Putin",
    "Remark",
    "Voice from the audience",
    "A" * 159,
    "B" * 400,
    "12:30",
    "http",
    "Note",
    "Title",
    "Date",
    "WEBVTT",
]
labels = st.one_of(st.sampled_from(ODD_LABELS), tricky_text)
ODD_DATES = [
    "March 24, 2017",
    "February 30, 2020",
    "December 31, 9999",
    "January 1, 0001",
    "0000-00-00",
    "99999-01-01",
    "2020-13-45",
    "10000 BC",
    "yesterday",
    "24.03.2017",
    "2017-03-24T25:61:00",
    "",
]
dates = st.one_of(st.sampled_from(ODD_DATES), tricky_text)


def _write(tmp: Path, name: str, data: str | bytes) -> Path:
    path = tmp / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def check_file(name: str, data: str | bytes) -> None:
    """The property every parser must hold on `data` saved as `name`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(Path(tmp), name, data)
        with budget():
            try:
                t = load_transcript(path)
            except TranscriptError as exc:
                assert exc.path == str(path)
                assert exc.reason.strip()
                return
            passages = chunk(t)
    assert isinstance(t, Transcript) and t.text
    for i, turn in enumerate(t.turns):
        assert turn.index == i
        assert 0 <= turn.start <= turn.end <= len(t.text)
        assert t.text[turn.start : turn.end] == turn.text
    for p in passages:
        assert t.text[p.start : p.end] == p.text
        assert p.text.strip()


# --- parsers -------------------------------------------------------------------------------


@st.composite
def speaker_lines(draw: st.DrawFn) -> str:
    """Plain / Kremlin-like text: an optional header, then `Label: text` and bare lines."""
    out: list[str] = []
    if draw(st.booleans()):
        out += [f"Title: {draw(body)}", f"Date: {draw(dates)}", f"Place: {draw(body)}", ""]
    n = draw(st.integers(1, 12))
    for _ in range(n):
        kind = draw(st.integers(0, 4))
        if kind <= 2:
            gap = draw(st.sampled_from([" ", "", "  ", "\t"]))
            out.append(f"{draw(labels)}:{gap}{draw(body)}")
        elif kind == 3:
            out.append(draw(body))
        else:
            out.append(draw(st.sampled_from(["", "<…>", "* * *", "(Applause.)", ":", ": :"])))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r", "\n\n"]))
    return sep.join(out)


@st.composite
def kremlin_pages(draw: st.DrawFn) -> str:
    """The kremlin layout (title, lead, date line, time, place) with adversarial pieces."""
    head = [
        draw(st.sampled_from(["Events", "News", ""])),
        draw(body) or "Meeting",
        draw(body),
        draw(st.sampled_from(ODD_DATES[:4]) | dates),
        draw(st.sampled_from(["14:00", "99:99", ""])),
        draw(body),
    ]
    tail = draw(
        st.sampled_from(
            [
                "",
                "Geography\nRussia\nTopics\nForeign policy\nPublication status",
                "Persons\n" + draw(labels) + "\nText version",
                "Publication status\nPublished in sections: News\nText version",
            ]
        )
    )
    return "\n".join(head) + "\n" + draw(speaker_lines()) + "\n" + tail


_ts = st.one_of(
    st.sampled_from(["00:00:01.000", "00:01.5", "1:00:00,000", "99:99:99.999", "00:00:00.000"]),
    st.from_regex(r"\A\d{1,3}:\d{1,2}(:\d{1,2})?[.,]\d{0,4}\Z"),
    tricky_text,
)


@st.composite
def subtitle_files(draw: st.DrawFn) -> tuple[str, str]:
    """WebVTT or SRT with broken timings, voice tags, nested markup and entities."""
    vtt = draw(st.booleans())
    parts = ["WEBVTT" + draw(st.sampled_from(["", " - title", "\nTitle: x\nDate: " + draw(dates)]))]
    if not vtt:
        parts = []
    for i in range(draw(st.integers(0, 8))):
        timing = f"{draw(_ts)} --> {draw(_ts)}" + draw(st.sampled_from(["", " align:start"]))
        text = draw(
            st.one_of(
                st.builds(lambda v, b: f"<v {v}>{b}</v>", labels, body),
                st.builds(lambda v, b: f"<v.loud {v}>{b}", labels, body),
                st.builds(lambda v, b: f"{v}: {b}", labels, body),
                st.builds(lambda b: f"<i><b>{b}</i>&amp;&nbsp;&#0;&#xFFFFFFF;", body),
                body,
            )
        )
        cue = [timing, text]
        if not vtt or draw(st.booleans()):
            cue.insert(0, str(draw(st.integers(-1, 10**6)) if draw(st.booleans()) else i + 1))
        if draw(st.booleans()):
            cue.append(draw(body))
        parts.append("\n".join(cue))
        if draw(st.integers(0, 5)) == 0:
            parts.append("NOTE " + draw(body))
    return ("x.vtt" if vtt else "x.srt"), draw(st.sampled_from(["\n\n", "\n", "\r\n\r\n"])).join(
        parts
    )


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    tricky_text,
    dates,
)
any_json = st.recursive(
    json_leaf,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(tricky_text, kids, max_size=4),
    max_leaves=12,
)
turn_objects = st.fixed_dictionaries(
    {},
    optional={
        "speaker": st.one_of(labels, any_json),
        "text": st.one_of(body, any_json),
        "role": any_json,
        "start": st.one_of(st.floats(), any_json),
        "end": st.one_of(st.floats(), any_json),
    },
)
json_documents = st.fixed_dictionaries(
    {},
    optional={
        "title": st.one_of(body, any_json),
        "date": st.one_of(dates, any_json),
        "topics": any_json,
        "persons": any_json,
        "speakers": st.one_of(st.dictionaries(labels, any_json, max_size=3), any_json),
        "turns": st.one_of(st.lists(turn_objects, max_size=6), any_json),
    },
)
qmsum_documents = st.fixed_dictionaries(
    {
        "meeting_transcripts": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"speaker": st.one_of(labels, any_json), "content": body}
                ),
                max_size=6,
            ),
            any_json,
        )
    },
    optional={"topic_list": any_json, "general_query_list": any_json},
)


def _dumps(value: object, truncate: int | None) -> str:
    text = json.dumps(value, ensure_ascii=False)  # NaN/Infinity allowed: Python emits them
    return text if truncate is None else text[: max(0, len(text) - truncate)]


@FUZZ
@given(text=speaker_lines(), ext=st.sampled_from(["txt", "md", "text"]))
def test_plain_and_kremlin_parsers_on_adversarial_speaker_lines(text: str, ext: str) -> None:
    check_file(f"x.{ext}", text)


@FUZZ
@given(text=kremlin_pages())
def test_kremlin_parser_on_adversarial_pages(text: str) -> None:
    check_file("page.txt", text)


@FUZZ
@given(doc=subtitle_files())
def test_subtitle_parser_on_broken_cues(doc: tuple[str, str]) -> None:
    check_file(*doc)


@FUZZ
@given(doc=json_documents, truncate=st.one_of(st.none(), st.integers(1, 40)))
def test_json_parser_on_wrong_types_and_truncation(doc: dict, truncate: int | None) -> None:
    check_file("x.json", _dumps(doc, truncate))


@FUZZ
@given(
    lines=st.lists(st.one_of(json_documents, turn_objects, any_json), min_size=1, max_size=6),
    truncate=st.one_of(st.none(), st.integers(1, 20)),
)
def test_jsonl_parser_on_mixed_lines(lines: list, truncate: int | None) -> None:
    text = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines)
    check_file("x.jsonl", text if truncate is None else text[:-truncate])


@FUZZ
@given(doc=qmsum_documents, truncate=st.one_of(st.none(), st.integers(1, 40)))
def test_qmsum_parser_on_wrong_types_and_truncation(doc: dict, truncate: int | None) -> None:
    check_file("meeting.json", _dumps(doc, truncate))


@pytest.mark.parametrize(
    "doc",
    [
        {"meeting_transcripts": [{"content": ""}]},
        {"meeting_transcripts": [{"speaker": "A", "content": "  "}]},
        {"meeting_transcripts": [{"speaker": "A", "content": "Hello there."}], "topic_list": 5},
        {"meeting_transcripts": [{"speaker": "A", "content": "Hello there."}], "topic_list": None},
    ],
)
def test_qmsum_cases_found_by_fuzzing(doc: dict) -> None:
    """A TypeError on a non-list topic_list, and a meeting with no speech accepted."""
    check_file("meeting.json", json.dumps(doc))


# --- the question parser -------------------------------------------------------------------

speaker_names = st.lists(
    st.one_of(st.sampled_from(ODD_LABELS), st.text(text_chars, min_size=1, max_size=40)),
    max_size=8,
)
DATE_PHRASES = [
    "in the last {n} years of the corpus",
    "in the past {n} weeks",
    "in the last {n} months",
    "between {a} and {b}",
    "from {a} to {b}",
    "since {a}",
    "after {a}",
    "before {a}",
    "until {a}",
    "in {a}",
    "on {a}",
    "between {m1} and {m2} {y}",
    "this year",
    "last month",
]
numbers = st.one_of(st.integers(0, 10**12).map(str), st.sampled_from(["two", "three", "few"]))
years = st.one_of(
    st.integers(0, 99999).map(lambda y: f"{y:04d}"), st.sampled_from(["1900", "2099"])
)
months = st.sampled_from(["January", "Feb", "sept", "May", "Dec.", "Febtember"])
date_words = st.one_of(
    st.sampled_from(ODD_DATES),
    st.builds(lambda m, d, y: f"{m} {d}, {y}", months, st.integers(0, 99), years),
    st.builds(lambda d, m, y: f"{d} {m} {y}", st.integers(0, 99), months, years),
    st.builds(lambda m, y: f"{m} {y}", months, years),
    years,
)


@st.composite
def questions(draw: st.DrawFn, names: list[str]) -> str:
    phrase = draw(st.sampled_from(DATE_PHRASES)).format(
        n=draw(numbers),
        a=draw(date_words),
        b=draw(date_words),
        m1=draw(months),
        m2=draw(months),
        y=draw(years),
    )
    who = draw(st.sampled_from(names)) if names else draw(labels)
    template = draw(
        st.sampled_from(
            [
                "What did {who} say about {topic} {phrase}?",
                "Who said {topic} {phrase}?",
                "{phrase}, what did {who}'s team promise?",
                "{topic}",
                "{who} {who} {who} {phrase} {phrase}",
                "And {phrase}?",
            ]
        )
    )
    return template.format(who=who, topic=draw(body), phrase=phrase)


def _check_query(question: str, names: list[str], latest: dt.date | None) -> None:
    speakers = SpeakerNames(names)
    with budget():
        query = understand(question, speakers, latest)
    assert query.since is None or query.until is None or query.since <= query.until
    assert query.speaker is None or query.speaker in names
    assert all(m in names for m in query.mentioned)
    assert isinstance(query.search_text, str)
    assert query.search_text.strip() or not question.strip()  # the facade refuses blank ones


@FUZZ
@given(data=st.data(), names=speaker_names, latest=st.one_of(st.none(), st.dates()))
def test_question_parser_on_adversarial_dates_and_names(
    data: st.DataObject, names: list[str], latest: dt.date | None
) -> None:
    question = data.draw(questions(names))
    _check_query(question, names, latest)


@FUZZ
@given(question=tricky_text.filter(str.strip), names=speaker_names)
def test_question_parser_on_random_text(question: str, names: list[str]) -> None:
    _check_query(question, names, dt.date(2020, 6, 30))


@pytest.mark.parametrize(
    "question",
    [
        "What was said in the last 5000 years of the corpus?",
        "What was said in the past 99999999 weeks?",
        "What happened between 2020 and 2019?",
        "What was said from December 2020 to January 2019?",
        "Anything after December 31, 9999?",
        "Anything before January 1, 0001?",
        "What was said in the last 0 years?",
    ],
)
def test_out_of_range_and_reversed_dates_give_a_usable_query(question: str) -> None:
    """Found by the fuzzers above: each of these once raised or produced since > until."""
    _check_query(question, ["Vladimir Putin"], dt.date(2020, 6, 30))


def test_budget_turns_a_hang_into_a_failure() -> None:
    """The time budget itself works (otherwise a hang would stall the suite, not fail it)."""
    with pytest.raises(TimeoutError, match="a hang"), budget(0.2):
        while True:
            pass
