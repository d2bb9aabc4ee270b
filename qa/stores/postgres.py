"""The PostgreSQL + pgvector store: the `TranscriptQA` API on a database (issue 14, first slice).

Location: ``postgresql://user[:password]@host:port/db[?schema=NAME]`` (default schema ``tqa``;
other query parameters such as ``sslmode`` go to libpq as they are).

Tables (all in the one schema; ``D`` is the model's dimension)::

    manifest   one row: schema version, model, backend, dim, chunker, context, tokenizer
               fingerprint, alias table, generation (bumped by every write), passage count and
               total token length (BM25's N and avgdl, kept correct by every write)
    documents  doc_id, content hash, source, file hash, parser version, date, normalised title,
               the transcript as JSON (text + turns: every quote is cut from it), header vector
    passages   id, doc_id, ord, turn, start/end offsets, speaker, date, normalised title,
               content key, vec (the passage as embedded), search_vec (composed with its
               context, qa.context: what dense search ranks; HNSW index, inner product),
               dl (its BM25 token count)
    postings   term, passage_id, tf: the BM25 inverted index over the same indexed text
               (context + passage, qa.context.index_texts, the same tokeniser as qa.lexical)
    sentences  passage_id, ord, start/end offsets, vec halfvec(D): what ask() scores
    uploads    doc_id, name, the uploaded file's text (UTF-8): what the chat's "Add
               transcripts" added, kept across rebuilds (the folder store keeps these files in
               `<index>/uploads/`); created on the first upload, never dropped by a rebuild

Search runs in the database: the filters (speaker, since, until, doc, title) are one SQL
``WHERE`` applied inside both the vector and the BM25 query. Dense: exact below
``ANN_THRESHOLD`` passages (the folder store's own policy), else HNSW with
``hnsw.iterative_scan = strict_order``, and exact again whenever the graph returns fewer rows
than asked (a selective filter): a filter never returns fewer results than exist. Lexical:
BM25 in SQL with global IDF, the bm25s "lucene" formula the folder store uses (so scores agree
to float error), document frequencies counted from the postings at query time (never stale).
The database returns each candidate's dense and BM25 score; the fusion and the hybrid priors
(document evidence, damping of near-empty turns in long documents, named-speaker lift, spread)
are today's `qa.fusion.Ranker` code, run in Python on those candidates (at most 2 x 200).

Writes are one transaction per build/update/remove, behind a transaction-level advisory lock
(writers take turns; readers never wait for it): documents whose content hash is unchanged
keep their rows (and are not re-embedded: `qa.indexing._make_snapshot` reuses vectors by
content key), changed ones are deleted and inserted again, vanished ones deleted.

This process keeps, per database generation, the transcripts and passage metadata in memory
(quoting, speaker lookups and question understanding use them); vectors, BM25 and the
sentence vectors stay in the database. Not done yet: see the README section
"PostgreSQL (optional)".
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg import sql

from embeddings import backends, store
from embeddings.adapter import QueryAdapter, bundled_adapter
from embeddings.encoder import Encoder
from qa import uploads
from qa.answering import AnswerSettings
from qa.chunking import DEFAULT_SETTINGS, ChunkSettings
from qa.context import DEFAULT_CONTEXT, ContextSettings, context_from_dict, index_texts
from qa.errors import IndexLoadError, QueryError, TranscriptError
from qa.filters import Filters, _norm
from qa.fusion import Ranker
from qa.indexing import (
    PathLike,
    UpdateStats,
    _incompatibility,
    _make_snapshot,
    _scan,
    updated_documents,
)
from qa.ingest import unify_speakers
from qa.lexical import Tokenizer, _one_edit, corrected_tokens
from qa.limits import check_date
from qa.parsers import parse_text
from qa.results import Hit
from qa.retrieval import DEFAULT_SEARCH, PassageRows, SearchConfig, check_search
from qa.service import TranscriptQA, _as_list, _runnable_or_auto
from qa.speakers import AliasSpec, as_alias_table
from qa.stores import location_repr
from qa.transcript import Passage, Transcript

log = logging.getLogger(__name__)

# Uploaded transcripts' source: no file on any one server, so a path no file system has. Never
# under a corpus folder, so `update(folder)` keeps them; their text is in the uploads table.
UPLOADS_SOURCE = Path("/postgresql-uploads")

SCHEMA_VERSION = 1
DEFAULT_SCHEMA = "tqa"
# Exact dense search below this many passages, HNSW above. Lower than the folder store's
# 100k: pgvector scores a sequential scan far slower than FAISS (all 32,665 Kremlin passages:
# ~100 ms on the busy 2-core machine, against 2 ms in FAISS; the graph: ~10 ms).
ANN_THRESHOLD = 10_000
# A filter that lets at most this many passages through is searched exactly (through the
# filter's own indexes); above it, the graph with iterative scan, and exact if it runs short.
EXACT_ROWS = 2_000
HNSW_EF_SEARCH = (
    400  # Kremlin dev questions, dense top-10 overlap with exact: .938 at 200, .978 at 400
)
ITERATIVE_SCAN = "strict_order"  # hnsw.iterative_scan: keep scanning the graph until k pass
# Tests only: keep the planner on the HNSW index even where a scan would be cheaper (small
# tables), so the graph path and its exact fallback are exercised.
FORCE_ANN_PLAN = False
# How often each dense path ran in this process ("exact", "hnsw", "hnsw+exact"): diagnostics.
PLANS: Counter[str] = Counter()
PREFETCH_HITS = 20  # a search reads the sentences of its best hits' turns and their neighbours
SENTENCE_CACHE = 50_000  # passages whose sentences a process keeps (then it starts afresh)
BM25_K1 = 1.2  # qa.lexical.LexicalIndex.build's defaults
BM25_B = 0.75
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


# --- locations ---------------------------------------------------------------------------------


def parse_location(uri: str) -> tuple[str, str]:
    """(libpq connection URI without `schema=`, schema name)."""
    parts = urlsplit(uri.strip())
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = DEFAULT_SCHEMA
    rest = []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            rest.append((key, value))
    if not _IDENT.match(schema):
        raise IndexLoadError(
            f"schema={schema!r} in {location_repr(uri)}: expected a plain SQL name "
            "(letters, digits, _; at most 63)"
        )
    scheme = "postgresql" if parts.scheme.lower() in ("postgresql", "postgres") else parts.scheme
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return conninfo, schema


def rebuild_hint(uri: str) -> str:
    where = location_repr(uri)
    return (
        f"Rebuild it with `tqa index <corpus> --index '{where}'` "
        f"(or `TranscriptQA.build(corpus, '{where}')`)."
    )


def _vec(v: np.ndarray) -> str:
    """pgvector's text form; 9 significant digits give float32 back exactly."""
    return "[" + ",".join(f"{x:.9g}" for x in np.asarray(v, dtype=np.float32).tolist()) + "]"


def _f32(v: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(v, dtype=np.float32)


# Column types of the binary COPYs (`_insert`).
DOCUMENT_TYPES = ["text", "text", "text", "text", "int4", "int4", "date", "text", "text", "text"]
DOCUMENT_TYPES.append("vector")
PASSAGE_TYPES = ["int8", "text", "int4", "int4", "int4", "int4", "text", "date", "text", "text"]
PASSAGE_TYPES += ["vector", "vector", "int4"]


def _register_on(cur: psycopg.Cursor[Any]) -> None:
    """pgvector's vector and halfvec adapters on one cursor (register_vector takes only
    connections)."""
    from pgvector.psycopg.halfvec import register_halfvec_info
    from pgvector.psycopg.vector import register_vector_info
    from psycopg.types import TypeInfo

    register_vector_info(cur, TypeInfo.fetch(cur.connection, "vector"))  # type: ignore[arg-type]
    register_halfvec_info(cur, TypeInfo.fetch(cur.connection, "halfvec"))  # type: ignore[arg-type]


def _array(v: Any, dtype: Any = np.float32) -> np.ndarray:
    if hasattr(v, "to_numpy"):
        v = v.to_numpy()
    return np.asarray(v, dtype=dtype)


class _Stub:
    """What `qa.fusion.Ranker` and `qa.indexing._make_snapshot` read of a lexical index: the
    tokeniser, the row count and `stale` (BM25 itself lives in the database)."""

    def __init__(self, size: int, tokenizer: Tokenizer | None = None) -> None:
        self.size = size
        self.tokenizer = tokenizer or Tokenizer()
        self.stale = False


@dataclass(frozen=True)
class PgSnapshot:
    """What this process keeps of one database generation: never mutated once built."""

    manifest: store.Manifest
    transcripts: dict[str, Transcript]
    passages: list[Passage]
    ids: np.ndarray  # int64: database id of each passage row
    doc_keys: list[str]
    generation: int
    lexical: _Stub
    ann: None = None
    sentences: None = None
    search_vectors: None = None
    row_of: dict[int, int] = field(default_factory=dict)  # database id -> row


# --- the database ------------------------------------------------------------------------------


class Database:
    """Connections and SQL for one schema. One read connection per thread."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.conninfo, self.schema = parse_location(uri)
        self._local = threading.local()

    def q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=sql.Identifier(self.schema))

    def connect(self, *, register: bool = True) -> psycopg.Connection[Any]:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=False, connect_timeout=10)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise IndexLoadError(
                f"Cannot connect to the index database {location_repr(self.uri)}: {first}"
            ) from None
        if register:
            try:
                register_vector(conn)
            except (psycopg.ProgrammingError, TypeError):
                conn.rollback()  # no vector extension yet (a build creates it)
            conn.rollback()
        return conn

    def reader(self) -> psycopg.Connection[Any]:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:  # a restarted server: connect again
            conn = self.connect()
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            self._local.conn = conn
        return conn

    # -- schema ---------------------------------------------------------------------------

    def has_manifest(self, cur: psycopg.Cursor[Any]) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{self.schema}".manifest',))
        row = cur.fetchone()
        return bool(row and row[0])

    def read_manifest_row(self, cur: psycopg.Cursor[Any]) -> dict[str, Any] | None:
        if not self.has_manifest(cur):
            return None
        cur.execute(
            self.q(
                "SELECT schema_version, model, backend, dim, chunker, context, tokenizer, "
                "aliases, created, generation, n_passages, total_len FROM {s}.manifest"
            )
        )
        row = cur.fetchone()
        if row is None:
            return None
        names = [
            "schema_version",
            "model",
            "backend",
            "dim",
            "chunker",
            "context",
            "tokenizer",
            "aliases",
            "created",
            "generation",
            "n_passages",
            "total_len",
        ]
        return dict(zip(names, row, strict=True))

    def create(self, cur: psycopg.Cursor[Any], dim: int, *, bulk: bool = False) -> None:
        """(Re)create every table for vectors of `dim` (inside the caller's transaction).

        With `bulk`, the postings' and sentences' keys, their foreign keys and the secondary
        indexes are left out, for `add_constraints` to add after a bulk load: building them
        once is about twice as fast as checking and indexing millions of COPY rows one by one
        (10,000 synthetic passages: a 12.3 s write against 5.4 s). Same names as the inline ones."""
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(cur.connection)  # for cursors made from now on
        _register_on(cur)  # and this one (it copied the connection's types when it was made)
        d = int(dim)
        for stmt in (
            "CREATE SCHEMA IF NOT EXISTS {s}",
            "DROP TABLE IF EXISTS {s}.sentences, {s}.postings, {s}.passages, {s}.documents, "
            "{s}.manifest",
            """CREATE TABLE {s}.manifest (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                schema_version int NOT NULL, model text NOT NULL, backend text NOT NULL,
                dim int NOT NULL, chunker jsonb NOT NULL, context jsonb NOT NULL,
                tokenizer text NOT NULL, aliases jsonb, created text NOT NULL,
                generation bigint NOT NULL DEFAULT 0, n_passages bigint NOT NULL DEFAULT 0,
                total_len bigint NOT NULL DEFAULT 0)""",
            f"""CREATE TABLE {{s}}.documents (
                doc_id text PRIMARY KEY, hash text NOT NULL, source text, file_hash text,
                parser int NOT NULL, n_passages int NOT NULL, date date,
                title_norm text NOT NULL, transcript text NOT NULL, doc_key text NOT NULL,
                doc_vec vector({d}))""",
            f"""CREATE TABLE {{s}}.passages (
                id bigserial PRIMARY KEY,
                doc_id text NOT NULL REFERENCES {{s}}.documents ON DELETE CASCADE,
                ord int NOT NULL, turn int NOT NULL, start_off int NOT NULL,
                end_off int NOT NULL, speaker text, date date, title_norm text NOT NULL,
                key text NOT NULL, vec vector({d}) NOT NULL, search_vec vector({d}) NOT NULL,
                dl int NOT NULL, UNIQUE (doc_id, ord))""",
            """CREATE TABLE {s}.postings (
                term text NOT NULL, passage_id bigint NOT NULL,
                tf int NOT NULL, dl int NOT NULL)""",
            f"""CREATE TABLE {{s}}.sentences (
                passage_id bigint NOT NULL,
                ord int NOT NULL, start_off int NOT NULL, end_off int NOT NULL,
                vec halfvec({d}) NOT NULL)""",
        ):
            cur.execute(self.q(stmt))
        if not bulk:
            self.add_constraints(cur)

    def add_constraints(self, cur: psycopg.Cursor[Any]) -> None:
        """The keys, foreign keys and secondary indexes `create(bulk=True)` left out."""
        for stmt in (
            "CREATE INDEX passages_speaker ON {s}.passages (speaker)",
            "CREATE INDEX passages_date ON {s}.passages (date)",
            "ALTER TABLE {s}.postings ADD CONSTRAINT postings_pkey "
            "PRIMARY KEY (term, passage_id) INCLUDE (tf, dl)",
            "ALTER TABLE {s}.postings ADD CONSTRAINT postings_passage_id_fkey "
            "FOREIGN KEY (passage_id) REFERENCES {s}.passages ON DELETE CASCADE",
            "CREATE INDEX postings_passage ON {s}.postings (passage_id)",
            "ALTER TABLE {s}.sentences ADD CONSTRAINT sentences_pkey PRIMARY KEY (passage_id, ord)",
            "ALTER TABLE {s}.sentences ADD CONSTRAINT sentences_passage_id_fkey "
            "FOREIGN KEY (passage_id) REFERENCES {s}.passages ON DELETE CASCADE",
        ):
            cur.execute(self.q(stmt))

    # -- reading --------------------------------------------------------------------------

    def check(self, row: dict[str, Any] | None) -> dict[str, Any]:
        """The manifest row, or an IndexLoadError saying why this index cannot be read."""
        if row is None:
            raise IndexLoadError(
                f"No index in schema {self.schema!r} of {location_repr(self.uri)}. "
                + rebuild_hint(self.uri)
            )
        if row["schema_version"] != SCHEMA_VERSION:
            raise IndexLoadError(
                f"The index at {location_repr(self.uri)} has schema version "
                f"{row['schema_version']}; this version of transcript-qa reads version "
                f"{SCHEMA_VERSION}. " + rebuild_hint(self.uri)
            )
        return row

    def column_dim(self, cur: psycopg.Cursor[Any]) -> int | None:
        cur.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attname = 'search_vec'",
            (f'"{self.schema}".passages',),
        )
        row = cur.fetchone()
        return int(row[0]) if row else None

    def manifest_of(self, cur: psycopg.Cursor[Any], row: dict[str, Any]) -> store.Manifest:
        cur.execute(
            self.q("SELECT doc_id, hash, source, file_hash, parser, n_passages FROM {s}.documents")
        )
        docs = {
            d: {"hash": h, "source": s, "file_hash": f, "passages": n, "parser": p}
            for d, h, s, f, p, n in cur.fetchall()
        }
        return store.Manifest(
            model=row["model"],
            backend=row["backend"],
            dim=int(row["dim"]),
            chunker=dict(row["chunker"]),
            context=dict(row["context"]),
            docs=docs,
            created=row["created"],
            aliases=None if row["aliases"] is None else dict(row["aliases"]),
        )

    def _transcripts(self, cur: psycopg.Cursor[Any]) -> tuple[dict[str, Transcript], list[str]]:
        cur.execute(self.q("SELECT transcript, doc_key FROM {s}.documents"))
        loaded = [(store.transcript_from_dict(json.loads(t)), k) for t, k in cur.fetchall()]
        # The order every snapshot has (qa.indexing._make_snapshot): by date, then doc id.
        loaded.sort(key=lambda tk: (tk[0].date or dt.date.min, tk[0].doc_id))
        return {t.doc_id: t for t, _ in loaded}, [k for _, k in loaded]

    def light(self, cur: psycopg.Cursor[Any]) -> PgSnapshot:
        """The transcripts and passage metadata of the current generation."""
        row = self.check(self.read_manifest_row(cur))
        dim = self.column_dim(cur)
        if dim is not None and dim != int(row["dim"]):
            raise IndexLoadError(
                f"The index at {location_repr(self.uri)} is damaged: its vectors have dimension "
                f"{dim}, its manifest says {row['dim']}. " + rebuild_hint(self.uri)
            )
        manifest = self.manifest_of(cur, row)
        transcripts, doc_keys = self._transcripts(cur)
        cur.execute(self.q("SELECT doc_id, ord, id, turn, start_off, end_off FROM {s}.passages"))
        by_doc: dict[str, list[tuple[int, int, int, int, int]]] = {}
        for doc_id, ord_, pid, turn, s, e in cur.fetchall():
            by_doc.setdefault(doc_id, []).append((ord_, pid, turn, s, e))
        passages: list[Passage] = []
        ids: list[int] = []
        for doc_id, t in transcripts.items():
            for _, pid, turn, s, e in sorted(by_doc.get(doc_id, [])):
                passages.append(Passage.of(t, turn, s, e))
                ids.append(pid)
        id_array = np.asarray(ids, dtype=np.int64)
        return PgSnapshot(
            manifest=manifest,
            transcripts=transcripts,
            passages=passages,
            ids=id_array,
            doc_keys=doc_keys,
            generation=int(row["generation"]),
            lexical=_Stub(len(passages)),
            row_of={int(pid): i for i, pid in enumerate(ids)},
        )

    def full(self, cur: psycopg.Cursor[Any]) -> tuple[store.Snapshot, dict[str, Any]] | None:
        """The whole current generation as a folder-store snapshot (vectors included), which
        `_make_snapshot` needs to reuse vectors; None when there is no readable index."""
        row = self.read_manifest_row(cur)
        if row is None or row["schema_version"] != SCHEMA_VERSION:
            return None
        manifest = self.manifest_of(cur, row)
        transcripts, doc_keys = self._transcripts(cur)
        dim = int(row["dim"])
        cur.execute(self.q("SELECT doc_id, doc_vec FROM {s}.documents"), binary=True)
        doc_vec = {d: (None if v is None else _array(v)) for d, v in cur.fetchall()}
        doc_vectors = np.zeros((len(transcripts), dim), dtype=np.float32)
        for i, d in enumerate(transcripts):
            if doc_vec.get(d) is not None:
                doc_vectors[i] = doc_vec[d]
        cur.execute(
            self.q(
                "SELECT doc_id, ord, id, turn, start_off, end_off, key, vec, search_vec "
                "FROM {s}.passages"
            ),
            binary=True,
        )
        by_doc: dict[str, list[Any]] = {}
        for r in cur.fetchall():
            by_doc.setdefault(r[0], []).append(r[1:])
        passages, keys, vecs, svecs, ids = [], [], [], [], []
        for doc_id, t in transcripts.items():
            for _, pid, turn, s, e, key, v, sv in sorted(
                by_doc.get(doc_id, []), key=lambda x: x[0]
            ):
                passages.append(Passage.of(t, turn, s, e))
                keys.append(key)
                vecs.append(_array(v))
                svecs.append(_array(sv))
                ids.append(pid)
        n = len(passages)
        vectors = np.vstack(vecs) if n else np.zeros((0, dim), dtype=np.float32)
        search = np.vstack(svecs) if n else np.zeros((0, dim), dtype=np.float32)
        cur.execute(
            self.q(
                "SELECT passage_id, start_off, end_off, vec FROM {s}.sentences ORDER BY passage_id, ord"
            ),
            binary=True,
        )
        sent: dict[int, list[Any]] = {}
        for pid, s, e, v in cur.fetchall():
            sent.setdefault(pid, []).append((s, e, _array(v, np.float16)))
        counts = [len(sent.get(pid, [])) for pid in ids]
        rows = np.r_[0, np.cumsum(counts)].astype(np.int64)
        spans = np.zeros((int(rows[-1]), 2), dtype=np.int64)
        svectors = np.zeros((int(rows[-1]), dim), dtype=np.float16)
        for i, pid in enumerate(ids):
            for j, (s, e, v) in enumerate(sent.get(pid, [])):
                spans[rows[i] + j] = (s, e)
                svectors[rows[i] + j] = v
        snapshot = store.Snapshot(
            manifest=manifest,
            transcripts=transcripts,
            passages=passages,
            keys=keys,
            vectors=vectors,
            doc_keys=doc_keys,
            doc_vectors=doc_vectors,
            lexical=_Stub(n),  # type: ignore[arg-type]
            search_vectors=search,
            sentences=store.SentenceTable(rows=rows, spans=spans, vectors=svectors),
            generation=str(row["generation"]),
        )
        return snapshot, row

    # -- writing --------------------------------------------------------------------------

    def tidy(self, conn: psycopg.Connection[Any]) -> None:
        """After a write: VACUUM (index-only scans of the postings need the visibility map)
        and ANALYZE (the planner's row counts). Best effort: autovacuum does it later anyway."""
        conn.autocommit = True
        try:
            conn.execute(
                self.q("VACUUM (ANALYZE) {s}.postings, {s}.passages, {s}.sentences, {s}.documents")
            )
        except psycopg.Error as exc:
            log.info("VACUUM of %s skipped: %s", self.schema, exc)
        finally:
            conn.autocommit = False

    # -- uploads ---------------------------------------------------------------------------

    def has_uploads(self, cur: psycopg.Cursor[Any]) -> bool:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{self.schema}".uploads',))
        row = cur.fetchone()
        return bool(row and row[0])

    def uploads(self, cur: psycopg.Cursor[Any]) -> list[tuple[str, str]]:
        """(name, text) of every stored upload, by name."""
        if not self.has_uploads(cur):
            return []
        cur.execute(
            self.q("SELECT name, convert_from(body, 'UTF8') FROM {s}.uploads ORDER BY name")
        )
        return [(str(n), str(t)) for n, t in cur.fetchall()]

    def upload_usage(self, cur: psycopg.Cursor[Any]) -> tuple[set[str], int]:
        """(stems of the stored uploads, case-folded; their bytes in all)."""
        if not self.has_uploads(cur):
            return set(), 0
        cur.execute(self.q("SELECT name, octet_length(body) FROM {s}.uploads"))
        rows = cur.fetchall()
        return {Path(str(n)).stem.casefold() for n, _ in rows}, sum(int(b) for _, b in rows)

    def put_uploads(self, cur: psycopg.Cursor[Any], rows: list[tuple[str, str, bytes]]) -> None:
        """Store (doc_id, name, UTF-8 text) rows (inside the write's transaction)."""
        cur.execute(
            self.q(
                "CREATE TABLE IF NOT EXISTS {s}.uploads (doc_id text PRIMARY KEY, "
                "name text NOT NULL UNIQUE, body bytea NOT NULL, "
                "added timestamptz NOT NULL DEFAULT now())"
            )
        )
        cur.executemany(
            self.q("INSERT INTO {s}.uploads (doc_id, name, body) VALUES (%s, %s, %s)"), rows
        )

    def drop_upload(self, cur: psycopg.Cursor[Any], doc_id: str) -> None:
        if self.has_uploads(cur):
            cur.execute(self.q("DELETE FROM {s}.uploads WHERE doc_id = %s"), (doc_id,))

    def lock(self, cur: psycopg.Cursor[Any]) -> None:
        """Writers take turns (held to the end of the transaction); readers never wait."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"transcript-qa:{self.schema}",))

    def write(
        self,
        cur: psycopg.Cursor[Any],
        snap: store.Snapshot,
        old_row: dict[str, Any] | None,
        previous: store.Snapshot | None,
    ) -> None:
        """Make the tables hold exactly `snap`, touching only documents that changed."""
        tokenizer = Tokenizer()
        m = snap.manifest
        context = context_from_dict(m.context)
        same_settings = (
            old_row is not None
            and previous is not None
            and (
                old_row["model"] == m.model
                and old_row["backend"] == m.backend
                and int(old_row["dim"]) == m.dim
                and dict(old_row["chunker"]) == m.chunker
                and dict(old_row["context"]) == m.context
                and old_row["tokenizer"] == tokenizer.fingerprint()
            )
        )
        old_docs = previous.manifest.docs if (same_settings and previous) else {}
        if not same_settings:
            self.create(cur, m.dim, bulk=True)
        doc_ids = list(snap.transcripts)
        rows_of: dict[str, list[int]] = {}
        for i, p in enumerate(snap.passages):
            rows_of.setdefault(p.doc_id, []).append(i)
        removed = [d for d in old_docs if d not in m.docs]
        rewrite = [
            d for d in doc_ids if d not in old_docs or old_docs[d]["hash"] != m.docs[d]["hash"]
        ]
        renew = set(rewrite)
        kept = [d for d in doc_ids if d not in renew and d in old_docs]
        gone = removed + [d for d in rewrite if d in old_docs]
        if gone:
            cur.execute(self.q("DELETE FROM {s}.documents WHERE doc_id = ANY(%s)"), (gone,))
        for d in kept:  # the same content, perhaps from a moved or re-read file
            info, was = m.docs[d], old_docs[d]
            if (info.get("source"), info.get("file_hash"), info.get("parser", 1)) != (
                was.get("source"),
                was.get("file_hash"),
                was.get("parser"),
            ):
                cur.execute(
                    self.q(
                        "UPDATE {s}.documents SET source = %s, file_hash = %s, parser = %s "
                        "WHERE doc_id = %s"
                    ),
                    (info.get("source"), info.get("file_hash"), info.get("parser", 1), d),
                )
        if rewrite:
            self._insert(
                cur,
                snap,
                rewrite,
                rows_of,
                {d: i for i, d in enumerate(doc_ids)},
                context,
                tokenizer,
            )
        if not same_settings:
            self.add_constraints(cur)
        # Built after a bulk load (one graph build beats 30k inserts into it), kept after that.
        cur.execute(
            self.q(
                "CREATE INDEX IF NOT EXISTS passages_search_hnsw ON {s}.passages "
                "USING hnsw (search_vec vector_ip_ops)"
            )
        )
        cur.execute(self.q("SELECT count(*), coalesce(sum(dl), 0) FROM {s}.passages"))
        n, total = cur.fetchone()  # type: ignore[misc]
        generation = int(old_row.get("generation") or 0) + 1 if old_row is not None else 1
        cur.execute(self.q("DELETE FROM {s}.manifest"))
        cur.execute(
            self.q(
                "INSERT INTO {s}.manifest (schema_version, model, backend, dim, chunker, context, "
                "tokenizer, aliases, created, generation, n_passages, total_len) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                SCHEMA_VERSION,
                m.model,
                m.backend,
                m.dim,
                json.dumps(m.chunker),
                json.dumps(m.context),
                tokenizer.fingerprint(),
                None if m.aliases is None else json.dumps(m.aliases),
                m.created,
                generation,
                n,
                total,
            ),
        )

    def _insert(
        self,
        cur: psycopg.Cursor[Any],
        snap: store.Snapshot,
        docs: list[str],
        rows_of: dict[str, list[int]],
        doc_pos: dict[str, int],
        context: ContextSettings,
        tokenizer: Tokenizer,
    ) -> None:
        m = snap.manifest
        with cur.copy(
            self.q(
                "COPY {s}.documents (doc_id, hash, source, file_hash, parser, n_passages, date, "
                "title_norm, transcript, doc_key, doc_vec) FROM STDIN (FORMAT BINARY)"
            )
        ) as copy:
            copy.set_types(DOCUMENT_TYPES)
            for d in docs:
                t, info, i = snap.transcripts[d], m.docs[d], doc_pos[d]
                key = snap.doc_keys[i]
                copy.write_row(
                    (
                        d,
                        info["hash"],
                        info.get("source"),
                        info.get("file_hash"),
                        info.get("parser", 1),
                        info.get("passages", 0),
                        t.date,
                        _norm(t.title or ""),
                        json.dumps(store.transcript_to_dict(t), ensure_ascii=False),
                        key,
                        _f32(snap.doc_vectors[i]) if key else None,
                    )
                )
        rows = [r for d in docs for r in rows_of.get(d, [])]
        if not rows:
            return
        cur.execute(
            self.q(
                "SELECT nextval(pg_get_serial_sequence('{s}.passages', 'id')) "
                "FROM generate_series(1, %s)"
            ),
            (len(rows),),
        )
        ids = [int(r[0]) for r in cur.fetchall()]
        texts: dict[int, str] = {}
        for d in docs:
            own = rows_of.get(d, [])
            for r, text in zip(
                own,
                index_texts(snap.transcripts[d], [snap.passages[r] for r in own], context),
                strict=True,
            ):
                texts[r] = text
        tokens = {r: tokenizer(texts[r]) for r in rows}
        ordinal: dict[int, int] = {}
        for d in docs:
            for o, r in enumerate(rows_of.get(d, [])):
                ordinal[r] = o
        assert snap.search_vectors is not None and snap.sentences is not None
        with cur.copy(
            self.q(
                "COPY {s}.passages (id, doc_id, ord, turn, start_off, end_off, speaker, date, "
                "title_norm, key, vec, search_vec, dl) FROM STDIN (FORMAT BINARY)"
            )
        ) as copy:
            copy.set_types(PASSAGE_TYPES)
            for pid, r in zip(ids, rows, strict=True):
                p = snap.passages[r]
                copy.write_row(
                    (
                        pid,
                        p.doc_id,
                        ordinal[r],
                        p.turn,
                        p.start,
                        p.end,
                        p.speaker,
                        p.date,
                        _norm(p.title or ""),
                        snap.keys[r],
                        _f32(snap.vectors[r]),
                        _f32(snap.search_vectors[r]),
                        len(tokens[r]),
                    )
                )
        # In term order: a term's postings then share heap pages (a query reads few pages).
        postings = sorted(
            (term, pid, tf, len(tokens[r]))
            for pid, r in zip(ids, rows, strict=True)
            for term, tf in Counter(tokens[r]).items()
        )
        with cur.copy(
            self.q("COPY {s}.postings (term, passage_id, tf, dl) FROM STDIN (FORMAT BINARY)")
        ) as copy:
            copy.set_types(["text", "int8", "int4", "int4"])
            for item in postings:
                copy.write_row(item)
        with cur.copy(
            self.q(
                "COPY {s}.sentences (passage_id, ord, start_off, end_off, vec) "
                "FROM STDIN (FORMAT BINARY)"
            )
        ) as copy:
            copy.set_types(["int8", "int4", "int4", "int4", "halfvec"])
            for pid, r in zip(ids, rows, strict=True):
                spans, vecs = snap.sentences.of(r)
                vecs = np.asarray(vecs, dtype=np.float16)
                for j, ((s, e), v) in enumerate(zip(spans.tolist(), vecs, strict=True)):
                    copy.write_row((pid, j, s, e, HalfVector(v)))


# --- search --------------------------------------------------------------------------------------


class PgRetriever:
    """Search one database generation: candidates and their scores from SQL, then today's fusion
    and priors (`qa.fusion.Ranker`) on them. Exposes what `TranscriptQA` reads of a Retriever."""

    def __init__(
        self, db: Database, snapshot: PgSnapshot, encode: Any, config: SearchConfig
    ) -> None:
        if config.neighbour or config.region:
            raise QueryError(
                "SearchConfig neighbour/region smoothing is not available on PostgreSQL yet"
            )
        self.db = db
        self.snapshot = snapshot
        self.encode = encode
        self.config = config
        self.passages = snapshot.passages
        self.filters = Filters(snapshot)
        self._passage_rows = PassageRows(snapshot.passages)
        dim = int(snapshot.manifest.dim)
        self.adapter: QueryAdapter | None = (
            bundled_adapter(snapshot.manifest.model, dim) if config.query_adapter and dim else None
        )
        self.ranker = Ranker(
            snapshot, np.zeros((0, dim), dtype=np.float32), config, self.filters, self._passage_rows
        )
        # Passage id -> its sentences (ids are never reused, so entries never go stale).
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cache_lock = threading.Lock()

    # -- the WHERE clause ------------------------------------------------------------------

    def where(
        self,
        speaker: str | Iterable[str] | None,
        since: dt.date | str | None,
        until: dt.date | str | None,
        doc: str | Iterable[str] | None,
        title: str | None,
    ) -> tuple[str, dict[str, Any], bool] | None:
        """(SQL condition on `p`, its parameters, filtered?) or None when nothing can pass."""
        parts: list[str] = []
        params: dict[str, Any] = {}
        if speaker:
            names = [speaker] if isinstance(speaker, str) else list(speaker)
            wanted = sorted(
                {
                    c
                    for c in map(self.filters.resolve_speaker, names)
                    if c in self.filters.speaker_pos
                }
            )
            if not wanted:
                return None
            parts.append("p.speaker = ANY(%(speakers)s)")
            params["speakers"] = wanted
        start, end = check_date(since, "since"), check_date(until, "until")
        if start and end and start > end:
            raise QueryError(f"since={start} is after until={end}")
        if start:
            parts.append("p.date >= %(since)s")
            params["since"] = start
        if end:
            parts.append("p.date <= %(until)s")
            params["until"] = end
        ids: list[str] | None = None
        if doc:
            ids = [str(d) for d in ([doc] if isinstance(doc, str) else doc)]
        if title:
            # Titles are the documents': matched here, on this generation's titles, the filter
            # is a document list the (doc_id, ord) index serves. A title test in SQL had no
            # index to use and read every passage row (vectors and all): 123 ms at 100k.
            titled = [self.filters.doc_ids[i] for i in sorted(self.filters.titled(title))]
            if ids is not None:
                wanted = set(titled)
                titled = [d for d in ids if d in wanted]
            ids = titled
            if not ids:
                return None
        if ids is not None:
            parts.append("p.doc_id = ANY(%(docs)s)")
            params["docs"] = ids
        return (" AND ".join(parts) or "true"), params, bool(parts)

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        speaker: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        doc: str | Iterable[str] | None = None,
        title: str | None = None,
        mode: str = "hybrid",
        query_vector: np.ndarray | None = None,
        adapt: bool = True,
    ) -> list[Hit]:
        check_search(query, k, mode)
        clause = self.where(speaker, since, until, doc, title)
        if clause is None or not self.passages:
            return []
        qv: np.ndarray | None = None
        if mode in ("hybrid", "dense"):
            qv = query_vector if query_vector is not None else self.encode([query])[0]
            qv = np.asarray(qv, dtype=np.float32)
            if self.adapter is not None and adapt:
                qv = self.adapter(qv)
        terms: list[str] = []
        if mode in ("hybrid", "bm25"):
            terms = corrected_tokens(query, self.snapshot.lexical.tokenizer, self)
        count = max(self.config.candidates, k)
        # How many passages pass (in memory, from the same lookups): only to choose the plan.
        allowed = self.filters.allowed(
            speaker=speaker, since=since, until=until, doc=doc, title=title
        )
        n_allowed = len(self.passages) if allowed is None else len(allowed)
        if n_allowed == 0:
            return []
        exact = len(self.passages) < ANN_THRESHOLD or (
            allowed is not None and n_allowed <= EXACT_ROWS
        )
        found = self._candidates(clause, qv, Counter(terms), count, mode, exact)
        if not found:
            return []
        rows = np.asarray([self.snapshot.row_of[pid] for pid, _, _ in found], dtype=np.int64)
        order = np.argsort(rows, kind="stable")  # np.unique's order, as the folder store
        cands = rows[order]
        dense = (
            np.asarray([found[i][1] for i in order], dtype=np.float32) if qv is not None else None
        )
        bm25 = (
            np.asarray([found[i][2] for i in order], dtype=np.float32) if mode != "dense" else None
        )
        if mode == "dense":
            fused = dense
        elif mode == "bm25":
            fused = bm25
        else:
            assert dense is not None and bm25 is not None
            fused = self.ranker._fuse(dense, bm25)
        assert fused is not None
        fused = np.asarray(fused, dtype=np.float64)
        if mode == "hybrid":
            fused = self.ranker._adjust(query, cands, fused)
        hits = self.ranker._hits(cands, fused, dense, bm25, k)
        self._prefetch(hits[:PREFETCH_HITS])
        return hits

    def _candidates(
        self,
        clause: tuple[str, dict[str, Any], bool],
        qv: np.ndarray | None,
        terms: Counter[str],
        count: int,
        mode: str,
        exact: bool,
    ) -> list[tuple[int, float, float]]:
        """(passage id, dense score, BM25 score) of each mode's best `count` that pass."""
        cond, params, filtered = clause
        params = {**params, "n": count}
        conn = self.db.reader()
        q = self.db.q
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(q("SELECT generation FROM {s}.manifest"))
            row = cur.fetchone()
            if row is None or int(row[0]) != self.snapshot.generation:
                raise _Stale()
            dense_ids: list[int] = []
            if qv is not None:
                params["qv"] = _vec(qv)
                dense_ids = self._dense(cur, cond, params, exact)
                plan = "exact" if exact else "hnsw"
                if not exact and len(dense_ids) < count:
                    # The graph can lose selective filters: exact, so none are missing.
                    dense_ids = self._dense(cur, cond, params, True)
                    plan = "hnsw+exact"
                PLANS[plan] += 1
            if mode == "dense":
                cur.execute(
                    q(
                        "SELECT p.id, -(p.search_vec <#> %(qv)s::vector), 0 FROM {s}.passages p "
                        "WHERE p.id = ANY(%(ids)s)"
                    ),
                    {**params, "ids": dense_ids},
                )
                return [(int(a), float(b), 0.0) for a, b, _ in cur.fetchall()]
            params["terms"] = list(terms)
            params["qtf"] = [terms[t] for t in terms]
            params["ids"] = dense_ids
            params["k1"] = BM25_K1
            params["b"] = BM25_B
            dense_col = "-(p.search_vec <#> %(qv)s::vector)" if qv is not None else "0"
            # The filters, inside the BM25 query (df above counts every passage: global IDF).
            join = f"JOIN {{s}}.passages p ON p.id = h.id WHERE {cond}" if filtered else ""
            cur.execute(
                q(
                    f"""
                WITH qt AS (
                    SELECT * FROM unnest(%(terms)s::text[], %(qtf)s::int[]) AS qt(term, qtf)),
                hits AS MATERIALIZED (
                    SELECT o.passage_id AS id, o.term, o.tf, o.dl, qt.qtf
                    FROM qt JOIN {{s}}.postings o ON o.term = qt.term),
                df AS (SELECT term, count(*)::float8 AS df FROM hits GROUP BY term),
                st AS (
                    SELECT n_passages::float8 AS n,
                           CASE WHEN n_passages > 0 THEN total_len::float8 / n_passages
                                ELSE 1 END AS avgdl
                    FROM {{s}}.manifest),
                bm AS (
                    SELECT h.id,
                           sum(h.qtf * ln(1 + (st.n - df.df + 0.5) / (df.df + 0.5))
                               * h.tf / (h.tf + %(k1)s * (1 - %(b)s + %(b)s * h.dl / st.avgdl)))
                               AS score
                    FROM hits h JOIN df ON df.term = h.term CROSS JOIN st {join}
                    GROUP BY h.id),
                top AS (SELECT id FROM bm WHERE score > 0 ORDER BY score DESC, id LIMIT %(n)s),
                cands AS (SELECT unnest(%(ids)s::bigint[]) AS id UNION SELECT id FROM top)
                SELECT c.id, {dense_col}, coalesce(bm.score, 0)
                FROM cands c JOIN {{s}}.passages p ON p.id = c.id LEFT JOIN bm ON bm.id = c.id
                """
                ),
                params,
            )
            return [(int(a), float(b), float(c)) for a, b, c in cur.fetchall()]

    def _dense(
        self, cur: psycopg.Cursor[Any], cond: str, params: dict[str, Any], exact: bool
    ) -> list[int]:
        q = self.db.q
        if exact:
            # "+ 0" keeps the planner off the HNSW index: every passing row is scored.
            order = "(p.search_vec <#> %(qv)s::vector) + 0, p.id"
        else:
            cur.execute(
                sql.SQL("SET LOCAL hnsw.iterative_scan = {}").format(sql.Literal(ITERATIVE_SCAN))
            )
            cur.execute(
                sql.SQL("SET LOCAL hnsw.ef_search = {}").format(
                    sql.Literal(min(1000, max(HNSW_EF_SEARCH, int(params["n"]))))
                )
            )
            order = "p.search_vec <#> %(qv)s::vector"
        forced = FORCE_ANN_PLAN and not exact
        if forced:
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("SET LOCAL enable_bitmapscan = off")
            cur.execute("SET LOCAL enable_sort = off")
        cur.execute(
            q(f"SELECT p.id FROM {{s}}.passages p WHERE {cond} ORDER BY {order} LIMIT %(n)s"),
            params,
        )
        found = [int(r[0]) for r in cur.fetchall()]
        if forced:
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                cur.execute(f"SET LOCAL {setting} = on")
        return found

    # -- stored sentences ------------------------------------------------------------------

    def passages_of_turn(self, doc_id: str, turn: int) -> list[Passage]:
        return [self.passages[r] for r in self._passage_rows()[1].get((doc_id, turn), [])]

    def _neighbourhood(self, rows: Iterable[int]) -> set[int]:
        """`rows` and the passages of the turns before and after theirs (what `ask()` reads)."""
        of_turn = self._passage_rows()[1]
        out = set(rows)
        for r in list(out):
            p = self.passages[r]
            for turn in (p.turn - 1, p.turn, p.turn + 1):
                out.update(of_turn.get((p.doc_id, turn), []))
        return out

    def _prefetch(self, hits: list[Hit]) -> None:
        """Read the sentences `ask()` will score for these hits in one query, not one each."""
        by_start = self._passage_rows()[0]
        rows = [by_start.get((h.passage.doc_id, h.passage.start)) for h in hits]
        wanted = [
            r
            for r in self._neighbourhood(r for r in rows if r is not None)
            if int(self.snapshot.ids[r]) not in self._cache
        ]
        if wanted:
            self._fetch(wanted)

    def _fetch(self, rows: list[int]) -> None:
        ids = [int(self.snapshot.ids[r]) for r in rows]
        conn = self.db.reader()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                self.db.q(
                    "SELECT passage_id, start_off, end_off, vec FROM {s}.sentences "
                    "WHERE passage_id = ANY(%s) ORDER BY passage_id, ord"
                ),
                (ids,),
                binary=True,  # pgvector's binary loader: numpy from bytes, no text parsing
            )
            got: dict[int, list[Any]] = {}
            for pid, s, e, v in cur.fetchall():
                got.setdefault(int(pid), []).append(((s, e), _array(v, np.float32)))
        dim = int(self.snapshot.manifest.dim)
        with self._cache_lock:
            if len(self._cache) > SENTENCE_CACHE:
                self._cache.clear()
            for pid in ids:
                items = got.get(pid, [])
                spans = np.asarray([s for s, _ in items], dtype=np.int64).reshape(-1, 2)
                vecs = np.vstack([v for _, v in items]) if items else np.zeros((0, dim), np.float32)
                spans.setflags(write=False)
                vecs.setflags(write=False)
                self._cache[pid] = (spans, vecs)

    def _sentences(self, rows: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(spans, float32 vectors) of each row's passage: from the cache, else the database
        (with the neighbouring turns, which the answerer reads next)."""
        missing = [r for r in rows if int(self.snapshot.ids[r]) not in self._cache]
        if missing:
            self._fetch(sorted(self._neighbourhood(missing)))
        out = []
        for r in rows:
            got = self._cache.get(int(self.snapshot.ids[r]))
            if got is None:  # cleared meanwhile by another thread: read just these
                self._fetch([r])
                got = self._cache[int(self.snapshot.ids[r])]
            out.append(got)
        return out

    def passage_sentences(self, passage: Passage) -> tuple[np.ndarray, np.ndarray] | None:
        row = self._passage_rows()[0].get((passage.doc_id, passage.start))
        if row is None or self.passages[row].end != passage.end:
            return None
        spans, vectors = self._sentences([row])[0]
        return spans, vectors.copy()  # as the folder store: a fresh float32 array

    def turn_sentences(self, doc_id: str, turn: int) -> tuple[np.ndarray, np.ndarray] | None:
        rows = self._passage_rows()[1].get((doc_id, turn))
        if not rows:
            return None
        parts = self._sentences(rows)
        spans = np.concatenate([s for s, _ in parts])
        vectors = np.concatenate([v for _, v in parts])
        _, first = np.unique(spans[:, 0], return_index=True)
        return spans[first], vectors[first]

    def present(self, tokens: list[str]) -> set[str]:
        """`qa.lexical.LexicalIndex.present` from the postings (one lookup per term)."""
        if not tokens:
            return set()
        conn = self.db.reader()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                self.db.q(
                    "SELECT w.term FROM unnest(%s::text[]) AS w(term) WHERE EXISTS "
                    "(SELECT 1 FROM {s}.postings o WHERE o.term = w.term)"
                ),
                (list(tokens),),
            )
            return {str(term) for (term,) in cur.fetchall()}

    def frequencies(self, tokens: list[str]) -> dict[str, int]:
        """`qa.lexical.LexicalIndex.frequencies` from the postings (one query)."""
        if not tokens:
            return {}
        conn = self.db.reader()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                self.db.q(
                    "SELECT term, count(*) FROM {s}.postings WHERE term = ANY(%s) GROUP BY term"
                ),
                (list(tokens),),
            )
            return {str(term): int(n) for term, n in cur.fetchall()}

    def knows(self, word: str, typos: bool = True) -> bool:
        """`qa.lexical.LexicalIndex.knows` against the postings' vocabulary."""
        tokenize = self.snapshot.lexical.tokenizer
        tokens = sorted(set(tokenize(word)))
        if tokens and self.present(tokens) == set(tokens):
            return True
        low = word.lower()
        if not typos or len(low) < 7 or not low.isalpha():
            return False
        edits = sorted({t for e in _one_edit(low) for t in tokenize(e)})
        conn = self.db.reader()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                self.db.q("SELECT EXISTS (SELECT 1 FROM {s}.postings WHERE term = ANY(%s))"),
                (edits,),
            )
            return bool(cur.fetchone()[0])  # type: ignore[index]


class _Stale(Exception):
    """The database moved to another generation since this process read it."""


# --- the facade --------------------------------------------------------------------------------


class _DbShelf:
    """The uploads table as `qa.uploads.store_on` sees it: files are kept in `rows` and
    written by the same transaction as the index that holds them."""

    def __init__(self, db: Database, cur: psycopg.Cursor[Any]) -> None:
        self._taken, self._used = db.upload_usage(cur)
        self.folder = UPLOADS_SOURCE
        self.rows: list[tuple[str, str, bytes]] = []

    def taken(self) -> set[str]:
        return set(self._taken)

    def used_bytes(self) -> int:
        return self._used

    def put(self, target: Path, data: bytes) -> None:
        self.rows.append((target.stem, target.name, data))


def _is_upload(t: Transcript) -> bool:
    return bool(t.source) and Path(str(t.source)).parent == UPLOADS_SOURCE


def stored_uploads(
    db: Database, cur: psycopg.Cursor[Any]
) -> tuple[dict[str, Transcript], dict[str, str | None]]:
    """The uploads table's transcripts, parsed again, and their files' hashes (a rebuild reads
    them as a folder build reads `<index>/uploads/`)."""
    out: dict[str, Transcript] = {}
    hashes: dict[str, str | None] = {}
    for name, text in db.uploads(cur):
        try:
            t = parse_text(UPLOADS_SOURCE / name, text)
        except TranscriptError as exc:  # parsed once; a stricter parser may refuse it now
            log.warning("Stored upload %s no longer parses, left out: %s", name, exc)
            continue
        t.source = str(UPLOADS_SOURCE / name)
        out[t.doc_id] = t
        hashes[t.doc_id] = uploads.digest(text.encode("utf-8"))
    unify_speakers(list(out.values()))
    return out, hashes


class PostgresQA(TranscriptQA):
    """`TranscriptQA` whose index is a PostgreSQL schema (see the module docstring)."""

    def __init__(
        self,
        uri: str,
        snapshot: PgSnapshot,
        encoder: Encoder,
        *,
        search_config: SearchConfig = DEFAULT_SEARCH,
        answer_settings: AnswerSettings | None = None,
    ) -> None:
        self.index_dir = location_repr(uri)  # type: ignore[assignment]
        self.uri = uri
        self.db = Database(uri)
        self.encoder = encoder
        self.search_config = search_config
        self.answer_settings = answer_settings or AnswerSettings()
        self._retriever = PgRetriever(self.db, snapshot, self.encode, search_config)  # type: ignore[assignment]
        self._write_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.last_update_stats = UpdateStats(passages=len(snapshot.passages))

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def build(  # type: ignore[override]
        cls,
        corpus_path: PathLike | Sequence[PathLike],
        index_dir: str,
        model: str | None = None,
        show_progress: bool = True,
        *,
        backend: str | None = None,
        chunk_settings: ChunkSettings = DEFAULT_SETTINGS,
        context: ContextSettings = DEFAULT_CONTEXT,
        search_config: SearchConfig = DEFAULT_SEARCH,
        answer_settings: AnswerSettings | None = None,
        aliases: AliasSpec = None,
    ) -> PostgresQA:
        started = time.perf_counter()
        given = None if aliases is None else as_alias_table(aliases)
        db = Database(index_dir)
        conn = db.connect()
        try:
            with conn.transaction(), conn.cursor() as cur:
                db.lock(cur)
                row = db.read_manifest_row(cur) if db.has_manifest(cur) else None
                loaded = db.full(cur)
                previous = loaded[0] if loaded else None
                reason: str | None = None
                if row is not None and previous is None:
                    reason = (
                        f"the index has schema version {row['schema_version']}, "
                        f"this version writes {SCHEMA_VERSION}"
                    )
                backend = backends.asked(backend)
                if backend is None and previous is not None:
                    backend = _runnable_or_auto(previous.manifest.backend)
                encoder = Encoder(model, backend=backend)
                if previous is not None:
                    reason = _incompatibility(
                        previous.manifest, encoder.name, chunk_settings, encoder.backend
                    )
                    if reason:
                        log.warning("Rebuilding %s from scratch: %s", db.schema, reason)
                        if given is None and previous.manifest.aliases is not None:
                            given = as_alias_table(previous.manifest.aliases)
                        previous = None
                transcripts, skipped, file_hashes = _scan(corpus_path, previous, show_progress)
                added, added_hashes = stored_uploads(db, cur)
                if added:  # uploads keep their ids; a corpus file of that name is renamed
                    transcripts = uploads.rename_clashes(transcripts, file_hashes, added)
                    transcripts.update(added)
                    file_hashes.update(added_hashes)
                snapshot, stats = _make_snapshot(
                    transcripts,
                    previous,
                    encoder,
                    chunk_settings,
                    context,
                    show_progress,
                    file_hashes,
                    aliases=given,
                )
                stats.rebuilt = reason is not None
                stats.reason = reason
                stats.skipped = skipped
                if stats.written or previous is None:
                    db.write(cur, snapshot, row, previous)
                    stats.written = True
            if stats.written:
                db.tidy(conn)
            with conn.transaction(), conn.cursor() as cur:
                light = db.light(cur)
        finally:
            conn.close()
        qa = cls(
            index_dir, light, encoder, search_config=search_config, answer_settings=answer_settings
        )
        stats.seconds = time.perf_counter() - started
        qa.last_update_stats = stats
        return qa

    @classmethod
    def open(  # type: ignore[override]
        cls,
        index_dir: str,
        *,
        search_config: SearchConfig = DEFAULT_SEARCH,
        answer_settings: AnswerSettings | None = None,
    ) -> PostgresQA:
        db = Database(index_dir)
        conn = db.connect()
        try:
            with conn.transaction(), conn.cursor() as cur:
                light = db.light(cur)
        finally:
            conn.close()
        encoder = Encoder(light.manifest.model, backend=_runnable_or_auto(light.manifest.backend))
        return cls(
            index_dir, light, encoder, search_config=search_config, answer_settings=answer_settings
        )

    # -- changes ---------------------------------------------------------------------------

    def _change(self, plan: Any, show_progress: bool) -> UpdateStats | None:
        """Run `plan(old snapshot, cursor) -> (transcripts, hashes, aliases, skipped, after)`
        and write the result, then `after(cursor)` if given, all in one transaction under the
        writers' lock. A plan that returns None changes nothing (and None is returned)."""
        started = time.perf_counter()
        with self._write_lock:
            conn = self.db.connect()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    self.db.lock(cur)
                    loaded = self.db.full(cur)
                    if loaded is None:
                        self.db.check(self.db.read_manifest_row(cur))
                        raise IndexLoadError(f"The index at {self.index_dir} cannot be read.")
                    old, row = loaded
                    planned = plan(old, cur)
                    if planned is None:
                        return None
                    keep, hashes, given, skipped, after = planned
                    chunker = ChunkSettings(**old.manifest.chunker)
                    context = context_from_dict(old.manifest.context)
                    snapshot, stats = _make_snapshot(
                        keep, old, self.encoder, chunker, context, show_progress, hashes, given
                    )
                    stats.skipped = skipped
                    if stats.written:
                        self.db.write(cur, snapshot, row, old)
                    if after is not None:
                        after(cur)
                if stats.written:
                    self.db.tidy(conn)
                with conn.transaction(), conn.cursor() as cur:
                    light = self.db.light(cur)
            finally:
                conn.close()
            self._retriever = PgRetriever(self.db, light, self.encode, self.search_config)  # type: ignore[assignment]
            stats.seconds = time.perf_counter() - started
            self.last_update_stats = stats
            return stats

    def update(  # type: ignore[override]
        self,
        paths: PathLike | Sequence[PathLike],
        show_progress: bool = True,
        *,
        aliases: AliasSpec = None,
    ) -> UpdateStats:
        given = None if aliases is None else as_alias_table(aliases)

        def plan(old: store.Snapshot, cur: Any) -> Any:
            scanned, skipped, file_hashes = _scan(paths, old, show_progress)
            roots = [Path(p).resolve() for p in _as_list(paths)]
            keep, hashes = updated_documents(old, scanned, file_hashes, roots, _is_upload)
            return keep, hashes, given, skipped, None

        stats = self._change(plan, show_progress)
        assert stats is not None
        return stats

    def remove(self, doc_id: str) -> bool:
        if doc_id not in self.snapshot.transcripts and doc_id not in self._fresh().transcripts:
            return False

        def plan(old: store.Snapshot, cur: Any) -> Any:
            keep = {d: t for d, t in old.transcripts.items() if d != doc_id}
            hashes = {d: old.manifest.docs[d].get("file_hash") for d in keep}
            gone = old.transcripts.get(doc_id)
            after = (
                (lambda c: self.db.drop_upload(c, doc_id)) if gone and _is_upload(gone) else None
            )
            return keep, hashes, None, [], after

        self._change(plan, False)
        return True

    def add_files(  # type: ignore[override]
        self,
        files: Sequence[PathLike | tuple[PathLike, str]],
        show_progress: bool = False,
        progress: uploads.Progress | None = None,
    ) -> uploads.AddResult:
        """`TranscriptQA.add_files` on the database: each good file's text goes into the
        uploads table in the transaction that indexes it, so every server sharing the
        database has it, and so does every rebuild."""
        items = uploads.as_uploads(files)
        result = uploads.AddResult()

        def plan(old: store.Snapshot, cur: Any) -> Any:
            hashes = {d: info.get("file_hash") for d, info in old.manifest.docs.items()}
            shelf = _DbShelf(self.db, cur)
            batch = uploads.store_on(
                shelf,
                items,
                old.transcripts,
                hashes,
                None if progress is None else lambda f, m: progress(0.2 * f, m),
            )
            result.skipped = batch.skipped
            if not batch.transcripts:
                return None
            if progress is not None:
                progress(0.2, f"Indexing {len(batch.transcripts)} transcript(s)")
            result.added = list(batch.transcripts)
            hashes.update(batch.hashes)
            keep = {**old.transcripts, **batch.transcripts}
            return (
                keep,
                hashes,
                None,
                list(batch.skipped),
                lambda c: self.db.put_uploads(c, shelf.rows),
            )

        result.stats = self._change(plan, show_progress)
        if result.stats is None:
            result.added = []
        elif progress is not None:
            progress(1.0, "Done")
        return result

    def _uploaded(self, t: Transcript) -> bool:
        return _is_upload(t)

    # -- queries ---------------------------------------------------------------------------

    def _fresh(self) -> PgSnapshot:
        """Our snapshot, re-read if another process wrote a new generation."""
        with self._reload_lock:
            conn = self.db.reader()
            with conn.transaction(), conn.cursor() as cur:
                light = self.db.light(cur)
            if light.generation != self.snapshot.generation:
                self._retriever = PgRetriever(self.db, light, self.encode, self.search_config)  # type: ignore[assignment]
            return self.snapshot  # type: ignore[return-value]

    def search(self, query: str, k: int = 10, *args: Any, **kwargs: Any) -> list[Hit]:  # type: ignore[override]
        for _ in range(3):
            try:
                return super().search(query, k, *args, **kwargs)
            except _Stale:  # another process wrote a new generation: read it, search again
                self._fresh()
        return super().search(query, k, *args, **kwargs)

    def knows(self, word: str) -> bool:
        return bool(self.snapshot.passages) and self._retriever.knows(word)  # type: ignore[attr-defined]

    def size_bytes(self) -> int:
        """What the index's tables and their indexes take on the server's disk."""
        conn = self.db.reader()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm')",
                (self.db.schema,),
            )
            return int(cur.fetchone()[0])  # type: ignore[index]

    def verify(self) -> int:
        """`tqa info --verify` for a database: check that the tables agree with each other and
        with the manifest (BM25's passage count and total length, each document's passage
        count, every passage's and sentence's offsets inside its transcript and passage, one
        set of postings per passage). Returns the number of rows checked; raises
        IndexLoadError naming the first disagreement."""
        conn = self.db.reader()
        with conn.transaction(), conn.cursor() as cur:
            row = self.db.check(self.db.read_manifest_row(cur))
            checks = [
                (
                    "the manifest's passage count and total length",
                    "SELECT count(*) FILTER (WHERE NOT ok) FROM (SELECT "
                    "(SELECT count(*) FROM {s}.passages) = %(n)s AND "
                    "(SELECT coalesce(sum(dl), 0) FROM {s}.passages) = %(total)s AS ok) x",
                ),
                (
                    "documents whose passage count disagrees with their passages",
                    "SELECT count(*) FROM {s}.documents d WHERE d.n_passages <> "
                    "(SELECT count(*) FROM {s}.passages p WHERE p.doc_id = d.doc_id)",
                ),
                (
                    "passages whose offsets fall outside their transcript",
                    "SELECT count(*) FROM {s}.passages p JOIN {s}.documents d USING (doc_id) "
                    "WHERE p.start_off < 0 OR p.end_off <= p.start_off OR p.end_off > "
                    "char_length((d.transcript::jsonb)->>'text')",
                ),
                (
                    "sentences outside their passage",
                    "SELECT count(*) FROM {s}.sentences t JOIN {s}.passages p "
                    "ON p.id = t.passage_id WHERE t.start_off < p.start_off "
                    "OR t.end_off > p.end_off OR t.end_off <= t.start_off",
                ),
                (
                    "passages whose postings disagree with their length",
                    "SELECT count(*) FROM {s}.passages p WHERE p.dl <> coalesce("
                    "(SELECT sum(tf) FROM {s}.postings o WHERE o.passage_id = p.id), 0)",
                ),
            ]
            for what, query in checks:
                cur.execute(self.db.q(query), {"n": row["n_passages"], "total": row["total_len"]})
                bad = int(cur.fetchone()[0])  # type: ignore[index]
                if bad:
                    raise IndexLoadError(
                        f"The index at {self.index_dir} is damaged: {bad} {what}. "
                        + rebuild_hint(self.uri)
                    )
            cur.execute(
                self.db.q(
                    "SELECT (SELECT count(*) FROM {s}.documents) + (SELECT count(*) FROM "
                    "{s}.passages) + (SELECT count(*) FROM {s}.sentences)"
                )
            )
            return int(cur.fetchone()[0])  # type: ignore[index]

    def __repr__(self) -> str:
        snap = self.snapshot
        return (
            f"PostgresQA({self.index_dir!r}: {len(snap.transcripts)} documents, "
            f"{len(snap.passages)} passages, model {snap.manifest.model})"
        )


def index_exists(uri: str) -> bool:
    """Whether the schema of `uri` holds an index (its manifest table), without reading it."""
    db = Database(uri)
    conn = db.connect(register=False)
    try:
        with conn.transaction(), conn.cursor() as cur:
            return db.has_manifest(cur)
    finally:
        conn.close()


def copy_index(index_dir: PathLike, uri: str) -> int:
    """Write a folder index into the database as it is (no re-embedding), replacing whatever
    the schema held, in one transaction. Returns the number of passages written.

    For trying the PostgreSQL store on an existing index and for comparing the two stores on
    the same vectors (benchmarks/bench_postgres.py)."""
    snapshot = store.load(index_dir)
    if snapshot.search_vectors is None or snapshot.sentences is None:
        raise IndexLoadError(
            f"The index at {index_dir} predates stored search and sentence vectors; "
            "update it with `tqa index` first."
        )
    db = Database(uri)
    conn = db.connect()
    try:
        with conn.transaction(), conn.cursor() as cur:
            db.lock(cur)
            row = db.read_manifest_row(cur) if db.has_manifest(cur) else None
            db.write(cur, snapshot, row, None)
        db.tidy(conn)
    finally:
        conn.close()
    return len(snapshot.passages)


__all__ = [
    "ANN_THRESHOLD",
    "SCHEMA_VERSION",
    "Database",
    "PgRetriever",
    "PostgresQA",
    "copy_index",
    "index_exists",
    "parse_location",
]
