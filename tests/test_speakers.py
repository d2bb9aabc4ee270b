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
    generic_role,
    generic_speaker,
    is_generic,
    self_introduction,
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
    plain = load_transcript(vtt).turns
    # "Reporter" is no one in particular: no speaker, a role; an alias file can name them.
    assert [t.speaker for t in plain] == ["Mara Lind", None, "Mara Lind"]
    assert plain[1].role == "reporter" and plain[1].index_label == "Reporter"
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


# ---------------------------------------------------------------- generic turns are no one


@pytest.mark.parametrize(
    ("text", "name", "outlet"),
    [
        (
            "Lucy Tran, Harbour Vale Courier. Mayor, what happens now?",
            "Lucy Tran",
            "Harbour Vale Courier",
        ),
        (
            "Lucy Tran, Harbour Vale Courier, again. Ms Castell, is 1.2 metres enough?",
            "Lucy Tran",
            "Harbour Vale Courier",
        ),
        (
            "Good afternoon. Ivan Petrov, RIA Novosti. Mr President, what about oil?",
            "Ivan Petrov",
            "RIA Novosti",
        ),
        (
            "Ivan Petrov, Kommersant newspaper. Mr President, will gas prices rise?",
            "Ivan Petrov",
            "Kommersant newspaper",
        ),
        (
            "Siobhan O’Rourke, Westmere Radio. Mr Quint, how much?",
            "Siobhan O’Rourke",
            "Westmere Radio",
        ),
        (
            "Belkiz Dudayeva, the Put Kadyrova [Kadyrov’s Way] newspaper. For years …",
            "Belkiz Dudayeva",
            "the Put Kadyrova [Kadyrov’s Way] newspaper",
        ),
        (
            "Mr President, I am Alexander Kolesnichenko from Argumenty i Fakty. I am a parent.",
            "Alexander Kolesnichenko",
            "Argumenty i Fakty",
        ),
        (
            "Veronika Romanenkova from ITAR-TASS. You have been working as President …",
            "Veronika Romanenkova",
            "ITAR-TASS",
        ),
        (
            "Hi, this is Charlie Radcliffe from Berry Palmer & Lyle. The Duma met last week.",
            "Charlie Radcliffe",
            "Berry Palmer & Lyle",
        ),
        (
            "RIA Novosti, Yelena Glushakova. You have recalled 2008 quite emotionally.",
            "Yelena Glushakova",
            "RIA Novosti",
        ),
        (
            "Mr President, I am from Vladivostok. My name is Maria Solovyenko, Narodnoye Veche newspaper.",
            "Maria Solovyenko",
            "Narodnoye Veche newspaper",
        ),
        (
            "Hello, Mr President! My name is Dina Gazaliyeva, I represent my republic’s television.",
            "Dina Gazaliyeva",
            None,
        ),
        (
            "Hello, Mr President, my name is Rolanda Kazachakova, I’m from the Republic of Tuva.",
            "Rolanda Kazachakova",
            None,  # a clause is not an outlet
        ),
    ],
)
def test_a_questioner_who_names_themselves_is_found(
    text: str, name: str, outlet: str | None
) -> None:
    assert self_introduction(text) == (name, outlet)


@pytest.mark.parametrize(
    "text",
    [
        "Mr President, what do you think of the new pipeline?",
        "Madam Mayor, residents in Lowmarsh say they were warned about this for years.",
        "Russia, China, India and Brazil are partners. What comes next?",
        "Saudi Arabia, Qatar. Why did the talks fail?",
        "Vladimir Putin, you said last year that prices would fall.",
        "Donald Trump, the US President, said that the sanctions would stay.",
        "Angela Merkel, Chancellor of Germany, said yesterday that talks would go on.",
        "Thank you, Mr President. I am from Metzler Asset Management from Germany.",
        "Good evening, Mr President. I would like to go back to the question on journalists.",
        "My name is Maria. I want to know what will happen with maternity capital.",
        "Good afternoon! I am Anton, operator of a numerically controlled machine tool.",
        "A question for Mayor Matos. Why would a shipping line use this corridor?",
        "The Eastquay link road: when will the lorries stop coming down Dock Street?",
    ],
)
def test_no_name_is_made_up(text: str) -> None:
    assert self_introduction(text) is None


def test_generic_turns_get_a_role_and_no_speaker() -> None:
    assert generic_speaker("Question", "Mr President, what about oil?") == (
        None,
        "question from the floor",
    )
    assert generic_speaker("Question (retranslated)", "Rui Fontes, Diário de Porto Lírio. Hi.") == (
        "Rui Fontes",
        "Diário de Porto Lírio",
    )
    # Only turns from the floor introduce their speaker: a reply or a moderator does not.
    assert generic_speaker("Reply", "Ivan Petrov, RIA Novosti.") == (None, "reply")
    assert generic_role("Remark") == "remark from the floor"
    assert generic_role("Question from Perm Territory") == "question from Perm Territory"
    assert generic_role("Audience member") == "audience member"
    assert generic_role("Voice from the audience") == "voice from the audience"
    assert generic_role("Interviewer") == "interviewer"
    assert is_generic("Interviewer") and is_generic("Caller") and is_generic("Forum participant")
    assert not is_generic("Mikhail Men")  # a surname that is also a word: two capitals, a name
    assert not is_generic("Interviewer Jane Smith")


def test_the_speaker_list_holds_people_only(corpus_dir: Path) -> None:
    loaded = load_corpus(corpus_dir)
    turns = [u for t in loaded.transcripts for u in t.turns]
    speakers = Counter(u.speaker for u in turns if u.speaker)
    assert "Question" not in speakers and "Remark" not in speakers
    remark = next(u for u in turns if u.label == "Remark")
    assert remark.speaker is None and remark.role == "remark from the floor"
    assert remark.index_label == "Remark"  # what the indexed text still says
    # Journalists who introduce themselves are the speakers of their "Question:" turns, and
    # the same people as where they are labelled by name ("Siobhan O’Rourke" too).
    asked = [u for u in turns if u.label and u.label.startswith("Question")]
    assert asked and all(u.speaker for u in asked)
    tran = [u for u in asked if u.speaker == "Lucy Tran"]
    assert len(tran) == 7 and {u.role for u in tran} == {"Harbour Vale Courier"}
    assert all(u.index_label == "Question" for u in asked)
    assert "Siobhan O’Rourke" not in speakers and speakers["Siobhan O'Rourke"] > 9
    fontes = next(u for u in asked if u.speaker == "Rui Fontes")
    assert fontes.retranslated and fontes.role == "Diário de Porto Lírio"


def test_self_named_questioner_in_a_plain_transcript(tmp_path: Path) -> None:
    (tmp_path / "briefing.txt").write_text(
        "Title: Harbour briefing\nDate: 2024-03-01\n\n"
        "Mayor Elena Marsh: The seawall is on time.\n"
        "Question: Lucy Tran, Harbour Vale Courier. Mayor, when will it be finished?\n"
        "Elena Marsh: By the autumn.\n"
        "Question: Mr President, Russia, China and India: who pays?\n"
        "Remark: And the answer?\n"
    )
    t = load_transcript(tmp_path / "briefing.txt")
    assert [u.speaker for u in t.turns] == ["Elena Marsh", "Lucy Tran", "Elena Marsh", None, None]
    assert [u.role for u in t.turns[1:]] == [
        "Harbour Vale Courier",
        "Mayor",
        "question from the floor",
        "remark from the floor",
    ]
    assert t.speakers == ["Elena Marsh", "Lucy Tran"]
    assert [u.index_label for u in t.turns] == [
        "Elena Marsh",
        "Question",
        "Elena Marsh",
        "Question",
        "Remark",
    ]


def test_a_self_given_name_never_respells_a_labelled_one(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(
        "Question: Elena Lovén, Swedbank Robur. Why now?\nAnn Lee: Yes.\n"
    )
    (tmp_path / "b.txt").write_text("Elena Loven: Thank you.\nAnn Lee: Go on.\n")
    a, b = load_corpus(tmp_path).transcripts
    assert a.turns[0].speaker == b.turns[0].speaker == "Elena Loven"


def test_an_alias_file_can_name_a_generic_label(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Question: Why now?\nAnn Lee: Because.\n")
    t = load_transcript(tmp_path / "a.txt", aliases={"Press pool": ["Question"]})
    assert t.turns[0].speaker == "Press pool"


def test_a_title_before_a_name_the_document_also_uses_bare_is_split_there() -> None:
    """ "Novelist Nadia Fairweather" and later "Nadia Fairweather": one person, a novelist.
    A particle surname is not such a name: "Le Pen" beside "Marine Le Pen" keeps her whole."""
    names = canonical_map_for_document(
        ["Novelist Nadia Fairweather", "Nadia Fairweather", "Marine Le Pen", "Le Pen"]
    )
    assert names["Novelist Nadia Fairweather"].name == "Nadia Fairweather"
    assert names["Novelist Nadia Fairweather"].role == "Novelist"
    assert names["Marine Le Pen"].name == "Marine Le Pen"
    assert names["Marine Le Pen"].role is None


def test_a_form_of_address_belongs_to_neither_the_role_nor_the_name() -> None:
    label = split_label("Chief Executive Dr Owen Mardell")
    assert (label.name, label.role) == ("Owen Mardell", "Chief Executive")
    label = split_label("Medical Director Dr Priti Ganguly")
    assert (label.name, label.role) == ("Priti Ganguly", "Medical Director")


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("Audience member Leo Brannigan", ("Leo Brannigan", "audience member")),
        ("Question from the Financial Times", (None, "question from the Financial Times")),
        ("Question from Khabarovsk", (None, "question from Khabarovsk")),
        ("Audience member", (None, "audience member")),
    ],
)
def test_a_generic_label_that_ends_in_a_name_is_that_person(
    label: str, expected: tuple[str | None, str]
) -> None:
    """The turn's own words do not introduce anyone ("Thanks. Do you read your reviews?"), but
    the label names them."""
    assert generic_speaker(label, "Thanks. Do you read your reviews?") == expected
