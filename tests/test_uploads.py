"""Adding and removing transcripts in an open index (`TranscriptQA.add_files`, `qa.uploads`,
the chat's section in `ui.uploads`): every format goes in and is searchable at once; each bad
file is listed with its reason while the good ones go in; copies are kept under
`<index>/uploads/` with names made here, survive a restart and a rebuild of the corpus, and
go when their document is removed; limits hold; questions keep working while files index;
and a fuzz of hostile uploads leaves nothing outside the index folder and a loadable index.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embeddings import store
from qa import TranscriptQA, uploads
from qa.errors import TranscriptQAError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
INGEST = FIXTURES / "ingest"
RETRIEVAL = FIXTURES / "retrieval"
SAFE_NAME = re.compile(r"^[\w][\w.\-]*\.(txt|text|vtt|srt|json|jsonl|ndjson)$")

# One file per supported format, and a phrase only that transcript says.
EVERY_FORMAT = {
    "kremlin_mini.txt": "we must build more schools",
    "plain_basic.txt": "we need two more gardeners",
    "subtitles_voice.vtt": "The new ferry starts on Monday",
    "subtitles_prefix.srt": "Today we talk about bridges",
    "schema.json": "It has 40,000 books",
    "schema.jsonl": "a question about the bus lanes",
}


@pytest.fixture
def qa(small_index: Path, tmp_path: Path) -> TranscriptQA:
    """A private copy of the small fixture index (three transcripts), opened."""
    index = tmp_path / "index"
    shutil.copytree(small_index, index)
    return TranscriptQA.open(index)


@pytest.fixture(autouse=True)
def _default_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TQA_MAX_FILE_MB", "TQA_MAX_UPLOAD_FILES", "TQA_MAX_UPLOADS_MB"):
        monkeypatch.delenv(name, raising=False)


def _files_outside(root: Path, index: Path) -> dict[str, int]:
    """Every file under `root` but outside `index`, with its size."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if index not in path.parents:
                out[str(path)] = path.stat().st_size
    return out


def _check_index_folder(qa: TranscriptQA) -> None:
    """Only the index's own files, and uploads with names we made; the index loads whole."""
    index = qa.index_dir.resolve()
    for path in index.rglob("*"):
        rel = path.relative_to(index)
        assert rel.parts[0] in {"CURRENT", store.LOCK, uploads.UPLOADS} or rel.parts[0].startswith(
            "gen-"
        ), f"unexpected {rel}"
    folder = uploads.uploads_dir(index)
    if folder.exists():
        for path in folder.iterdir():
            assert path.is_file() and SAFE_NAME.match(path.name), path.name
    fresh = TranscriptQA.open(index)
    assert store.verify(index) > 0
    stored = {d.doc_id for d in fresh.documents() if d.uploaded}
    on_disk = {p.stem for p in folder.iterdir()} if folder.exists() else set()
    assert stored == on_disk  # the folder matches the index


def _write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# ---------------------------------------------------------------- adding


def test_every_format_goes_in_and_is_searchable_at_once(qa: TranscriptQA) -> None:
    before = {d.doc_id for d in qa.documents()}
    result = qa.add_files([INGEST / name for name in EVERY_FORMAT])
    assert result.skipped == []
    assert len(result.added) == len(EVERY_FORMAT)
    docs = {d.doc_id: d for d in qa.documents()}
    assert set(docs) == before | set(result.added)
    for doc_id in result.added:
        assert docs[doc_id].uploaded and docs[doc_id].turns > 0
    for doc_id in before:
        assert not docs[doc_id].uploaded
    for name, phrase in EVERY_FORMAT.items():
        hits = qa.search(phrase, k=3)
        expected = "schema-2" if name == "schema.jsonl" else Path(name).stem  # stems are ids
        assert hits and hits[0].passage.doc_id == expected, (name, hits)
        assert any(phrase in h.passage.text for h in hits), (name, hits)
    assert "Mara Lind" in qa.speakers() and "Ruth Okafor" in qa.speakers()
    answer = qa.ask("When does the new ferry start?")
    assert answer.quotes and answer.quotes[0].doc_id == "subtitles_voice"
    # The copies are in the index's own folder, as UTF-8 that reads back to the indexed text.
    for doc_id in result.added:
        t = qa.transcript(doc_id)
        assert t.source is not None and Path(t.source).parent == uploads.uploads_dir(qa.index_dir)
    assert qa.last_update_stats.docs_added == len(EVERY_FORMAT)
    _check_index_folder(qa)


def test_bad_files_are_listed_with_reasons_and_the_good_ones_go_in(
    qa: TranscriptQA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    good = _write(
        inbox,
        "2025-02-03_podcast.vtt",
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Ada Moss>Tides rise.\n",
    )
    bad = {
        "empty.txt": (b"", "empty"),
        "blank.srt": (b"  \n\n \t\n", "empty"),
        "image.txt": (b"\x89PNG\r\n\x1a\n" + bytes(200), "PNG image"),
        "nul.txt": (b"Ann: hello\x00world\n", "binary file"),
        "latin.txt": ("Ann: Grüße aus Köln\n".encode("cp1252"), "not UTF-8"),
        "utf16.txt": ("Ann: hi\n".encode("utf-16"), "UTF-16"),
        "broken.json": ((INGEST / "schema_bad.json").read_bytes(), "line"),
        "notes.pdf": (b"%PDF-1.4 whatever", "not a transcript file type"),
        "noext": (b"Ann: hello\n", "not a transcript file type"),
        "big.txt": (b"Ann: " + b"word " * 600 + b"\n", "over the"),
    }
    paths = [good] + [_write(inbox, name, data) for name, (data, _) in bad.items()]
    monkeypatch.setenv("TQA_MAX_FILE_MB", "0.002")  # 2 kB: big.txt is over it
    result = qa.add_files(paths)
    assert result.added == ["2025-02-03_podcast"]
    reasons = {s.path: s.reason for s in result.skipped}
    assert set(reasons) == set(bad)
    for name, (_, expected) in bad.items():
        assert expected in reasons[name], (name, reasons[name])
        assert str(tmp_path) not in reasons[name]  # no server paths in a message
    assert "TQA_MAX_FILE_MB" in reasons["big.txt"]
    # A file without a date or title of its own takes them from its name.
    podcast = qa.transcript("2025-02-03_podcast")
    assert (podcast.title, str(podcast.date)) == ("Podcast", "2025-02-03")
    assert qa.search("Tides rise", k=1)[0].passage.doc_id == "2025-02-03_podcast"
    _check_index_folder(qa)


def test_nothing_good_changes_nothing(qa: TranscriptQA, tmp_path: Path) -> None:
    generation = store.current_generation(qa.index_dir)
    result = qa.add_files([_write(tmp_path, "empty.txt", b"")])
    assert result.added == [] and result.stats is None
    assert [s.reason for s in result.skipped] == ["file is empty: expected a transcript"]
    assert store.current_generation(qa.index_dir) == generation
    assert qa.add_files([]).skipped == []


def test_the_same_file_twice_is_a_duplicate(qa: TranscriptQA, tmp_path: Path) -> None:
    first = qa.add_files([INGEST / "plain_basic.txt"])
    assert first.added == ["plain_basic"]
    again = qa.add_files([(INGEST / "plain_basic.txt", "renamed.txt")])
    assert again.added == []
    assert (
        again.skipped[0].reason
        == "already in the index, as “Budget hearing of the Parks Committee”"
    )
    # A corpus file uploaded again is one too; so is a second copy in the same upload.
    corpus = qa.add_files([RETRIEVAL / "harbour.txt"])
    assert "already in the index, as “Harbour budget meeting”" in corpus.skipped[0].reason
    crlf = _write(tmp_path, "crlf.txt", b"Ann Lee: One.\r\nBo Sun: Two.\r\n")
    twice = qa.add_files([crlf, (crlf, "copy.txt")])
    assert twice.added == ["crlf"] and "already in the index" in twice.skipped[0].reason
    assert (
        uploads.uploads_dir(qa.index_dir) / "crlf.txt"
    ).read_bytes() == b"Ann Lee: One.\nBo Sun: Two.\n"
    _check_index_folder(qa)


def test_names_are_ours_never_a_path(qa: TranscriptQA, tmp_path: Path) -> None:
    source = _write(tmp_path / "src", "any.txt", "Ann Lee: The pier reopens in May.\n")
    names = {
        "../../../evil.txt": "evil",
        "/etc/cron.d/job.txt": "job",
        "..\\..\\windows.txt": "windows",
        "a\x00b.txt": "ab",
        ".hidden.txt": "hidden",
        "..txt": "transcript",
        "report (final) v2!.TXT": "report_final_v2",
        "Пресс-конференция 2024.vtt": "Пресс-конференция_2024",
        "x" * 500 + ".srt": "x" * uploads.MAX_STEM_CHARS,
        "harbour.txt": "harbour-2",  # the corpus has a document "harbour"
        "HARBOUR.json": "HARBOUR-3",  # ids compare case-folded, as on a case-insensitive disk
    }
    outside = _files_outside(tmp_path, qa.index_dir)
    for i, (name, stem) in enumerate(names.items()):
        data = source.read_text(encoding="utf-8").replace("May", f"May {i}")
        if name.endswith(".vtt"):
            data = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Ann Lee>" + data
        if name.lower().endswith(".json"):
            data = json.dumps(
                {"title": "J", "turns": [{"speaker": "Ann Lee", "text": f"Pier {i}."}]}
            )
        if name.endswith(".srt"):
            data = "1\n00:00:01,000 --> 00:00:02,000\n" + data
        path = _write(tmp_path / "src", f"f{i}{Path(name).suffix or '.txt'}", data)
        result = qa.add_files([(path, name)])
        assert result.skipped == [], (name, result.skipped)
        assert result.added == [stem], (name, result.added)
    assert _files_outside(tmp_path, qa.index_dir).keys() - outside.keys() <= {
        str(tmp_path / "src" / f"f{i}{Path(n).suffix or '.txt'}") for i, n in enumerate(names)
    }
    assert not (tmp_path / "evil.txt").exists() and not Path("/etc/cron.d/job.txt").exists()
    assert qa.transcript("harbour").title == "Harbour budget meeting"  # untouched
    _check_index_folder(qa)


def test_limits_on_count_and_on_all_stored_uploads(
    qa: TranscriptQA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [_write(tmp_path, f"t{i}.txt", f"Ann Lee: Item {i}.\n") for i in range(5)]
    monkeypatch.setenv("TQA_MAX_UPLOAD_FILES", "3")
    result = qa.add_files(files)
    assert result.added == ["t0", "t1", "t2"]
    assert [s.path for s in result.skipped] == ["t3.txt", "t4.txt"]
    assert all("at most 3 files" in s.reason for s in result.skipped)
    used = uploads.stored_bytes(qa.index_dir)
    monkeypatch.setenv("TQA_MAX_UPLOADS_MB", str((used + 10) / 1024 / 1024))
    result = qa.add_files(files[3:])
    assert result.added == [] and all("TQA_MAX_UPLOADS_MB" in s.reason for s in result.skipped)
    # Removing uploads frees the room again.
    assert qa.remove("t0") and qa.remove("t1")
    assert qa.add_files(files[3:4]).added == ["t3"]
    _check_index_folder(qa)


# ---------------------------------------------------------------- keeping and removing


def test_a_restart_and_a_rebuild_of_the_corpus_keep_uploads(
    qa: TranscriptQA, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(RETRIEVAL, corpus)
    index = tmp_path / "own-index"
    qa = TranscriptQA.build(corpus, index, show_progress=False)
    added = qa.add_files([INGEST / "subtitles_voice.vtt", INGEST / "plain_basic.txt"]).added
    everything = {d.doc_id for d in qa.documents()}

    reopened = TranscriptQA.open(index)  # a restart
    assert {d.doc_id for d in reopened.documents()} == everything
    assert reopened.search("The new ferry starts on Monday", k=1)[0].passage.doc_id == added[0]

    stats = reopened.update(corpus, show_progress=False)  # what `tqa serve --corpus` does
    assert stats.docs_removed == 0 and {d.doc_id for d in reopened.documents()} == everything
    rebuilt = TranscriptQA.build(corpus, index, show_progress=False)  # `tqa index corpus/`
    assert rebuilt.last_update_stats.docs_removed == 0
    assert {d.doc_id for d in rebuilt.documents()} == everything

    # A corpus file that later gets an upload's name is renamed, and the upload stays.
    _write(corpus, "plain_basic.txt", "Title: Corpus twin\n\nBo Sun: Different words here.\n")
    stats = rebuilt.update(corpus, show_progress=False)
    assert stats.docs_added == 1 and stats.docs_removed == 0
    assert rebuilt.transcript("plain_basic").title == "Budget hearing of the Parks Committee"
    assert rebuilt.transcript("plain_basic-2").title == "Corpus twin"
    again = TranscriptQA.build(corpus, index, show_progress=False)
    assert again.last_update_stats.written is False  # stable: nothing renamed twice
    assert {d.doc_id for d in again.documents()} == everything | {"plain_basic-2"}

    # The index itself lost (deleted by hand, or unreadable): a build from the corpus still
    # brings the uploads back, from their stored copies.
    for gen in index.glob("gen-*"):
        shutil.rmtree(gen)
    (index / store.CURRENT).unlink()
    fresh = TranscriptQA.build(corpus, index, show_progress=False)
    assert {d.doc_id for d in fresh.documents()} == everything | {"plain_basic-2"}
    assert fresh.transcript("plain_basic").title == "Budget hearing of the Parks Committee"
    _check_index_folder(fresh)


def test_removing_an_upload_removes_its_copy(qa: TranscriptQA) -> None:
    added = qa.add_files([INGEST / "subtitles_voice.vtt", INGEST / "schema.json"]).added
    stored = uploads.uploads_dir(qa.index_dir) / "subtitles_voice.vtt"
    assert stored.is_file()
    assert qa.remove(added[0]) is True
    assert not stored.exists() and added[0] not in {d.doc_id for d in qa.documents()}
    assert all(h.passage.doc_id != added[0] for h in qa.search("The new ferry starts", k=5))
    assert qa.remove(added[0]) is False
    # A corpus document can go too; its file is not ours and stays where it is.
    assert qa.remove("harbour") is True
    assert (RETRIEVAL / "harbour.txt").exists()
    assert list(uploads.uploads_dir(qa.index_dir).iterdir()) == [
        uploads.uploads_dir(qa.index_dir) / "schema.json"
    ]
    assert {d.doc_id for d in TranscriptQA.open(qa.index_dir).documents()} == {
        "school",
        "press",
        "schema",
    }
    _check_index_folder(qa)


def test_a_failed_write_leaves_index_and_folder_as_they_were(
    qa: TranscriptQA, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = qa.add_files([INGEST / "schema.json"]).added
    before = {d.doc_id for d in qa.documents()}
    generation = store.current_generation(qa.index_dir)

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "save", full_disk)
    with pytest.raises(OSError):
        qa.add_files([INGEST / "plain_basic.txt"])
    with pytest.raises(OSError):
        qa.remove(added[0])
    monkeypatch.undo()
    assert store.current_generation(qa.index_dir) == generation
    assert {d.doc_id for d in qa.documents()} == before
    assert sorted(p.name for p in uploads.uploads_dir(qa.index_dir).iterdir()) == ["schema.json"]
    _check_index_folder(qa)


# ---------------------------------------------------------------- concurrency


def test_questions_keep_working_while_an_upload_indexes(qa: TranscriptQA, tmp_path: Path) -> None:
    qa.warm_up()
    inbox = tmp_path / "inbox"
    files = [
        _write(
            inbox,
            f"meeting{i}.txt",
            "".join(f"Ann Lee: Point {i}.{j} about the pier.\n" for j in range(60)),
        )
        for i in range(8)
    ]
    errors: list[BaseException] = []
    answered = [0]
    done, adding = threading.Event(), threading.Event()

    def ask() -> None:
        while not done.is_set():
            try:
                answer = qa.ask("What does the harbour wall need before winter?")
                assert answer.quotes and "needs new concrete" in answer.quotes[0].text
                hits = qa.search("harbour wall", k=3)
                assert hits and hits[0].passage.doc_id == "harbour"
                if adding.is_set():
                    answered[0] += 1  # answered while the upload was indexing
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
                return

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        adding.set()
        result = qa.add_files(files)
        adding.clear()
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert answered[0] > 0
    assert len(result.added) == 8
    assert qa.search("Point 5.7 about the pier", k=1)[0].passage.doc_id == "meeting5"


def test_the_chat_answers_while_its_upload_indexes(qa: TranscriptQA, tmp_path: Path) -> None:
    """The app's own functions: the upload handler in one thread, /ask in others."""
    from ui.app import build_app

    app = build_app(qa)
    fns = {f.fn.__name__: f.fn for f in app.fns.values() if f.fn is not None}
    add, ask = fns["upload_files"], fns["ask_api"]
    inbox = tmp_path / "inbox"
    files = [
        str(
            _write(
                inbox,
                f"talk{i}.txt",
                "".join(f"Bo Sun: Remark {i}.{j} on ferries.\n" for j in range(40)),
            )
        )
        for i in range(6)
    ] + [str(_write(inbox, "empty.txt", b""))]
    errors: list[BaseException] = []
    done = threading.Event()

    def asking() -> None:
        while not done.is_set():
            try:
                result = ask("What does the harbour wall need before winter?")
                assert "needs new concrete" in result["quotes"][0]["text"]
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)
                return

    threads = [threading.Thread(target=asking) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        out = add(files, [], None, None, lambda *a, **k: None)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    report, listing, listed, speaker, doc, header, cleared, held = out
    assert "9 transcripts" in header  # the chat's header line counts the new ones
    assert "Added 6 transcripts" in report and "empty.txt" in report and "file is empty" in report
    assert all(f"talk{i}" in listed for i in range(6)) and "Bo Sun" in speaker["choices"]
    assert any(value == "talk3" for _, value in doc["choices"])
    assert cleared is None and held == []
    assert (
        "Remark 3." in ask("What did Bo Sun remark on ferries?", doc="talk3")["quotes"][0]["text"]
    )


def test_the_chat_removes_a_listed_row(qa: TranscriptQA) -> None:
    from ui.app import build_app

    qa.add_files([INGEST / "schema.json"])
    app = build_app(qa)
    fns = {f.fn.__name__: f.fn for f in app.fns.values() if f.fn is not None}
    listed = [d.doc_id for d in uploads_order(qa)]
    row = listed.index("schema")
    assert "4 transcripts" in fns["on_load"]()[-1]  # a page opened now: the header as it is

    class Event:
        _data = {"row": row}

    report, listing, new_listed, speaker, doc, header = fns["remove_document"](
        listed, None, "schema", Event()
    )
    assert "3 transcripts" in header and "4 transcripts" not in header
    assert "Removed “Library opening” and its stored file." in report
    assert "schema" not in new_listed and "Library opening" not in listing
    assert doc["value"] is None  # the picker no longer names a removed document
    assert all(value != "schema" for _, value in doc["choices"])
    # A stale row (or a made-up one) removes nothing.
    report, *_ = fns["remove_document"](listed, None, None, Event())
    assert "already removed" in report
    Event._data = {"row": 99}
    report, *_ = fns["remove_document"](listed, None, None, Event())
    assert "no longer in the list" in report
    Event._data = {"row": "../../etc"}  # type: ignore[dict-item]
    report, *_ = fns["remove_document"](listed, None, None, Event())
    assert "no longer in the list" in report
    assert {d.doc_id for d in qa.documents()} == {"harbour", "school", "press"}


def uploads_order(qa: TranscriptQA) -> list[Any]:
    from ui.uploads import ordered

    return ordered(qa.documents())


def test_the_page_reports_files_it_kept_back(qa: TranscriptQA) -> None:
    """Files over a limit never leave the browser (ui/uploads.py's guard); the page still lists
    them, worded as the service words its own refusals."""
    from ui.app import build_app

    app = build_app(qa)
    fns = {f.fn.__name__: f.fn for f in app.fns.values() if f.fn is not None}

    class Event:
        _data = {
            "files": [
                {"name": "huge.txt", "size": 60 * 1024 * 1024, "why": "size"},
                {"name": "../x\x00.txt", "size": 10, "why": "count"},
                {"name": "<img src=x onerror=alert(1)>.txt", "size": 10, "why": "total"},
                "junk",
            ],
            "more": 3,
        }

    report, held = fns["refused_files"]([], Event())
    assert "huge.txt" in report and "60.0 MB, over the 50 MB limit" in report
    assert "at most 200 files" in report and "TQA_MAX_UPLOADS_MB" in report
    assert "<img" not in report and "&lt;img" in report
    assert "x?.txt" in report and "3 more files" in report
    assert len(held) == 4
    Event._data = {"files": []}
    skipped, held = fns["refused_files"]([], Event())
    assert held == []


# ---------------------------------------------------------------- fuzz


@pytest.fixture
def sandbox(qa: TranscriptQA, tmp_path: Path) -> Iterator[tuple[TranscriptQA, Path]]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    outside = _files_outside(tmp_path, qa.index_dir)
    yield qa, inbox
    written = {
        p
        for p in _files_outside(tmp_path, qa.index_dir).keys() - outside.keys()
        if inbox not in Path(p).parents
    }
    assert written == set(), "files written outside the index folder"
    _check_index_folder(qa)


def _clear(reason: str) -> None:
    assert reason and len(reason) < 400 and "Traceback" not in reason and "\n" not in reason


def test_fuzz_random_bytes(sandbox: tuple[TranscriptQA, Path]) -> None:
    qa, inbox = sandbox
    rng = random.Random(13)
    files = []
    for i in range(60):
        size = rng.choice([1, 7, 64, 512, 4096, 40_000])
        data = bytes(rng.getrandbits(8) for _ in range(size))
        if i % 3 == 0:  # random text, which may or may not parse
            data = "".join(rng.choice('ab :\n\t<>{}[]",0123-→é') for _ in range(size)).encode()
        ext = rng.choice(
            [".txt", ".vtt", ".srt", ".json", ".jsonl", ".text", ".ndjson", ".bin", ""]
        )
        files.append((_write(inbox, f"r{i}", data), f"random {i}{ext}"))
    result = qa.add_files(files)
    assert len(result.added) + len(result.skipped) == len(files)
    for s in result.skipped:
        _clear(s.reason)
    for doc_id in result.added:  # whatever parsed is indexed, with offsets into its text
        t = qa.transcript(doc_id)
        assert t.turns and all(0 <= u.start <= u.end <= len(t.text) for u in t.turns)


def test_fuzz_a_huge_file_is_refused_before_it_is_read(sandbox: tuple[TranscriptQA, Path]) -> None:
    qa, inbox = sandbox
    huge = inbox / "huge.txt"
    with huge.open("wb") as fh:  # sparse: 6 GB on paper, nothing on disk
        fh.truncate(6 * 1024**3)
    small = _write(inbox, "small.txt", "Ann Lee: Still fine.\n")
    result = qa.add_files([huge, small])
    assert result.added == ["small"]
    assert result.skipped[0].path == "huge.txt"
    assert "6,144.0 MB, over the 50 MB limit" in result.skipped[0].reason
    _clear(result.skipped[0].reason)


def test_fuzz_a_thousand_tiny_files(sandbox: tuple[TranscriptQA, Path]) -> None:
    qa, inbox = sandbox
    files = [_write(inbox, f"tiny{i:04}.txt", f"Ann Lee: Tiny remark {i}.\n") for i in range(1000)]
    result = qa.add_files(files)
    limit = 200  # qa.limits.MAX_UPLOAD_FILES
    assert result.added == [f"tiny{i:04}" for i in range(limit)]
    assert len(result.skipped) == 1000 - limit
    assert {s.reason for s in result.skipped} == {
        f"not added: one upload takes at most {limit} files (add the rest in another upload, "
        "or raise TQA_MAX_UPLOAD_FILES)"
    }
    assert qa.search("Tiny remark 117", k=1)[0].passage.doc_id == "tiny0117"


def test_fuzz_hostile_names(sandbox: tuple[TranscriptQA, Path]) -> None:
    qa, inbox = sandbox
    names = [
        "../../../../tmp/pwned.txt",
        "../" * 40 + "etc/passwd",
        "..",
        ".",
        "",
        "\x00",
        "a\x00/../../b.txt",
        "nul\x00.txt\x00.sh",
        "/",
        "C:\\Windows\\System32\\drivers\\etc\\hosts.txt",
        "\u202egnp.txt",  # right-to-left override
        "con.txt",
        " .txt",
        "name with\nnewline.txt",
        "😀" * 100 + ".vtt",
        "..%2F..%2Fx.txt",
    ]
    files = []
    for i, name in enumerate(names):
        body = f"Ann Lee: Hostile name number {i}.\n"
        if name.endswith(".vtt"):
            body = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n" + body
        files.append((_write(inbox, f"h{i}.txt", body), name))
    result = qa.add_files(files)
    assert len(result.added) + len(result.skipped) == len(names)
    for s in result.skipped:
        _clear(s.reason)
        assert "not a transcript file type" in s.reason
        assert "\x00" not in s.path and "\n" not in s.path
    for doc_id in result.added:
        assert "/" not in doc_id and "\\" not in doc_id and not doc_id.startswith(".")
    assert not Path("/tmp/pwned.txt").exists()


def test_an_upload_into_an_unusable_folder_is_refused(qa: TranscriptQA, tmp_path: Path) -> None:
    """The uploads folder replaced by a link to elsewhere: nothing is written through it."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (qa.index_dir / uploads.UPLOADS).symlink_to(elsewhere)
    with pytest.raises(TranscriptQAError, match="not a plain folder"):
        qa.add_files([INGEST / "plain_basic.txt"])
    assert list(elsewhere.iterdir()) == []


def test_safe_name_unit() -> None:
    assert uploads.safe_name("../../a b.TXT") == ("a_b", ".txt")
    assert uploads.safe_name("a\x00b.vtt") == ("ab", ".vtt")
    assert uploads.safe_name("..") == ("transcript", "")
    assert uploads.safe_name(".txt") == ("transcript", ".txt")
    assert uploads.safe_name("x/.../y.srt") == ("y", ".srt")
    assert uploads.display_name("dir/a\x00b\n.txt") == "a?b?.txt"
    assert len(uploads.display_name("y" * 1000)) == 120


def test_the_chat_makes_each_change_on_a_thread_that_ends_with_it(
    qa: TranscriptQA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads and removals run on a writer thread of their own that is gone afterwards, so no
    long-lived thread keeps the encoder's upload-sized buffers (ui.uploads.Writer)."""
    from ui.app import build_app

    ran_on: list[tuple[str, threading.Thread]] = []
    add, remove = qa.add_files, qa.remove

    def add_files(*args: Any, **kwargs: Any) -> Any:
        ran_on.append(("add", threading.current_thread()))
        return add(*args, **kwargs)

    def removing(doc_id: str) -> bool:
        ran_on.append(("remove", threading.current_thread()))
        return remove(doc_id)

    monkeypatch.setattr(qa, "add_files", add_files)
    monkeypatch.setattr(qa, "remove", removing)
    app = build_app(qa)
    fns = {f.fn.__name__: f.fn for f in app.fns.values() if f.fn is not None}
    callers: list[threading.Thread] = []

    def upload(i: int) -> None:
        callers.append(threading.current_thread())
        path = _write(tmp_path / f"in{i}", f"talk{i}.txt", f"Bo Sun: Remark {i} on trams.\n")
        out = fns["upload_files"]([str(path)], [], None, None, lambda *a, **k: None)
        assert "Added" in out[0]

    for i in range(3):  # each from a thread of its own, as Gradio's pool would
        t = threading.Thread(target=upload, args=(i,), name=f"caller-{i}")
        t.start()
        t.join()
    assert fns["remove_api"]("talk1")["removed"] is True
    assert [kind for kind, _ in ran_on] == ["add", "add", "add", "remove"]
    writers = [t for _, t in ran_on]
    assert len({id(t) for t in writers}) == 4  # a new thread for every change
    assert all(t.name.startswith("tqa-index-writer") for t in writers)
    assert not any(t in callers or t is threading.main_thread() for t in writers)
    assert not any(t.is_alive() for t in writers)  # each ended with its change
    assert {"talk0", "talk2"} <= {d.doc_id for d in qa.documents()}
