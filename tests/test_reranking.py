"""The reranking stage: what the model reads, the Reranker type, and answers built on its order.

A fake reranker (word overlap with the question, optionally through the previous turn) makes
the answer rules testable exactly; tests with the bundled model are in test_answer_quality.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from test_answering import FakeQA, make_transcript

from qa import reranking
from qa.answering import AnswerSettings, answer, period_words, relaxation_note
from qa.chunking import chunk
from qa.reranking import Document, pair_text, rank


class OverlapReranker:
    """Scores a text by the question's words it contains (minus 1: no overlap is "no")."""

    name = "overlap"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        self.calls.append((question, list(texts)))
        q = {w for w in re.findall(r"[a-z]+", question.lower()) if len(w) > 3}
        return np.asarray(
            [len(q & set(re.findall(r"[a-z]+", t.lower()))) - 1.0 for t in texts],
            dtype=np.float32,
        )


class RerankedQA(FakeQA):
    def __init__(self, transcripts, reranker) -> None:  # type: ignore[no-untyped-def]
        super().__init__(transcripts)
        self.reranker = reranker


def _shop() -> list:
    return [
        make_transcript(
            "shop",
            "Shop council",
            dt.date(2024, 5, 2),
            [
                ("Tom Becker", "How much will Sunday opening cost?"),
                ("Maria Lopez", "About 85,000 euros a year. Most of that is staff."),
                ("Tom Becker", "Thank you."),
                ("Maria Lopez", "We also repaint the front in June, paid by the landlord."),
            ],
        )
    ]


# ---------------------------------------------------------------- what the model reads


def test_pair_text_reads_the_previous_speaker_then_the_passage() -> None:
    t = _shop()[0]
    passages = chunk(t)
    reply = next(p for p in passages if p.turn == 1)
    text = pair_text(t, reply)
    assert text.splitlines()[0] == "Tom Becker: How much will Sunday opening cost?"
    assert text.splitlines()[1].startswith("Maria Lopez: About 85,000 euros")
    first = next(p for p in passages if p.turn == 0)
    assert pair_text(t, first) == "Tom Becker: How much will Sunday opening cost?"
    assert "\n" not in pair_text(t, reply, previous_words=0)


def test_pair_text_windows_a_long_passage_around_its_focus() -> None:
    sentences = [
        f"Sentence number {i} talks about topic {i} at some length here." for i in range(10)
    ]
    t = make_transcript("long", "Long", dt.date(2024, 1, 1), [("A", " ".join(sentences))])
    p = chunk(t)[0]
    target = p.text.index("Sentence number 7")
    end = p.text.index(".", target) + 1
    text = pair_text(t, p, focus=(p.start + target, p.start + end), window_words=40)
    assert "Sentence number 7 talks" in text
    assert "Sentence number 0 " not in text
    assert len(text.split()) <= 41  # the label + 40 words


def test_rank_orders_documents_and_numbers_them() -> None:
    docs = [Document("nothing here", 0), Document("sunday opening cost", 1), Document("cost", 2)]
    results = rank(OverlapReranker(), "What will Sunday opening cost?", docs)
    assert [r.document.id for r in results] == [1, 2, 0]
    assert [r.rank for r in results] == [1, 2, 3]
    assert results[0].score > results[1].score > results[2].score
    assert rank(OverlapReranker(), "anything", []) == []


def test_load_names_the_missing_reranker_and_register_adds_a_kind(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no reranker 'nope'"):
        reranking.load("nope")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "reranker.json").write_text('{"kind": "overlap-test"}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown reranker kind"):
        reranking.load(folder)
    reranking.register("overlap-test", lambda path: OverlapReranker())
    assert isinstance(reranking.load(folder), OverlapReranker)


# ---------------------------------------------------------------- answers on the reranked order


WITH_MODEL = AnswerSettings(w_rerank=0.2)


@pytest.mark.parametrize("settings", [AnswerSettings(), WITH_MODEL], ids=["rules", "model"])
def test_a_matching_question_brings_its_reply_and_never_leads(settings: AnswerSettings) -> None:
    qa = RerankedQA(_shop(), OverlapReranker())
    a = answer(qa, "How much will Sunday opening cost?", settings=settings)
    assert not a.abstained
    assert a.quotes[0].speaker == "Maria Lopez"
    assert a.quotes[0].text.startswith("About 85,000 euros")
    # Without the stage, the question itself leads (what issue 12 was filed with).
    before = AnswerSettings(rerank=False, figures=False)  # no stage, no figure rule
    old = answer(qa, "How much will Sunday opening cost?", settings=before)
    assert old.quotes[0].speaker == "Tom Becker"


def test_the_model_is_read_only_when_it_has_a_weight() -> None:
    reranker = OverlapReranker()
    qa = RerankedQA(_shop(), reranker)
    answer(qa, "How much will Sunday opening cost?", settings=AnswerSettings(rerank=False))
    answer(qa, "How much will Sunday opening cost?", settings=AnswerSettings(w_rerank=0.0))
    assert reranker.calls == []
    answer(qa, "How much will Sunday opening cost?", settings=WITH_MODEL)
    assert reranker.calls and reranker.calls[0][0].startswith("How much will Sunday")
    # Each passage once, read with the previous speaker's words.
    texts = reranker.calls[0][1]
    assert len(texts) == len(set(texts))
    assert any(t.startswith("Tom Becker: How much") and "Maria Lopez:" in t for t in texts)


def test_the_model_vetoes_when_no_passage_reaches_its_threshold() -> None:
    qa = RerankedQA(_shop(), OverlapReranker())
    a = answer(qa, "Who repaints the front of the shop?", settings=WITH_MODEL)
    assert not a.abstained
    strict = AnswerSettings(w_rerank=0.2, rerank_threshold=5.0)
    assert answer(qa, "Who repaints the front of the shop?", settings=strict).abstained


def test_filler_never_leads() -> None:
    transcripts = [
        make_transcript(
            "thanks",
            "Thanks",
            dt.date(2024, 5, 2),
            [
                ("Ann Hale", "Thank you, thank you."),
                ("Bo Chen", "The thank you letters go out on Monday to every volunteer."),
            ],
        )
    ]

    class LovesThanks(OverlapReranker):
        def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
            return np.asarray([9.0 if "Thank you, thank" in t else 1.0 for t in texts])

    qa = RerankedQA(transcripts, LovesThanks())
    for settings in (AnswerSettings(), AnswerSettings(w_rerank=2.0)):
        a = answer(qa, "When do the thank you letters go out?", settings=settings)
        assert a.quotes[0].speaker == "Bo Chen"


def test_a_dropped_date_is_said_in_the_answer() -> None:
    transcripts = [
        make_transcript(
            "y2023",
            "Harbour briefing",
            dt.date(2023, 3, 1),
            [("Elena Marsh", "The seawall will rise by two metres along the harbour.")],
        ),
        make_transcript(
            "y2024",
            "Budget day",
            dt.date(2024, 3, 1),
            [("Elena Marsh", "The library budget grows by four percent next year.")],
        ),
    ]
    qa = RerankedQA(transcripts, OverlapReranker())
    a = answer(qa, "What did Elena Marsh say about the seawall harbour in 2024?")
    assert not a.abstained
    assert a.quotes[0].doc_id == "y2023"
    assert a.relaxed == {"since": dt.date(2024, 1, 1), "until": dt.date(2024, 12, 31)}
    assert a.note.startswith("Nothing from Elena Marsh in 2024 mentions")  # the speaker held
    assert a.note.endswith("closest from other years:")
    assert a.filters.get("speaker") == "Elena Marsh"
    assert "since" not in a.filters


def test_period_words_and_notes() -> None:
    assert period_words(dt.date(2024, 1, 1), dt.date(2024, 12, 31)) == "in 2024"
    assert period_words(dt.date(2024, 6, 1), dt.date(2024, 6, 30)) == "in June 2024"
    assert period_words(dt.date(2024, 6, 3), None) == "since 3 June 2024"
    assert period_words(None, dt.date(2024, 6, 3)) == "until 3 June 2024"
    assert period_words(dt.date(2024, 6, 3), dt.date(2024, 7, 9)) == (
        "between 3 June 2024 and 9 July 2024"
    )
    note = relaxation_note(
        {"speaker": "Elena Marsh", "since": dt.date(2024, 1, 1), "until": dt.date(2024, 12, 31)},
        "seawall",
    )
    assert note == "Nothing from Elena Marsh in 2024 mentions seawall; closest from elsewhere:"
    only_speaker = relaxation_note({"speaker": "Elena Marsh"}, "")
    assert only_speaker == "Nothing from Elena Marsh answers this; closest from other speakers:"


def test_the_note_is_shown_escaped_in_markdown_and_in_the_chat() -> None:
    from qa.results import Answer
    from ui.render import render_answer

    a = Answer("q", [], True, note="Nothing from <b>Eve</b> in 2024 answers this")
    assert "Nothing from" in a.to_markdown() and "<b>" not in a.to_markdown()
    html = render_answer(a, 0)
    assert "Nothing from &lt;b&gt;Eve&lt;/b&gt; in 2024" in html
    assert "<b>Eve" not in html


# ---------------------------------------------------------------- the cross-encoder backend


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer cross-encoder with random weights, saved as the training script saves one."""
    import json

    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from embeddings.encoder import resolve_model

    vocab = len((resolve_model(None)[1] / "vocab.txt").read_text(encoding="utf-8").splitlines())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    folder = tmp_path_factory.mktemp("tiny-reranker")
    BertForSequenceClassification(config).half().save_pretrained(str(folder))
    about = {"name": "tiny", "kind": "cross-encoder", "max_length": 64, "seed": 0}
    (folder / "reranker.json").write_text(json.dumps(about), encoding="utf-8")
    return folder


def test_a_saved_cross_encoder_loads_and_scores_each_pair_alone(tiny_model: Path) -> None:
    model = reranking.load(tiny_model)
    assert model.name == "tiny" and model.max_length == 64  # type: ignore[attr-defined]
    texts = ["Ann: The weather was lovely.", "Maria: About 85,000 euros a year.", "Bo: Thanks."]
    scores = model.scores("How much will Sunday opening cost?", texts)
    assert scores.shape == (3,) and scores.dtype == np.float32
    again = model.scores("How much will Sunday opening cost?", texts[::-1])
    assert np.allclose(again[::-1], scores, atol=1e-5)  # padding in a batch changes nothing
    assert not np.allclose(scores, scores[0])  # it reads the text
    assert model.scores("anything", []).shape == (0,)
    import torch

    quantized = reranking.CrossEncoderReranker(tiny_model, quantize=True)
    close = quantized.scores("How much will Sunday opening cost?", texts)
    assert close.shape == (3,) and np.isfinite(close).all()
    kinds = {type(m) for m in quantized._model.modules()}  # type: ignore[attr-defined]
    assert torch.ao.nn.quantized.dynamic.Linear in kinds


def test_a_model_folder_in_the_settings_is_used_by_ask(tiny_model: Path) -> None:
    from qa.service import TranscriptQA

    qa = object.__new__(TranscriptQA)  # only the property under test
    qa.answer_settings = AnswerSettings(reranker=str(tiny_model), w_rerank=0.2)
    assert qa.reranker is not None and qa.reranker.name == "tiny"
    qa.answer_settings = AnswerSettings(rerank=False)
    assert qa.reranker is None
    qa.answer_settings = AnswerSettings()  # the default names a model that is not shipped
    assert qa.reranker is None


def test_a_reply_by_another_speaker_never_breaks_a_speaker_filter() -> None:
    qa = RerankedQA(_shop(), OverlapReranker())
    a = answer(qa, "How much will Sunday opening cost?", speaker="Tom Becker")
    # Tom Becker gives no figure, so the figure rule abstains rather than quote Maria Lopez.
    assert a.abstained and "figure" in a.note
    words = answer(
        qa,
        "How much will Sunday opening cost?",
        speaker="Tom Becker",
        settings=AnswerSettings(figures=False),
    )
    assert words.quotes and all(q.speaker == "Tom Becker" for q in words.quotes)


def test_a_question_asked_again_brings_its_reply_first(tmp_path: Path) -> None:
    """The user echoes a question of the transcript: the question turn matches best, and its
    reply leads, ahead of the host's welcome that shares the company's name (issue 12)."""
    from qa.service import TranscriptQA

    source = Path(__file__).parent / "data" / "devset" / PODCAST
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / PODCAST).write_bytes(source.read_bytes())
    qa = TranscriptQA.build(tmp_path / "in", tmp_path / "index", show_progress=False)
    question = "Who was Kelpwork's first customer?"
    assert qa.ask(question).quotes[0].text.startswith("A bakery chain, Hollis and Daughter")
    qa.answer_settings = AnswerSettings(echo_lift=False)
    assert not qa.ask(question).quotes[0].text.startswith("A bakery chain")  # the lift does it


PODCAST = "2022-09-14_long_table_podcast_ines_okafor.vtt"


def test_a_request_for_what_was_said_does_not_lift_a_reply_to_a_related_question(
    corpus_qa: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "What was said about the vaccine?" asks for statements on the topic, not for the answer
    to "And will you be vaccinated yourself?": the mayor's "I am not 75 yet…" must not lead,
    as it does when the question gets the echo lift."""
    from qa import answering

    question = "What was said about the vaccine?"
    assert answering._ASKS_FOR_STATEMENTS.search(question)
    assert answering._ASKS_FOR_STATEMENTS.search("What did Nadia Voss say on driver pay?")
    assert not answering._ASKS_FOR_STATEMENTS.search("Who was Kelpwork's first customer?")
    ask = corpus_qa.ask  # type: ignore[attr-defined]
    assert not ask(question).quotes[0].text.startswith("I am not 75")
    monkeypatch.setattr(answering, "_ASKS_FOR_STATEMENTS", re.compile(r"(?!)"))
    assert ask(question).quotes[0].text.startswith("I am not 75")  # the guard does it


def _hearing() -> list:
    return [
        make_transcript(
            "hearing",
            "Transport Committee",
            dt.date(2023, 11, 22),
            [
                (
                    "Olwen Pryce",
                    "I'd like to ask each of you the same question, briefly. What is the single "
                    "most important thing this committee could do? Ms Thorne.",
                ),
                (
                    "Rebecca Thorne",
                    "Write to the minister and back the business case for the line.",
                ),
                ("Olwen Pryce", "Is it too late for that? No."),
                ("Martin Ekwueme", "It is not too late, the decision is due in the spring."),
            ],
        )
    ]


def test_a_question_handed_to_the_next_speaker_asks_and_a_bare_no_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "… could do? Ms Thorne." ends in a hand-over naming who answers, so the turn asks (and
    its reply leads); "… too late for that? No." answers itself: no one is handed the floor."""
    from qa.answering import _asks

    qa = FakeQA(_hearing())
    first = next(p for p in qa.passages if p.turn == 0)
    third = next(p for p in qa.passages if p.turn == 2)
    assert _asks(qa, first)
    assert not _asks(qa, third)
    question = "What is the single most important thing the committee could do?"
    assert answer(qa, question).quotes[0].speaker == "Rebecca Thorne"
    from qa import answering

    monkeypatch.setattr(answering, "HAND_OVER_WORDS", 0)
    assert answer(qa, question).quotes[0].speaker == "Olwen Pryce"  # the hand-over does it


def test_a_greeting_does_not_lead_the_answer_about_whom_it_welcomes() -> None:
    """The host's "Ines Okafor, founder of Kelpwork, welcome." shares the guest's and the
    firm's names with every question about them, but answers none of them."""
    from qa.answering import greets

    assert greets("Ines Okafor, founder and chief executive of Kelpwork, welcome.")
    assert greets("Good morning, and welcome to this session of the Transport Committee.")
    assert not greets("Thank you for the 3 million crowns, which paid for sixty drivers.")
    assert greets("Thank you, Maya.")
    assert not greets("The welcome centre at the port will open in June, with a café and a shop.")
    assert not greets("We welcome the ruling.")
    assert not greets("Thanks to the new pumps, leakage fell by a third.")
    podcast = [
        make_transcript(
            "podcast",
            "The Long Table",
            dt.date(2022, 9, 14),
            [
                (
                    "Maya Lindqvist",
                    "Ines Okafor, founder and chief executive of Kelpwork, welcome.",
                ),
                ("Ines Okafor", "Thank you, Maya. It is lovely to be here."),
                ("Maya Lindqvist", "Who bought the first bags?"),
                (
                    "Ines Okafor",
                    "Kelpwork's first customer was a bakery chain with fourteen shops.",
                ),
            ],
        )
    ]
    question = "Who was the first customer of Kelpwork, Ines Okafor?"
    settings = AnswerSettings(figures=False)
    assert answer(FakeQA(podcast), question, settings=settings).quotes[0].turn == 3
    unpenalised = replace(settings, greeting_penalty=0.0)
    assert answer(FakeQA(podcast), question, settings=unpenalised).quotes[0].turn != 3


def test_a_turn_that_matches_before_its_question_answers_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Monica's turn says the belt is too tight and then asks "Am I out of control?": a
    question about the belt is answered by her turn, not by Rachel's reply to her question."""
    from qa import answering

    talk = [
        make_transcript(
            "flat",
            "Monica's flat",
            dt.date(1995, 5, 4),
            [
                (
                    "Monica Geller",
                    "Windows are clean, candles are lit. Uh, the belt is too tight, got to change "
                    "the belt. Did I turn the fish? No, because I made lasagne. Am I out of control?",
                ),
                ("Rachel Green", "Just a touch. Mon, I do not understand what is going on."),
            ],
        )
    ]
    question = "Why does Monica have to change her belt?"
    settings = AnswerSettings(figures=False)
    assert answer(FakeQA(talk), question, settings=settings).quotes[0].speaker == "Monica Geller"
    monkeypatch.setattr(answering, "_in_the_question", lambda qa, c: True)
    assert answer(FakeQA(talk), question, settings=settings).quotes[0].speaker == "Rachel Green"


def test_a_question_that_names_nothing_leans_to_the_occasion_in_play(tmp_path: Path) -> None:
    """After a question about the reservoir, "When will construction start?" names nothing:
    the reservoir meeting's "Construction starts in September" leads, not the rail hearing's
    "the earliest construction could start is 2026". A question that names its subject
    ("When will the Stanmoor flyover be built?") is not pulled back."""
    from qa.query import understand
    from qa.service import TranscriptQA

    source = Path(__file__).parent / "data" / "devset"
    (tmp_path / "in").mkdir()
    for name in (RESERVOIR, HEARING):
        (tmp_path / "in" / name).write_bytes((source / name).read_bytes())
    qa = TranscriptQA.build(tmp_path / "in", tmp_path / "index", show_progress=False)
    first = (
        "What did Calder Valley Water's chief executive say the reservoir enlargement would cost?"
    )
    history = [(first, qa.ask(first))]
    assert history[0][1].quotes[0].doc_id == Path(RESERVOIR).stem
    question = "When will construction start?"
    assert understand(question, history=history).boost_docs == (Path(RESERVOIR).stem,)
    assert understand("When will the Stanmoor flyover be built?", history=history).boost_docs == ()
    assert qa.ask(question, history=history).quotes[0].doc_id == Path(RESERVOIR).stem
    qa.answer_settings = AnswerSettings(w_boost_passage=0.0)
    assert qa.ask(question, history=history).quotes[0].doc_id == Path(HEARING).stem


RESERVOIR = "2025-02-11_harrowmoor_reservoir_public_meeting.txt"
HEARING = "2023-11-22_transport_committee_rail_freight_hearing.jsonl"


def test_a_bi_encoder_reranker_scores_by_the_cosine_of_mean_pooled_vectors(tmp_path: Path) -> None:
    """The bi-encoder kind reads a sentence-transformers folder as all-MiniLM-L6-v2 pools it:
    with the bundled weights themselves, its scores are the index encoder's cosines."""
    import json

    from embeddings.encoder import Encoder, resolve_model

    base = resolve_model(None)[1]
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).symlink_to(base / name)
    (tmp_path / "reranker.json").write_text(json.dumps({"kind": "bi-encoder"}), encoding="utf-8")
    model = reranking.load(tmp_path)
    assert isinstance(model, reranking.BiEncoderReranker)
    question = "How much will Sunday opening cost?"
    texts = ["About 85,000 euros a year.", "We repaint the front in June.", question]
    scores = model.scores(question, texts)
    vectors = Encoder(backend="torch").encode([question, *texts])
    assert np.allclose(scores, vectors[1:] @ vectors[0], atol=1e-3)
    assert scores[2] == pytest.approx(1.0, abs=1e-4)
    assert [
        r.document.id for r in rank(model, question, [Document(t, i) for i, t in enumerate(texts)])
    ][0] == 2
