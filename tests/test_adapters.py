"""Dataset adapters on small hand-written fixtures that mimic QMSum and FriendsQA."""

from __future__ import annotations

import json
import shutil

import pytest

from qa import load_corpus, load_transcript
from qa.evaluation.adapters import convert_friendsqa, convert_qmsum, qmsum_questions
from qa.evaluation.questions import QuestionFileError, load_questions


@pytest.fixture
def qmsum_fixture(fixtures_dir):
    return fixtures_dir / "eval" / "qmsum"


@pytest.fixture
def friendsqa_fixture(fixtures_dir):
    return fixtures_dir / "eval" / "friendsqa_mini.json"


def test_qmsum_spans_become_gold_turns_within_and_pooled(qmsum_fixture, tmp_path):
    out = tmp_path / "q.jsonl"
    result = convert_qmsum(qmsum_fixture, out)
    assert (result.questions, result.documents) == (6, 2)  # 3 queries x (within, pooled)
    questions = {q.id: q for q in load_questions(out)}
    within = questions["Kitchen01:1:within"]
    pooled = questions["Kitchen01:1:pooled"]
    # spans [3, 3] and [5, 6], inclusive
    assert within.turns == pooled.turns == {3, 5, 6}
    assert within.doc_id == pooled.doc_id == "Kitchen01"
    assert (within.doc, within.kind) == ("Kitchen01", "within-meeting")
    assert (pooled.doc, pooled.kind) == (None, "pooled")
    assert within.answers == ()  # the abstractive answer is not evidence text
    assert questions["Garden02:0:within"].turns == {2}


def test_qmsum_gold_turns_point_at_the_right_text_through_the_real_parser(qmsum_fixture):
    # The parser keeps one turn per entry (even the empty one), so indices line up.
    transcript = load_transcript(qmsum_fixture / "Kitchen01.json")
    assert transcript.doc_id == "Kitchen01"
    questions, _ = qmsum_questions(qmsum_fixture / "Kitchen01.json", scope="within")
    texts = [transcript.turns[t].text for t in sorted(questions[1].turns)]
    assert texts[0].startswith("And not the gas one")
    assert texts[1] == "Gas needs ventilation we do not have ."


def test_qmsum_scope_and_bad_input(qmsum_fixture, tmp_path):
    questions, meetings = qmsum_questions(qmsum_fixture, scope="pooled")
    assert meetings == 2 and {q.kind for q in questions} == {"pooled"}
    bad = tmp_path / "Bad.json"
    data = json.loads((qmsum_fixture / "Garden02.json").read_text())
    data["specific_query_list"][0]["relevant_text_span"] = [["2", "9"]]
    bad.write_text(json.dumps(data))
    with pytest.raises(
        QuestionFileError, match=r"Bad.json: specific_query_list\[0\]: span .* outside the 3 turns"
    ):
        qmsum_questions(bad)
    bad.write_text('{"meeting_transcripts": []}')
    with pytest.raises(QuestionFileError, match="expected a QMSum meeting"):
        qmsum_questions(bad)
    bad.write_text("{not json")
    with pytest.raises(QuestionFileError, match=r"Bad.json:1: invalid JSON"):
        qmsum_questions(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(QuestionFileError, match="no .json meeting files"):
        qmsum_questions(tmp_path / "empty")


def test_friendsqa_scenes_become_transcripts_and_questions(friendsqa_fixture, tmp_path):
    out = tmp_path / "fqa.jsonl"
    result = convert_friendsqa(friendsqa_fixture, out)
    assert (result.questions, result.documents) == (4, 2)
    assert result.transcripts_dir == tmp_path / "fqa_transcripts"
    loaded = load_corpus(result.transcripts_dir)
    assert loaded.skipped == []
    scenes = {t.doc_id: t for t in loaded.transcripts}
    assert set(scenes) == {"s09_e21_c02", "s09_e22_c05"}
    scene = scenes["s09_e21_c02"]
    # One turn per utterance, same index; stage directions have no speaker.
    assert [t.text for t in scene.turns] == [
        "[ Scene : A bakery , Ada is icing a cake . ]",
        "Who ordered a cake shaped like a boat ?",
        "We did ! It 's for the regatta .",
        "Then you owe me forty dollars .",
    ]
    assert scene.turns[0].speaker is None
    assert scene.turns[2].label == "Ben Moss and Cy Roe"
    assert all(scene.text[t.start : t.end] == t.text for t in scene.turns)

    questions = {q.id: q for q in load_questions(out)}
    who = questions["s09_e21_c02_Who_Paraphrased"]
    assert who.kind == "who" and who.doc == who.doc_id == "s09_e21_c02"
    assert who.turns == {2}
    assert who.answers == ("Ben Moss", "We")  # duplicates dropped, order kept
    how = questions["s09_e21_c02_How"]
    assert how.kind == "how"
    # The gold turn of every question contains one of its non-speaker answers.
    for q in questions.values():
        gold = [scenes[q.doc_id].turns[t] for t in q.turns]
        assert any(q.answer_in(t.text, t.label) for t in gold), q.id


def test_friendsqa_bad_input_names_the_problem(friendsqa_fixture, tmp_path):
    data = json.loads(friendsqa_fixture.read_text())
    data["data"][0]["paragraphs"][0]["utterances"] = data["data"][0]["paragraphs"][0].pop(
        "utterances:"
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(
        QuestionFileError,
        match=r"bad.json: data\[0\].paragraphs\[0\]: expected an 'utterances:' list",
    ):
        convert_friendsqa(bad, tmp_path / "out.jsonl")
    data = json.loads(friendsqa_fixture.read_text())
    data["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["utterance_id"] = 7
    bad.write_text(json.dumps(data))
    with pytest.raises(
        QuestionFileError,
        match="scene s09_e22_c05, qas\\[0\\]: no answer with a valid utterance_id",
    ):
        convert_friendsqa(bad, tmp_path / "out.jsonl")


def test_converted_real_datasets_line_up_with_the_parser(qmsum_dir, friendsqa_path, tmp_path):
    """On the shared data: every gold span is inside its meeting, every scene parses."""
    meeting = sorted((qmsum_dir / "val").glob("*.json"))[0]
    questions, _ = qmsum_questions(meeting, scope="within")
    transcript = load_transcript(meeting)
    assert questions and all(max(q.turns) < len(transcript.turns) for q in questions)
    shutil.copy(friendsqa_path, tmp_path / "f.json")
    result = convert_friendsqa(tmp_path / "f.json", tmp_path / "f.jsonl")
    assert (result.questions, result.documents) == (1201, 113)
    loaded = load_corpus(result.transcripts_dir)
    assert loaded.skipped == [] and len(loaded.transcripts) == 113
