"""`tqa`: the command line. Thin by design: parse arguments, call `TranscriptQA`, print.

Exit codes: 0 ok; 1 a user error (bad file, missing index, bad filter...), printed as one
line ``error: …`` on stderr; 2 a usage error (click's default); 3 ``tqa index`` finished but
skipped some files (they are listed on stderr).

The index folder comes from ``--index``, else the ``TQA_INDEX`` environment variable, else
``.tqa-index`` in the current directory (`qa.locations`, for every command, ``serve`` too), so
``tqa index corpus/`` or ``tqa serve --corpus corpus/`` followed by ``tqa ask "…"`` works with
no options. Wherever a folder goes, a ``postgresql://user@host:port/db?schema=NAME`` URI may go
instead: the index then lives in that database (`qa.stores.postgres`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from embeddings import backends
from qa import locations, stores
from qa.errors import TranscriptQAError

if TYPE_CHECKING:
    from qa.evaluation.runner import EvalRun
    from qa.results import Hit
    from qa.service import TranscriptQA

DEFAULT_INDEX = locations.DEFAULT_INDEX
EXIT_SKIPPED = 3
MODES = ("bm25", "dense", "hybrid")
BACKENDS = (backends.AUTO, *backends.NAMES)


class UserError(click.ClickException):
    """Printed as one line ``error: …`` with exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class Group(click.Group):
    """Turns the package's own errors into one-line user errors instead of tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TranscriptQAError as exc:
            raise UserError(str(exc)) from exc


def _fail(message: str) -> NoReturn:
    raise UserError(message)


def _info(ctx: click.Context, message: str) -> None:
    """Progress chatter: stderr, silenced by --quiet."""
    if not ctx.obj["quiet"]:
        click.echo(message, err=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))


class IndexLocation(click.ParamType):
    """An index folder (a `Path`; `must_exist`: it must be there) or a `postgresql://` URI
    (the string as given: the database says whether it holds an index)."""

    name = "folder|postgresql://…"

    def __init__(self, must_exist: bool = False) -> None:
        self.folder = click.Path(exists=must_exist, file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and stores.is_postgres(value):
            return value.strip()
        return self.folder.convert(value, param, ctx)


def _index_dir(
    ctx: click.Context, param: click.Parameter, value: locations.Location | None
) -> locations.Location:
    return locations.index_dir(value)


def index_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--index",
        "index_dir",
        callback=_index_dir,
        type=IndexLocation(),
        help=f"Index folder or postgresql:// URI (default: $TQA_INDEX, else {DEFAULT_INDEX} here).",
    )(f)


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["quiet"] = True


def quiet_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`-q/--quiet` after the command too (`tqa index corpus -q`), as before it."""
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        expose_value=False,
        callback=_set_quiet,
        help="No progress bars or chatter on stderr.",
    )(f)


def aliases_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--aliases",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help='Speaker alias file (TOML or JSON: {"Vladimir Putin": ["Putin"]}); kept in the '
        "index and applied by later updates (an empty table {} stops it).",
    )(f)


def filter_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--speaker", help="Only this speaker (canonical name or any alias)."),
            click.option(
                "--since",
                metavar="DATE",
                help="Only transcripts on or after DATE: 2024-06-03, 2024-06, 2024 or 'June 2024'.",
            ),
            click.option(
                "--until",
                metavar="DATE",
                help="Only transcripts on or before DATE (a month or year: to its last day).",
            ),
            click.option(
                "--doc", metavar="DOC_ID", help="Only this document (see `tqa info --docs`)."
            ),
        ]
    ):
        f = option(f)
    return f


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def _open(index_dir: locations.Location) -> TranscriptQA:
    from qa.service import TranscriptQA

    if stores.is_postgres(index_dir):  # the database says whether it holds an index
        return TranscriptQA.open(index_dir)
    assert isinstance(index_dir, Path)
    if not index_dir.exists():
        where = "" if index_dir == locations.default_index_dir() else f" --index {index_dir}"
        _fail(f"{index_dir}: no index here; build one with `tqa index CORPUS_FOLDER{where}`")
    return TranscriptQA.open(index_dir)


def _filters(**values: Any) -> dict[str, Any]:
    """The filters given, with --since/--until read as the chat reads them (`parse_date_bound`)."""
    if values.get("since") is not None or values.get("until") is not None:
        from qa.query import parse_date_bound

        values["since"] = parse_date_bound(values.get("since"), name="--since")
        values["until"] = parse_date_bound(values.get("until"), end=True, name="--until")
        if values["since"] and values["until"] and values["since"] > values["until"]:
            _fail(f"--since {values['since']} is after --until {values['until']}")
    return {k: v for k, v in values.items() if v is not None}


@click.group(name="tqa", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or chatter on stderr.")
@click.version_option(package_name="transcript-qa", prog_name="tqa")
@click.pass_context
def cli(ctx: click.Context, quiet: bool) -> None:
    """Answer questions about speech transcripts with verbatim, cited quotes.

    \b
    Examples:
      tqa index corpus/                      # build .tqa-index from a folder
      tqa ask "What was agreed about the strike?"
      tqa search "seawall" --speaker "Elena Marsh" --k 5
      tqa serve                              # the chat on http://127.0.0.1:7860
      tqa eval questions.jsonl --out results/
      tqa info
    """
    ctx.ensure_object(dict)
    ctx.obj["quiet"] = quiet


@cli.command("index", short_help="Index transcript files and folders.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@index_option
@click.option(
    "--model",
    help="Embedding model: a local sentence-transformers folder (default: all-MiniLM-L6-v2).",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS, case_sensitive=False),
    help="Where the model runs (default: $TQA_BACKEND, else the index's own, else auto: the "
    "fastest this machine runs at torch quality). A different backend re-embeds the index.",
)
@click.option(
    "--max-words",
    type=click.IntRange(5, 2000),
    help="Passage size in words (default 120); a different value rebuilds the index.",
)
@aliases_option
@json_option
@quiet_option
@click.pass_context
def index_cmd(
    ctx: click.Context,
    paths: tuple[Path, ...],
    index_dir: locations.Location,
    model: str | None,
    backend: str | None,
    max_words: int | None,
    aliases: Path | None,
    as_json: bool,
) -> None:
    """Index transcript files and folders (re-runs embed only what changed).

    Exits with 3 (after indexing the rest) when some files could not be read; each is
    listed on stderr with the reason.

    \b
    Examples:
      tqa index corpus/ more/interview.vtt --index my-index
      tqa index corpus/ --index small-chunks --max-words 60   # then: tqa eval … --compare-index
    """
    from qa.chunking import DEFAULT_SETTINGS
    from qa.service import TranscriptQA

    source = [str(p) for p in paths]
    settings = DEFAULT_SETTINGS
    if max_words is not None:
        settings = dataclasses.replace(settings, max_words=max_words)
    qa = TranscriptQA.build(
        source if len(source) > 1 else source[0],
        index_dir,
        model=model,
        show_progress=not ctx.obj["quiet"],
        backend=backend,
        chunk_settings=settings,
        aliases=aliases,
    )
    stats = qa.last_update_stats
    skipped = [(str(getattr(s, "path", s)), str(getattr(s, "reason", ""))) for s in stats.skipped]
    if as_json:
        _print_json(
            {
                "index": locations.describe(index_dir),
                "documents": len(qa.snapshot.transcripts),
                "passages": stats.passages,
                "added": stats.docs_added,
                "changed": stats.docs_changed,
                "removed": stats.docs_removed,
                "unchanged": stats.docs_unchanged,
                "embedded": stats.embedded,
                "backend": qa.snapshot.manifest.backend,
                "rebuilt": stats.rebuilt,
                "seconds": round(stats.seconds, 2),
                "skipped": [{"path": p, "reason": r} for p, r in skipped],
            }
        )
    else:  # a rebuild's reason is logged once by TranscriptQA.build ("Rebuilding … from scratch")
        click.echo(
            f"{locations.describe(index_dir)}: {len(qa.snapshot.transcripts)} documents, "
            f"{stats.passages} passages "
            f"({stats.docs_added} added, {stats.docs_changed} changed, {stats.docs_removed} removed, "
            f"{stats.embedded} passages embedded) in {stats.seconds:.1f} s"
        )
    for path, reason in skipped:
        message = reason if reason.startswith(path) else f"{path}: {reason}"
        click.echo(f"skipped {message}", err=True)
    if skipped:
        click.echo(f"{len(skipped)} file(s) skipped", err=True)
        ctx.exit(EXIT_SKIPPED)


def _hit_record(rank: int, hit: Hit) -> dict[str, Any]:
    p = hit.passage
    return {
        "rank": rank,
        "score": hit.score,
        "dense_score": hit.dense_score,
        "bm25_score": hit.bm25_score,
        "rerank_score": hit.rerank_score,
        **dataclasses.asdict(p),
    }


@cli.command("search", short_help="Show the passages that best match a query.")
@click.argument("query")
@filter_options
@click.option("--title", help="Only documents whose title contains this text.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("-k", "--k", "k", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option(
    "--rerank",
    is_flag=True,
    help="Reorder the best passages with the reranker model, if one is set (slower).",
)
@index_option
@json_option
@quiet_option
def search_cmd(
    query: str,
    speaker: str | None,
    since: str | None,
    until: str | None,
    doc: str | None,
    title: str | None,
    mode: str,
    k: int,
    rerank: bool,
    index_dir: locations.Location,
    as_json: bool,
) -> None:
    """Show the passages that best match QUERY, with speaker, event and date.

    \b
    Example:
      tqa search "gas prices" --speaker Putin --since 2017-01-01 --mode bm25 --json
    """
    qa = _open(index_dir)
    hits = qa.search(
        query,
        k=k,
        mode=mode,
        rerank=rerank,
        **_filters(speaker=speaker, since=since, until=until, doc=doc, title=title),
    )
    if as_json:
        _print_json([_hit_record(i, h) for i, h in enumerate(hits, start=1)])
        return
    if not hits:
        click.echo("No passages match (check the filters).")
    for i, h in enumerate(hits, start=1):
        p = h.passage
        who = p.speaker or "(narration)"
        when = p.date.isoformat() if p.date else "undated"
        click.echo(
            f"{i:>2}. {who} · {p.title} · {when}  [{p.doc_id} turn {p.turn}, score {h.score:.3f}]"
        )
        click.echo("    " + " ".join(p.text.split()))


def _answer_record(answer: Any) -> dict[str, Any]:
    return {
        "question": answer.question,
        "abstained": answer.abstained,
        "quotes": [dataclasses.asdict(q) for q in answer.quotes],
        "closest": [_hit_record(i, h) for i, h in enumerate(answer.closest, start=1)],
        "filters": answer.filters,
        "implied_filters": answer.implied_filters,
        "relaxed": answer.relaxed,
        "note": answer.note,
    }


@cli.command("ask", short_help="Answer a question with cited verbatim quotes.")
@click.argument("question")
@filter_options
@click.option(
    "-k",
    "--k",
    "k",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Passages to read.",
)
@index_option
@json_option
@quiet_option
def ask_cmd(
    question: str,
    speaker: str | None,
    since: str | None,
    until: str | None,
    doc: str | None,
    k: int,
    index_dir: locations.Location,
    as_json: bool,
) -> None:
    """Answer QUESTION with cited verbatim quotes: who said it, where and when.

    \b
    Example:
      tqa ask "What did the mayor promise about flood defences?" --since "March 2023"
    """
    qa = _open(index_dir)
    answer = qa.ask(question, k=k, **_filters(speaker=speaker, since=since, until=until, doc=doc))
    if as_json:
        _print_json(_answer_record(answer))
    else:
        click.echo(answer.to_markdown())


@cli.command("serve", short_help="Start the chat in the browser.")
@click.option(
    "--corpus",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Transcript folder: indexed into the index folder on start (only what changed).",
)
@click.option(
    "--index",
    "index_dir",
    type=IndexLocation(),
    help=f"Index folder or postgresql:// URI to serve (default: $TQA_INDEX, else "
    f"{DEFAULT_INDEX} here); built from --corpus if it does not exist.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback by default).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@aliases_option
@quiet_option
@click.pass_context
def serve_cmd(
    ctx: click.Context,
    corpus: Path | None,
    index_dir: locations.Location | None,
    host: str,
    port: int,
    aliases: Path | None,
) -> None:
    """Start the chat in the browser, on the index every other command uses.

    With no options it serves that index ($TQA_INDEX, else .tqa-index here); with --corpus it
    first builds or updates it from the folder (`make run` does `tqa serve --corpus corpus`).

    \b
    Examples:
      tqa serve --corpus corpus          # the bundled transcripts (what `make run` does)
      tqa serve                          # the index already here
      tqa serve --corpus ~/hearings --port 8080
    """
    from embeddings import store

    index_dir = locations.index_dir(index_dir)
    if stores.is_postgres(index_dir):
        assert isinstance(index_dir, str)
        if corpus is None and not stores.postgres_index_exists(index_dir):
            hint = "corpus" if Path("corpus").is_dir() else "FOLDER"
            where = locations.describe(index_dir)
            _fail(
                f"{where}: no index in this database schema; run `tqa serve --corpus {hint} "
                f"--index '{where}'` (or `tqa index {hint} --index '{where}'`) first"
            )
    elif corpus is None and not store.exists(index_dir):
        hint = "corpus" if Path("corpus").is_dir() else "FOLDER"
        _fail(
            f"{index_dir}: no index here; run `tqa serve --corpus {hint}` "
            f"(or `tqa index {hint}`) first"
        )
    try:
        from ui.ports import check_port

        check_port(host, port)  # before loading anything: one line, and the next free port
        from ui.app import serve
    except ImportError as exc:
        _fail(f"the chat is not available ({exc}); install the package with its `ui` module")
    serve(
        corpus=str(corpus) if corpus else None,
        index=str(index_dir),
        host=host,
        port=port,
        show_progress=not ctx.obj["quiet"],
        aliases=aliases,
    )


@contextmanager
def _eval_index(
    ctx: click.Context, index_dir: locations.Location | None, corpus: Path | None
) -> Iterator[TranscriptQA]:
    """The index to evaluate: --index as is, or --corpus built into --index or a temporary folder."""
    from qa.service import TranscriptQA

    if corpus is None:
        yield _open(locations.index_dir(index_dir))
        return
    tmp = None
    if index_dir is None:
        tmp = tempfile.mkdtemp(prefix="tqa-eval-")
        index_dir = Path(tmp) / "index"
    try:
        _info(ctx, f"indexing {corpus} into {locations.describe(index_dir)}")
        qa = TranscriptQA.build(
            corpus, index_dir, show_progress=not ctx.obj["quiet"], aliases=ctx.obj.get("aliases")
        )
        for s in qa.last_update_stats.skipped:
            _info(ctx, f"skipped {getattr(s, 'path', s)}: {getattr(s, 'reason', '')}")
        yield qa
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_eval(
    ctx: click.Context,
    qa: TranscriptQA,
    questions: list[Any],
    questions_file: Path,
    name: str,
    **kwargs: Any,
) -> EvalRun:
    from qa.evaluation.runner import evaluate

    config = {"index": str(qa.index_dir), "model": qa.model_name, "questions": str(questions_file)}
    return evaluate(
        qa, questions, name=name, show_progress=not ctx.obj["quiet"], config=config, **kwargs
    )


@cli.command("eval", short_help="Score retrieval and answers on test questions.")
@click.argument("questions_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--index",
    "index_dir",
    type=IndexLocation(),
    help=f"Index folder or postgresql:// URI to evaluate (default: $TQA_INDEX, else "
    f"{DEFAULT_INDEX}); with --corpus, where to build it.",
)
@click.option(
    "--corpus",
    type=click.Path(exists=True, path_type=Path),
    help="Index this folder first (into --index, or a temporary folder) and evaluate that.",
)
@click.option(
    "--modes", default=",".join(MODES), show_default=True, help="Comma-separated retrieval modes."
)
@click.option(
    "-k",
    "--k",
    "k",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Cut-off for recall@k and the chart.",
)
@click.option(
    "--ask/--no-ask", "with_ask", default=True, show_default=True, help="Also score ask() answers."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write NAME.json, NAME.md and NAME.png here.",
)
@click.option("--name", help="Report name (default: the questions file's stem).")
@click.option(
    "--compare-index",
    type=IndexLocation(must_exist=True),
    help="A second index (e.g. another model or chunk size): report B-A with paired bootstrap CIs.",
)
@click.option(
    "--limit", type=click.IntRange(1), help="Only the first N questions (for a quick look)."
)
@aliases_option
@json_option
@quiet_option
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    questions_file: Path,
    index_dir: locations.Location | None,
    corpus: Path | None,
    modes: str,
    k: int,
    with_ask: bool,
    out_dir: Path | None,
    name: str | None,
    compare_index: locations.Location | None,
    limit: int | None,
    aliases: Path | None,
    as_json: bool,
) -> None:
    """Score retrieval and answers on test questions (JSONL).

    The format is documented in qa/evaluation/questions.py.

    Reports hit@1/5/10, recall@k of gold turns, MRR@10 and nDCG@10 per mode, and for ask():
    first quote inside the gold evidence, answer containment, abstentions; latency p50/p95;
    a breakdown by the questions' `kind`.

    \b
    Examples:
      tqa eval questions.jsonl --corpus corpus/ --out results/
      tqa convert qmsum ../qmsum/val qmsum-val.jsonl
      tqa eval qmsum-val.jsonl --index qmsum-index --no-ask --out results/
      tqa eval qs.jsonl --index minilm-index --compare-index mpnet-index
    """
    from qa.evaluation.questions import load_questions
    from qa.evaluation.report import format_table, write_report

    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in MODES]
    if bad or not mode_list:
        raise click.BadParameter(f"choose from {', '.join(MODES)}", param_hint="--modes")
    if aliases is not None and corpus is None:
        raise click.UsageError("--aliases applies when --corpus builds the index")
    ctx.obj["aliases"] = aliases
    questions = load_questions(questions_file)[:limit]
    name = name or questions_file.stem
    kwargs = {"modes": mode_list, "k": k, "ask": with_ask}
    with _eval_index(ctx, index_dir, corpus) as qa:
        run = _run_eval(ctx, qa, questions, questions_file, name, **kwargs)
    written = write_report(run, out_dir) if out_dir else {}
    result: dict[str, Any] = {"summary": run.summary(), "ask": run.ask_summary(), "files": written}
    if compare_index is not None:
        from qa.evaluation.compare import compare_runs, comparison_to_dict
        from qa.evaluation.report import comparison_table, write_comparison

        other = _run_eval(
            ctx, _open(compare_index), questions, questions_file, f"{name}-B", **kwargs
        )
        diffs = compare_runs(run, other)
        result["comparison"] = comparison_to_dict(run, other, diffs)
        if out_dir:
            written.update(
                {f"compare_{k}": v for k, v in write_comparison(run, other, diffs, out_dir).items()}
            )
        if not as_json:
            click.echo(format_table(run) + "\n")
            click.echo(format_table(other) + "\n")
            click.echo(
                f"B ({locations.describe(compare_index)}) minus A:\n" + comparison_table(diffs)
            )
    elif not as_json:
        click.echo(format_table(run))
    if as_json:
        result["by_kind"] = run.to_dict()["by_kind"]
        result["warnings"] = run.warnings
        _print_json(result)
    else:
        for label, path in written.items():
            _info(ctx, f"wrote {label}: {path}")


@cli.command("convert", short_help="Turn QMSum/FriendsQA into test questions.")
@click.argument("dataset", type=click.Choice(["qmsum", "friendsqa"]))
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--scope",
    type=click.Choice(["within", "pooled", "both"]),
    default="both",
    show_default=True,
    help="QMSum: search within the query's meeting (doc filter), over all meetings, or both (as `kind`).",
)
@click.option(
    "--transcripts",
    "transcripts_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="FriendsQA: where to write the scene transcripts (default: OUT's stem + _transcripts/).",
)
@json_option
@quiet_option
def convert_cmd(
    dataset: str, src: Path, out: Path, scope: str, transcripts_dir: Path | None, as_json: bool
) -> None:
    """Convert QMSum or FriendsQA into test questions (FriendsQA: also transcripts).

    \b
    Examples:
      tqa convert qmsum ../shared/datasets/qmsum/val qmsum-val.jsonl
      tqa index ../shared/datasets/qmsum/val --index qmsum-index
      tqa eval qmsum-val.jsonl --index qmsum-index --out results/
    \b
      tqa convert friendsqa friendsqa_tune.json friendsqa.jsonl   # + friendsqa_transcripts/
      tqa index friendsqa_transcripts --index friendsqa-index
      tqa eval friendsqa.jsonl --index friendsqa-index --out results/
    """
    from qa.evaluation.adapters import convert_friendsqa, convert_qmsum

    if dataset == "qmsum":
        result = convert_qmsum(src, out, scope)  # type: ignore[arg-type]
    else:
        result = convert_friendsqa(src, out, transcripts_dir)
    if as_json:
        _print_json(dataclasses.asdict(result))
        return
    click.echo(
        f"wrote {result.questions} questions from {result.documents} documents to {result.out}"
    )
    if result.transcripts_dir is not None:
        click.echo(
            f"wrote {result.documents} transcripts to {result.transcripts_dir}/ (index that folder)"
        )


def _fastest_backend_here() -> str | None:
    """What `auto` timed fastest on this machine, if it has (info never runs the timing)."""
    record = backends.recorded_choice()
    return None if record is None else str(record["choice"])


def _folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@cli.command("info", short_help="Show what an index holds.")
@index_option
@click.option("--docs", is_flag=True, help="Also list every document.")
@click.option(
    "--verify",
    is_flag=True,
    help="Also check every index file against its checksum (reads the whole index).",
)
@json_option
@quiet_option
def info_cmd(index_dir: locations.Location, docs: bool, verify: bool, as_json: bool) -> None:
    """Show what an index holds: documents, passages, speakers, dates, model, size.

    With --verify, every file is checked against the checksum written with it; a damaged
    index exits with 1 and names the file.
    """
    qa = _open(index_dir)
    on_postgres = stores.is_postgres(index_dir)
    checked = None
    if verify:
        from embeddings import store

        try:  # a database: its tables checked against each other (PostgresQA.verify)
            checked = qa.verify() if on_postgres else store.verify(index_dir)  # type: ignore[attr-defined]
        except TranscriptQAError as exc:
            _fail(str(exc))
    documents = qa.documents()
    speakers = qa.speakers()
    first, last = qa.date_range()
    info = {
        "index": locations.describe(index_dir),
        "documents": len(documents),
        "passages": len(qa),
        "speakers": len(speakers),
        "top_speakers": speakers[:10],
        "first_date": first,
        "last_date": last,
        "model": qa.model_name,
        "backend": qa.snapshot.manifest.backend,
        "query_backend": qa.encoder.backend,
        "query_adapter": qa.adapts_questions,
        "reranker": qa.reranker.name if qa.reranker is not None else None,
        "size_bytes": qa.size_bytes() if on_postgres else _folder_size(index_dir),  # type: ignore[attr-defined,arg-type]
        "aliases": qa.snapshot.manifest.aliases,
        "fastest_backend_here": _fastest_backend_here(),
    }
    if checked is not None:
        info["verified_files"] = checked
    if as_json:
        if docs:
            info["document_list"] = documents
        _print_json(info)
        return
    span = f"{first} to {last}" if first else "no dates"
    click.echo(f"index      {info['index']}")
    click.echo(f"documents  {len(documents)}")
    click.echo(f"passages   {len(qa)}")
    click.echo(
        f"speakers   {len(speakers)}"
        + (f" (most turns: {', '.join(speakers[:5])})" if speakers else "")
    )
    click.echo(f"dates      {span}")
    click.echo(f"model      {qa.model_name}")
    backend = info["backend"]
    if qa.encoder.backend != backend:
        backend += f" (cannot run here: questions embed on {qa.encoder.backend})"
    elif info.get("fastest_backend_here") not in (None, backend):
        fastest = info["fastest_backend_here"]
        backend += (
            f" (timed fastest on this machine: {fastest}; "
            f"`tqa index ... --backend {fastest}` re-embeds)"
        )
    click.echo(f"backend    {backend}")
    click.echo(
        "questions  "
        + (
            "moved by the bundled query adapter"
            if qa.adapts_questions
            else "as the model embeds them"
        )
    )
    click.echo(
        "reranker   "
        + (info["reranker"] or "no model (ask() reranks by its rules: replies, filler, fragments)")
    )
    table = qa.snapshot.manifest.aliases
    if table is not None:
        click.echo(f"aliases    {len(table)} people named by the index's alias file")
    click.echo(f"size       {info['size_bytes'] / 1e6:.1f} MB")
    if checked is not None:
        if on_postgres:
            click.echo(f"checks     ok ({checked} rows; the tables agree with each other)")
        else:
            click.echo(f"checksums  ok ({checked} files)")
    if docs:
        for d in documents:
            click.echo(
                f"  {d.doc_id}  {d.date or '----------'}  {d.title}  ({d.turns} turns, {d.passages} passages)"
            )


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cli.main(prog_name="tqa")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
