"""Bad input: every failure is a TranscriptError naming the file (and line); folders skip and go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa import TranscriptError, load_corpus, load_transcript
from qa.ingest import decode
from qa.parsers import jsonl, kremlin, plain, qmsum, subtitles


@pytest.mark.parametrize(
    ("name", "data", "line", "match"),
    [
        ("empty.txt", b"", None, "empty"),
        ("blank.txt", b"  \n\n\t\n", None, "empty"),
        ("nul.txt", b"Ann Lee: hi\nBen\x00Cho: yo\n", 2, "NUL"),
        (
            "cp1251.txt",
            "Ann Lee: hello\nBen Cho: \u043f\u0440\u0438\u0432\u0435\u0442\n".encode("cp1251"),
            2,
            "not UTF-8",
        ),
        (
            "latin1.srt",
            "1\n00:00:01,000 --> 00:00:02,000\nAnn Lee: caf\u00e9\n".encode("latin-1"),
            3,
            "not UTF-8",
        ),
        ("utf16.txt", "Ann Lee: hi\n".encode("utf-16"), None, "UTF-16"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "PNG image"),
        ("doc.json", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", None, "PDF"),
    ],
)
def test_unreadable_files(
    tmp_path: Path, name: str, data: bytes, line: int | None, match: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(TranscriptError, match=match) as err:
        load_transcript(path)
    assert err.value.path == str(path)
    assert err.value.line == line


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "windows.txt"
    path.write_bytes("\ufeffAnn Lee: Hello.\r\nStill Ann.\r\nBen Cho: Hi.\r\n".encode())
    t = load_transcript(path)
    assert t.text == "Ann Lee: Hello.\nStill Ann.\nBen Cho: Hi.\n"
    assert t.turns[0].text == "Hello.\nStill Ann."


def test_unsupported_extension_and_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(TranscriptError, match="ZIP archive"):
        load_transcript(tmp_path / "notes.docx")
    (tmp_path / "notes.rtf").write_text("Ann Lee: hello\n")
    with pytest.raises(TranscriptError, match="unsupported file type '.rtf'"):
        load_transcript(tmp_path / "notes.rtf")
    with pytest.raises(TranscriptError, match="load_corpus"):
        load_transcript(tmp_path)
    with pytest.raises(TranscriptError, match="no such file"):
        load_corpus(tmp_path / "missing")


def test_corpus_reports_skips_and_goes_on(tmp_path: Path, fixtures_dir: Path) -> None:
    good = (fixtures_dir / "ingest" / "plain_basic.txt").read_text()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "b" / "deep.txt").write_text(good)
    (tmp_path / "top.txt").write_text(good)
    (tmp_path / "a" / "top.txt").write_text(good)  # same stem: gets a suffix
    (tmp_path / "a" / "top-2.txt").write_text(good)  # … which must not collide with a real stem
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "broken.json").write_text('{"turns": [')
    (tmp_path / ".hidden.txt").write_text(good)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text(good)
    result = load_corpus(tmp_path)
    ids = sorted(t.doc_id for t in result.transcripts)
    assert len(ids) == 4 and len(set(ids)) == 4
    assert {"deep", "top"} <= set(ids)
    assert sum(i.startswith("top-") for i in ids) == 2
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"photo.png", "empty.txt", "broken.json"}
    assert "not a transcript file type" in reasons["photo.png"]
    assert "empty" in reasons["empty.txt"]
    assert reasons["broken.json"].startswith(str(tmp_path / "broken.json") + ":1:")


def test_single_file_corpus_and_progress(tmp_path: Path, fixtures_dir: Path, capsys) -> None:
    result = load_corpus(fixtures_dir / "ingest" / "plain_basic.txt", show_progress=True)
    assert [t.doc_id for t in result.transcripts] == ["plain_basic"] and not result.skipped
    assert "Parsing transcripts" in capsys.readouterr().err


# ---------------------------------------------------------------- property: only clean errors

PARSERS = [kremlin, plain, subtitles, jsonl, qmsum]
SUFFIX = {kremlin: ".txt", plain: ".txt", subtitles: ".vtt", jsonl: ".jsonl", qmsum: ".json"}

_line_piece = st.sampled_from(
    [
        "Events",
        "March 24, 2017",
        "14:00",
        "* * *",
        "<…>",
        "Geography",
        "Topics",
        "Persons",
        "Publication status",
        "Text version",
        "WEBVTT",
        "00:00:01.000 --> 00:00:02.000",
        "00:00:0x --> 1",
        "<v Ann Lee>hi",
        "Ann Lee: hello",
        "Question: why?",
        "Title: T",
        "Date: 2020-13-45",
        "1",
        '{"turns": [{"speaker": "A B", "text": "x"}]}',
        '{"meeting_transcripts": [{"speaker": 1, "content": null}]}',
        '{"speaker": null, "text": "x", "start": "y"}',
        "[]",
        "",
    ]
)
structured = st.lists(st.one_of(_line_piece, st.text(max_size=40)), max_size=25).map("\n".join)


def _only_clean_errors(module, text: str) -> None:
    path = Path("prop" + SUFFIX[module])
    try:
        t = module.parse(path, text)
    except TranscriptError as err:
        assert err.path == str(path) and err.reason
        return
    for turn in t.turns:  # whatever parses must keep its offsets true
        assert t.text[turn.start : turn.end] == turn.text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(module=st.sampled_from(PARSERS), text=st.one_of(st.text(max_size=300), structured))
def test_random_text_raises_only_transcript_errors(module, text: str) -> None:
    _only_clean_errors(module, text)


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(max_size=300),
    suffix=st.sampled_from([".txt", ".vtt", ".srt", ".json", ".jsonl"]),
)
def test_random_bytes_raise_only_transcript_errors(data: bytes, suffix: str) -> None:
    path = Path("prop" + suffix)
    try:
        text = decode(path, data)
    except TranscriptError:
        return
    from qa.parsers import parse_text

    try:
        t = parse_text(path, text)
    except TranscriptError:
        return
    assert all(t.text[x.start : x.end] == x.text for x in t.turns)


def test_deeply_nested_json_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TranscriptError):
        load_transcript(path)
    assert json.loads("[[]]") == [[]]  # the guard is ours, not a broken json module
