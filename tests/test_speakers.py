"""Speaker labels → canonical name, role and retranslation flag; document and corpus unification."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from qa import TranscriptError, load_corpus, load_transcript
from qa.speakers import (
    AliasTable,
    canonical_map_for_document,
    is_generic,
    split_label,
    unify_corpus_names,
)


@pytest.mark.parametrize(
    ("label", "name", "role"),
    [
        ("President of Russia Vladimir Putin", "Vladimir Putin", "President of Russia"),
        ("Vladimir Putin", "Vladimir Putin", None),
        ("Prime Minister Dmitry Medvedev", "Dmitry Medvedev", "Prime Minister"),
        ("Rostov Region Governor Vasily Golubev", "Vasily Golubev", "Rostov Region Governor"),
        (
            "President of the Republic of Tatarstan Rustam Minnikhanov",
            "Rustam Minnikhanov",
            "President of the Republic of Tatarstan",
        ),
        (
            "President of Syria Bashar al-Assad (re-translated)",
            "Bashar al-Assad",
            "President of Syria",
        ),
        (
            "Federal President of Austria Alexander Van der Bellen",
            "Alexander Van der Bellen",
            "Federal President of Austria",
        ),
        (
            "Ruling Prince of Monaco Albert II (retranslated)",
            "Albert II",
            "Ruling Prince of Monaco",
        ),
        ("King Abdullah II of Jordan", "Abdullah II", "King of Jordan"),
        (
            "Sergei Mironov, Leader of A Just Russia Faction",
            "Sergei Mironov",
            "Leader of A Just Russia Faction",
        ),
        (
            "SECURITY COUNCIL SECRETARY NIKOLAI PATRUSHEV",
            "Nikolai Patrushev",
            "Security Council Secretary",
        ),
        ("VladimirPutin", "Vladimir Putin", None),
        ("Minister of Healthcare", "Minister of Healthcare", None),
        (
            "Minister of Labour and Social Protection",
            "Minister of Labour and Social Protection",
            None,
        ),
        (
            "Crown Prince Mohammed Al Nahyan of Abu Dhabi (retranslated)",
            "Mohammed Al Nahyan",
            "Crown Prince of Abu Dhabi",
        ),
        ("Professor B", "Professor B", None),
        ("Project Manager", "Project Manager", None),
        ("Moderator Ksenia Razuvayeva", "Ksenia Razuvayeva", "Moderator"),
    ],
)
def test_split_label(label: str, name: str, role: str | None) -> None:
    parts = split_label(label)
    assert (parts.name, parts.role) == (name, role)


def test_retranslated_flag() -> None:
    assert split_label("Marine Le Pen (retranslated)").retranslated
    assert split_label("Marine Le Pen (retranslated)").name == "Marine Le Pen"
    assert split_label("President of Syria Bashar al-Assad (re-translated)").retranslated
    assert not split_label("Vladimir Putin (translates)").retranslated


def test_persons_list_fixes_three_word_names() -> None:
    label = "President of Turkey Recep Tayyip Erdogan (retranslated)"
    assert split_label(label).name == "Tayyip Erdogan"  # the rule alone gets it wrong …
    fixed = split_label(label, persons=["Erdogan Recep Tayyip"])  # … the footer list does not
    assert (fixed.name, fixed.role) == ("Recep Tayyip Erdogan", "President of Turkey")


@pytest.mark.parametrize(
    "label",
    [
        "Question",
        "Remark",
        "Reply",
        "Question (retranslated)",
        "Question from Perm Territory",
        "Audience member",
        "Participant",
        "Moderator",
        "Response from the hall",
    ],
)
def test_generic_labels_stay_as_written(label: str) -> None:
    parts = split_label(label)
    assert parts.generic and is_generic(label)
    assert parts.role is None
    assert parts.name == label.replace(" (retranslated)", "")


def test_document_unifies_surname_and_title_only_labels() -> None:
    names = canonical_map_for_document(
        ["President of Russia Vladimir Putin", "Putin", "Question", "President of Russia"]
    )
    assert names["Putin"].name == "Vladimir Putin"
    assert names["President of Russia"].name == "Vladimir Putin"
    assert names["President of Russia"].role == "President of Russia"
    assert names["Question"].name == "Question"


def test_document_leaves_ambiguous_surname_alone() -> None:
    names = canonical_map_for_document(["Anna Ivanova", "Pavel Ivanova", "Ivanova"])
    assert names["Ivanova"].name == "Ivanova"


def test_corpus_unification() -> None:
    counts = Counter(
        {
            "Sergei Donskoy": 20,
            "Sergey Donskoy": 2,
            "Alexander Bortnikov": 5,
            "Security Service Alexander Bortnikov": 2,
            "Dmitry Medvedev": 80,
            "Medvedev": 1,
            "Question": 400,
            "Anna Ivanova": 3,
        }
    )
    m = unify_corpus_names(counts)
    assert m["Sergey Donskoy"] == "Sergei Donskoy"
    assert m["Security Service Alexander Bortnikov"] == "Alexander Bortnikov"
    assert m["Medvedev"] == "Dmitry Medvedev"
    assert m["Question"] == "Question"
    assert m["Anna Ivanova"] == "Anna Ivanova"


def test_alias_table_overrides_heuristics(tmp_path: Path) -> None:
    table = AliasTable({"V. V. Putin": ["Vladimir Putin", "Putin"]})
    names = canonical_map_for_document(["President of Russia Vladimir Putin", "Putin"], table)
    assert names["President of Russia Vladimir Putin"].name == "V. V. Putin"
    assert names["President of Russia Vladimir Putin"].role == "President of Russia"
    assert names["Putin"].name == "V. V. Putin"
    counts = Counter({"V. V. Putin": 3, "V V Putin": 9})
    assert unify_corpus_names(counts, table)["V. V. Putin"] == "V. V. Putin"


def test_alias_files_toml_and_json(tmp_path: Path, fixtures_dir: Path) -> None:
    vtt = fixtures_dir / "ingest" / "subtitles_voice.vtt"
    plain = [t.speaker for t in load_transcript(vtt).turns]
    assert plain == ["Mara Lind", "Reporter", "Mara Lind"]
    js = tmp_path / "aliases.json"
    js.write_text(json.dumps({"Harbourmaster Lind": ["Mara Lind"], "Press": "Reporter"}))
    for aliases in (js, json.loads(js.read_text())):
        t = load_transcript(vtt, aliases=aliases)
        assert [turn.speaker for turn in t.turns] == [
            "Harbourmaster Lind",
            "Press",
            "Harbourmaster Lind",
        ]
    corpus = load_corpus(vtt.parent, aliases=fixtures_dir / "ingest" / "aliases.toml")
    jsonl = next(t for t in corpus.transcripts if t.doc_id == "schema")
    assert jsonl.turns[0].speaker == "Ivo Brandt"
    radio = next(
        t for t in corpus.transcripts if t.format == "json" and t.title.startswith("Night")
    )
    assert radio.turns[0].speaker == "Kim Aldo" and radio.turns[0].label == "Host Kim Aldo"


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("bad.toml", 'x = [\n"unterminated"\n', None),
        ("bad.json", '{"a": [1,\n', 2),
        ("shape.json", '["just", "a", "list"]', None),
    ],
)
def test_bad_alias_file(tmp_path: Path, name: str, content: str, line: int | None) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TranscriptError) as err:
        AliasTable.load(path)
    assert err.value.path == str(path)
    assert err.value.line == line


def test_corpus_merges_one_letter_typos_but_not_other_people() -> None:
    counts = Counter(
        {
            "Vladimir Putin": 500,
            "Vladmir Putin": 1,
            "Vlaidmir Putin": 1,
            "Kirill Kleimenov": 6,
            "Kirill Kleymenov": 117,
            "Alexander Novak": 30,
            "Alexandra Novak": 2,  # a different letter at the end of a name: maybe another person
            "Ivan Petrov": 5,
            "Ivan Petrova": 1,
        }
    )
    m = unify_corpus_names(counts)
    assert m["Vladmir Putin"] == m["Vlaidmir Putin"] == "Vladimir Putin"
    assert m["Kirill Kleimenov"] == "Kirill Kleymenov"
    assert m["Alexandra Novak"] == "Alexandra Novak"
    assert m["Ivan Petrova"] == "Ivan Petrova"


def test_corpus_merges_initials_and_capitalisation() -> None:
    counts = Counter({"Vladimir Putin": 50, "V. Putin": 1, "Vladimir PUTIN": 1, "P. Putin": 1})
    m = unify_corpus_names(counts)
    assert m["V. Putin"] == m["Vladimir PUTIN"] == "Vladimir Putin"
    assert m["P. Putin"] == "P. Putin"  # another initial: not the same person
    assert split_label("V.Putin").name == "V. Putin"
    assert split_label("VladimirPUTIN").name == "Vladimir PUTIN"


def test_unify_speakers_across_separately_loaded_batches(tmp_path: Path) -> None:
    from qa.ingest import unify_speakers

    (tmp_path / "a.txt").write_text(
        "Prime Minister Dmitry Medvedev: Good morning.\nAnn Lee: Hello.\n"
    )
    (tmp_path / "b.txt").write_text("Medvedev: Good evening.\nAnn Lee: Bye.\n")
    a, b = load_transcript(tmp_path / "a.txt"), load_transcript(tmp_path / "b.txt")
    assert b.turns[0].speaker == "Medvedev"  # alone, the document cannot know
    unify_speakers([a, b])
    assert b.turns[0].speaker == "Dmitry Medvedev" and b.turns[0].label == "Medvedev"
    assert load_corpus(tmp_path).transcripts[1].turns[0].speaker == "Dmitry Medvedev"
