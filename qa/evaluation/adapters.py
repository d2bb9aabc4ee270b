"""Turn public QA datasets into our test-question format (and, for FriendsQA, transcripts).

QMSum (Zhong et al., 2021): one JSON per meeting. Each ``specific_query_list`` entry has
``relevant_text_span``, a list of inclusive ``[start, end]`` indices (as strings) into
``meeting_transcripts``; the QMSum parser keeps one turn per entry with the same index, so
the spans become gold turns of the document whose id is the file stem. The abstractive
``answer`` is not used: it is a summary, not text that could appear in a passage. Each
query is emitted twice by default: ``kind: within-meeting`` with a ``doc`` filter for the
meeting, and ``kind: pooled`` searching all meetings.

FriendsQA (Yang & Choi, 2019): SQuAD-like JSON, one paragraph per scene with the key
``"utterances:"`` (colon included) of ``{uid, speakers, utterance}``. Each scene becomes a
transcript in the JSON transcript format (one turn per utterance, ``#NOTE#`` stage
directions as turns without a speaker, several speakers joined with " and "), and each
question gets the answers' utterances as gold turns, their ``answer_text`` as answers, the
scene as ``doc`` filter and its wh-word (who, what, ...) as ``kind``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qa.evaluation.questions import EvalQuestion, QuestionFileError, write_questions

Scope = Literal["within", "pooled", "both"]
NOTE_SPEAKER = "#NOTE#"


@dataclass(frozen=True, slots=True)
class Conversion:
    """What a conversion wrote, for the CLI to report."""

    questions: int
    out: Path
    documents: int
    transcripts_dir: Path | None = None
    skipped: tuple[str, ...] = ()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QuestionFileError(path, "no such file") from None
    except UnicodeDecodeError as exc:
        raise QuestionFileError(path, f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise QuestionFileError(path, f"invalid JSON ({exc.msg})", exc.lineno) from None


def _meeting_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise QuestionFileError(src, "no such file or folder (expected QMSum meeting JSON files)")
    files = sorted(src.rglob("*.json"))
    if not files:
        raise QuestionFileError(src, "no .json meeting files found in this folder")
    return files


def qmsum_meeting_questions(path: Path, scope: Scope = "both") -> list[EvalQuestion]:
    """The specific queries of one QMSum meeting file as test questions."""
    data = _read_json(path)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("meeting_transcripts"), list)
        or not isinstance(data.get("specific_query_list"), list)
    ):
        raise QuestionFileError(
            path, "expected a QMSum meeting: 'meeting_transcripts' and 'specific_query_list' lists"
        )
    n_turns = len(data["meeting_transcripts"])
    doc_id = path.stem
    scopes = ["within", "pooled"] if scope == "both" else [scope]
    out: list[EvalQuestion] = []
    for number, item in enumerate(data["specific_query_list"]):
        where = f"specific_query_list[{number}]"
        query = item.get("query") if isinstance(item, dict) else None
        spans = item.get("relevant_text_span") if isinstance(item, dict) else None
        if not isinstance(query, str) or not query.strip() or not isinstance(spans, list):
            raise QuestionFileError(path, f"{where}: expected 'query' and 'relevant_text_span'")
        turns: set[int] = set()
        for span in spans:
            try:
                start, end = (int(v) for v in span)
            except (TypeError, ValueError):
                raise QuestionFileError(
                    path, f"{where}: span {span!r} is not [start, end] turn indices"
                ) from None
            if not 0 <= start <= end < n_turns:
                raise QuestionFileError(
                    path, f"{where}: span {span!r} is outside the {n_turns} turns of the meeting"
                )
            turns.update(range(start, end + 1))
        if not turns:
            raise QuestionFileError(path, f"{where}: empty 'relevant_text_span'")
        for s in scopes:
            out.append(
                EvalQuestion(
                    question=query.strip(),
                    id=f"{doc_id}:{number}:{s}",
                    doc_id=doc_id,
                    turns=frozenset(turns),
                    doc=doc_id if s == "within" else None,
                    kind="within-meeting" if s == "within" else "pooled",
                )
            )
    return out


def qmsum_questions(src: str | Path, scope: Scope = "both") -> tuple[list[EvalQuestion], int]:
    """Questions from a QMSum meeting file or folder; also returns the number of meetings."""
    files = _meeting_files(Path(src))
    questions = [q for f in files for q in qmsum_meeting_questions(f, scope)]
    return questions, len(files)


def convert_qmsum(src: str | Path, out: str | Path, scope: Scope = "both") -> Conversion:
    questions, meetings = qmsum_questions(src, scope)
    written = write_questions(questions, out)
    return Conversion(questions=written, out=Path(out), documents=meetings)


def _scenes(path: Path, data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise QuestionFileError(path, "expected FriendsQA JSON: an object with a 'data' list")
    for number, episode in enumerate(data["data"]):
        title = episode.get("title") if isinstance(episode, dict) else None
        paragraphs = episode.get("paragraphs") if isinstance(episode, dict) else None
        if not isinstance(title, str) or not title or not isinstance(paragraphs, list):
            raise QuestionFileError(path, f"data[{number}]: expected 'title' and 'paragraphs'")
        for p_number, paragraph in enumerate(paragraphs):
            # One paragraph per scene in the released files; number any extras.
            scene = title if p_number == 0 else f"{title}_{p_number}"
            if not isinstance(paragraph, dict) or not isinstance(
                paragraph.get("utterances:"), list
            ):
                raise QuestionFileError(
                    path, f"data[{number}].paragraphs[{p_number}]: expected an 'utterances:' list"
                )
            yield scene, paragraph


def friendsqa_scene_transcript(scene: str, utterances: list[Any], path: Path) -> dict[str, Any]:
    """One scene as a JSON transcript; turn i is utterance i (the uids are 0..n-1)."""
    turns: list[dict[str, Any]] = []
    for i, utt in enumerate(utterances):
        if (
            not isinstance(utt, dict)
            or utt.get("uid") != i
            or not isinstance(utt.get("utterance"), str)
            or not isinstance(utt.get("speakers"), list)
        ):
            raise QuestionFileError(
                path,
                f"scene {scene}: utterance {i} must be {{uid: {i}, speakers: [...], utterance: str}}",
            )
        speakers = [s for s in utt["speakers"] if isinstance(s, str) and s and s != NOTE_SPEAKER]
        turns.append({"speaker": " and ".join(speakers) or None, "text": utt["utterance"]})
    return {
        "title": f"Friends {scene}",
        "source": "FriendsQA (emorynlp/FriendsQA, Apache-2.0)",
        "turns": turns,
    }


def friendsqa_convert_data(
    path: Path,
) -> tuple[list[EvalQuestion], dict[str, dict[str, Any]]]:
    """(questions, {scene: transcript JSON}) from a FriendsQA file."""
    data = _read_json(path)
    questions: list[EvalQuestion] = []
    transcripts: dict[str, dict[str, Any]] = {}
    for scene, paragraph in _scenes(path, data):
        utterances = paragraph["utterances:"]
        transcripts[scene] = friendsqa_scene_transcript(scene, utterances, path)
        for number, qa in enumerate(paragraph.get("qas") or []):
            where = f"scene {scene}, qas[{number}]"
            if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                raise QuestionFileError(path, f"{where}: expected 'id', 'question' and 'answers'")
            answers = [a for a in qa.get("answers") or [] if isinstance(a, dict)]
            turns = {
                a["utterance_id"]
                for a in answers
                if isinstance(a.get("utterance_id"), int)
                and 0 <= a["utterance_id"] < len(utterances)
            }
            texts = list(
                dict.fromkeys(
                    a["answer_text"].strip()
                    for a in answers
                    if isinstance(a.get("answer_text"), str) and a["answer_text"].strip()
                )
            )
            if not turns or not qa["question"].strip():
                raise QuestionFileError(path, f"{where}: no answer with a valid utterance_id")
            qid = str(qa.get("id") or f"{scene}:{number}")
            questions.append(
                EvalQuestion(
                    question=qa["question"].strip(),
                    id=qid,
                    doc_id=scene,
                    turns=frozenset(turns),
                    answers=tuple(texts),
                    doc=scene,
                    kind=_wh_kind(qid, qa["question"]),
                )
            )
    return questions, transcripts


_WH = ("what", "who", "when", "where", "why", "how")


def _wh_kind(qid: str, question: str) -> str:
    """The question type: FriendsQA ids end in it ("…_Who", "…_Who_Paraphrased")."""
    for part in reversed(qid.lower().split("_")):
        if part in _WH:
            return part
    words = question.lower().split()
    return next((w for w in words if w in _WH), "other")


def convert_friendsqa(
    src: str | Path, out: str | Path, transcripts_dir: str | Path | None = None
) -> Conversion:
    """Write the questions to ``out`` and one ``<scene>.json`` transcript per scene.

    The transcripts go to ``transcripts_dir``, by default ``<out stem>_transcripts/`` next
    to ``out``; index that folder, then evaluate the questions on it.
    """
    src, out = Path(src), Path(out)
    questions, transcripts = friendsqa_convert_data(src)
    folder = Path(transcripts_dir) if transcripts_dir else out.with_name(f"{out.stem}_transcripts")
    folder.mkdir(parents=True, exist_ok=True)
    for scene, record in transcripts.items():
        (folder / f"{scene}.json").write_text(
            json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    written = write_questions(questions, out)
    return Conversion(
        questions=written, out=out, documents=len(transcripts), transcripts_dir=folder
    )
