"""The index on Milvus: the same chunks, BM25 and embedding searches as `qa.index.store`, in three collections.

    qa_chunks      one row per chunk: id, text, indexed (the text with its title and heading,
                   qa.ingest.chunking.indexed_text: analysed, and a BM25 Function fills `sparse` from it),
                   source, start, end, paragraph, page, dense (unit embedding, inner product)
    qa_windows     one row per dense window of a chunk (qa.ingest.chunking.chunk_windows): chunk (its id),
                   source, dense; a chunk's dense score is the best of its own and its windows'
    qa_documents   row 0 is the manifest (format, model, chunking); then per document one or more
                   rows holding its source, title, sha256, chunk count and a slice of the JSON of
                   its text with paragraph, page and heading spans

Each document version owns one contiguous run of ids: its document rows, then its chunks (and the
windows naming them). An update deletes a changed or removed document's run and writes a new one;
unchanged documents are untouched.

`uri` is a path ending in ".db" for milvus-lite (embedded, one process at a time) or the address of
a Milvus server, e.g. http://host:19530, which any number of readers and one writer share. Every call
to a server has a time limit, and a failed call ends in `MilvusUnavailable`, one line naming the
server, rather than a hang or pymilvus's traceback. Fusion stays in `qa.retrieve`, so answers are
the same whichever index serves them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from qa.index.backend import BuildReport, DocumentInfo, IndexUnusable, diff_sources, rebuild_reason
from qa.ingest.chunking import Chunk, indexed_chunks
from qa.config import Settings
from qa.index.dense import EF_SEARCH_LARGE, dimension, embed
from qa.ingest.documents import Document
from qa.errors import UserError
from qa.index.lexical import STOPWORDS

# 2: BM25 reads the `indexed` field (chunk context), not `text`; 3: dense windows (qa_windows)
FORMAT_VERSION = 3
CHUNKS, DOCUMENTS, WINDOWS = "qa_chunks", "qa_documents", "qa_windows"
COLLECTIONS = (CHUNKS, DOCUMENTS, WINDOWS)
# Windows fetched a chunk asked for in a dense search: a 600-character chunk has two to four.
WINDOWS_PER_CHUNK = 4
MANIFEST_ID = 0
# A VARCHAR holds at most 65,535 bytes: 16,000 characters stay under it even at 4 bytes each.
SLICE_CHARS = 16_000
MAX_VARCHAR = 65_535
INSERT_BLOCK = 1024
# Milvus's own analyzer, set up like qa.index.lexical.tokenize: lower case, our stop words, Snowball
# English stems. (milvus-lite applies the stop words but not the stemmer; see README.)
ANALYZER = {"tokenizer": "standard",
            "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS)},
                       {"type": "stemmer", "language": "english"}]}
# Seconds one call may take before qa gives up: a stopped server must end in an error, not a hang.
# Searches and reads are quick; writing a block of chunks (the server runs the BM25 function on
# them), loading a collection and flushing take longer on a large collection.
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 30
WRITE_TIMEOUT_S = 300
CHUNK_FIELDS = ["text", "source", "start", "end", "paragraph", "page"]
DOCUMENT_FIELDS = ["id", "source", "title", "sha256", "chunks", "parts", "indexed_at"]


def milvus_uri(settings: Settings) -> str:
    """Where the configured Milvus index lives: `settings.uri`, else milvus-lite in the index folder."""
    return settings.index_location


class MilvusUnavailable(UserError):
    """Milvus could not be reached, stopped answering, or refused a call; the message names it."""


def connect(uri: str):
    """A client for `uri`; IndexUnusable, in words, when pymilvus is missing, MilvusUnavailable
    when Milvus is unreachable."""
    # gRPC's C core prints its own log lines to stderr (milvus-lite's server answers pymilvus's
    # keep-alive pings with "too_many_pings"), unless told otherwise before it is imported;
    # failures reach the user through `failures_in_words` instead.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from pymilvus import MilvusClient
    except ImportError as error:
        raise IndexUnusable("the Milvus backend needs pymilvus and milvus-lite: "
                            "install them with `pip install -e '.[milvus]'`") from error
    if uri.endswith(".db"):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    # pymilvus logs every failed call, traceback included, through its own stderr handler, and
    # warns on each document listing that milvus-lite cannot pin a read timestamp; qa says what
    # went wrong in one line instead (`failures_in_words`).
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    with failures_in_words(uri):
        try:
            return MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT_S)
        except (ValueError, OSError) as error:  # a malformed address, an unopenable milvus-lite path
            raise MilvusUnavailable(f"cannot open Milvus at {uri}: {error}") from error


@contextmanager
def failures_in_words(uri: str):
    """Turn a failed call to Milvus at `uri` into MilvusUnavailable: one line saying what to check."""
    from grpc import RpcError, StatusCode
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except RpcError as error:  # what pymilvus does not retry: a deadline passed, access refused
        if error.code() == StatusCode.DEADLINE_EXCEEDED:
            raise MilvusUnavailable(f"Milvus at {uri} did not answer in time: is it running, "
                                    f"and reachable from here?") from error
        raise MilvusUnavailable(f"Milvus at {uri} refused the call: {error.details()}") from error
    except MilvusException as error:
        if _unreachable(error):
            raise MilvusUnavailable(f"cannot reach Milvus at {uri}: is it running? Start it, "
                                    f"or name another with --uri") from error
        raise MilvusUnavailable(f"Milvus at {uri} failed: {error.message}") from error


def _unreachable(error) -> bool:
    # pymilvus reports a refused or lost connection as code 2, "Fail connecting to server …", or
    # as the gRPC status UNAVAILABLE once its retries run out.
    return error.code == 2 or "UNAVAILABLE" in str(error.message) or "connect" in str(error.message).lower()


@dataclass(frozen=True)
class DocumentRow:
    """Where a document lives in Milvus: ids [id, id + parts) hold it, the next `chunks` its chunks."""
    id: int
    parts: int
    chunks: int
    source: str
    title: str
    sha256: str
    indexed_at: str

    @property
    def chunk_ids(self) -> range:
        return range(self.id + self.parts, self.id + self.parts + self.chunks)

    @property
    def ids(self) -> range:
        return range(self.id, self.id + self.parts + self.chunks)


class MilvusIndex:
    """A Milvus index opened for searching: the document list in memory, chunks and texts on demand."""

    def __init__(self, client, uri: str, manifest: dict, catalogue: dict[str, DocumentRow],
                 settings: Settings) -> None:
        self.client = client
        self.uri = uri
        self.manifest = manifest
        self.settings = settings
        self._catalogue = catalogue
        # Searches return each hit's fields; keeping them spares a round trip per chunk().
        self._chunks: dict[int, Chunk] = {}
        self.document_by_source = lru_cache(maxsize=256)(self._read_document)

    @classmethod
    def open(cls, settings: Settings) -> "MilvusIndex":
        """Connect to the configured Milvus and check its index suits `settings`."""
        uri = milvus_uri(settings)
        client = connect(uri)
        with failures_in_words(uri):
            if not _has_index(client):
                raise IndexUnusable(f"no index in Milvus at {uri}: build one with "
                                    f"`qa index SOURCES_DIR --backend milvus --uri {uri}`")
            _load_collections(client)
            manifest = _read_manifest(client)
            problem = _incompatibility(manifest, settings)
            if problem:
                raise IndexUnusable(f"the index in Milvus at {uri} was {problem}; rebuild it with "
                                    f"`qa index --rebuild --backend milvus --uri {uri}`")
            return cls(client, uri, manifest, _read_catalogue(client), settings)

    @property
    def size(self) -> int:
        return sum(row.chunks for row in self._catalogue.values())

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(r.source, r.title, r.sha256, r.chunks, r.indexed_at)
                for r in sorted(self._catalogue.values(), key=lambda r: r.source)]

    def title(self, source: str) -> str:
        return self._catalogue[source].title

    def chunk(self, number: int) -> Chunk:
        if number not in self._chunks:
            with failures_in_words(self.uri):
                rows = self.client.get(CHUNKS, ids=[number], output_fields=CHUNK_FIELDS,
                                       timeout=READ_TIMEOUT_S)
            if not rows:
                raise KeyError(f"no chunk {number} in Milvus at {self.uri}")
            self._remember(number, rows[0])
        return self._chunks[number]

    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of the best `k` chunks, scored by Milvus from the raw question."""
        with failures_in_words(self.uri):
            results = self.client.search(CHUNKS, data=[query], anns_field="sparse", limit=k,
                                         output_fields=CHUNK_FIELDS, timeout=READ_TIMEOUT_S,
                                         search_params={"metric_type": "BM25"})
        # milvus-lite reports BM25 as a negative distance, a server as a positive score.
        return self._known(results[0], abs)

    @property
    def _ef_search(self) -> int:
        # Milvus splits a collection into segments of its own choosing, whose graph sizes qa does
        # not see: the breadth for large graphs, unless the settings give one.
        return self.settings.hnsw_ef_search or EF_SEARCH_LARGE

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the `k` nearest chunks, each at the best of its own
        vector and its windows'."""
        data = [np.asarray(vector, dtype=np.float32).tolist()]
        wide = min(k * WINDOWS_PER_CHUNK, 16_384)  # Milvus's largest limit
        with failures_in_words(self.uri):
            results = self.client.search(
                CHUNKS, data=data, anns_field="dense", limit=k, output_fields=CHUNK_FIELDS,
                timeout=READ_TIMEOUT_S,
                search_params={"metric_type": "IP", "params": {"ef": max(self._ef_search, k)}})
            windows = self.client.search(
                WINDOWS, data=data, anns_field="dense", limit=wide, output_fields=["chunk", "source"],
                timeout=READ_TIMEOUT_S,
                search_params={"metric_type": "IP", "params": {"ef": max(self._ef_search, wide)}})
        best = dict(self._known(results[0], float))
        for hit in windows[0]:
            number, source = int(hit["entity"]["chunk"]), hit["entity"]["source"]
            row = self._catalogue.get(source)
            if row is not None and number in row.chunk_ids and float(hit["distance"]) > best.get(number, -2.0):
                best[number] = float(hit["distance"])
        ranked = sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))[:k]
        self._fetch([number for number, _ in ranked if number not in self._chunks])
        return ranked

    def _fetch(self, numbers: list[int]) -> None:
        """Read the fields of chunks found by their windows alone, in one call."""
        if numbers:
            with failures_in_words(self.uri):
                rows = self.client.get(CHUNKS, ids=numbers, output_fields=["id", *CHUNK_FIELDS],
                                       timeout=READ_TIMEOUT_S)
            for row in rows:
                self._remember(int(row["id"]), row)

    def hybrid_search(self, query: str, vector: np.ndarray, k: int,
                      rrf_k: int | None = None) -> list[tuple[int, float]]:
        """Milvus's own fusion of the two searches (its RRFRanker), for comparison with
        `qa.retrieve.fuse_rankings`: (chunk id, RRF score), best first. Its dense list ranks each
        chunk by its own vector: Milvus's ranker cannot take a chunk's best window."""
        from pymilvus import AnnSearchRequest, RRFRanker

        depth = max(self.settings.candidates, k)
        requests = [
            AnnSearchRequest(data=[query], anns_field="sparse", param={"metric_type": "BM25"},
                             limit=depth),
            AnnSearchRequest(data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="dense",
                             param={"metric_type": "IP",
                                    "params": {"ef": max(self._ef_search, depth)}},
                             limit=depth),
        ]
        with failures_in_words(self.uri):
            results = self.client.hybrid_search(CHUNKS, requests, RRFRanker(rrf_k or self.settings.rrf_k),
                                                limit=k, output_fields=CHUNK_FIELDS, timeout=READ_TIMEOUT_S)
        return self._known(results[0], float)

    def close(self) -> None:
        self.client.close()

    def _known(self, hits, score) -> list[tuple[int, float]]:
        # Only chunks of the document versions listed when this index was opened count. Others are
        # left over from an interrupted update (the next one overwrites them) or were written by a
        # `qa index` running beside this reader since: those are seen after a reload.
        ranked = []
        for hit in hits:
            fields = hit["entity"]
            row = self._catalogue.get(fields["source"])
            if row is not None and int(hit["id"]) in row.chunk_ids:
                self._remember(int(hit["id"]), fields)
                ranked.append((int(hit["id"]), score(hit["distance"])))
        return ranked

    def _remember(self, number: int, fields: dict) -> None:
        if len(self._chunks) > 10_000:
            self._chunks.clear()
        self._chunks[number] = Chunk(source=fields["source"], start=int(fields["start"]),
                                     end=int(fields["end"]), text=fields["text"],
                                     paragraph=int(fields["paragraph"]), page=int(fields["page"]) or None)

    def _read_document(self, source: str) -> Document:
        row = self._catalogue[source]
        with failures_in_words(self.uri):
            parts = self.client.get(DOCUMENTS, ids=list(range(row.id, row.id + row.parts)),
                                    output_fields=["part", "body"], timeout=READ_TIMEOUT_S)
        if len(parts) != row.parts:
            raise IndexUnusable(f"{source} changed in Milvus at {self.uri} after qa opened the index "
                                f"(a `qa index` ran): ask again once it has been reloaded")
        body = json.loads("".join(p["body"] for p in sorted(parts, key=lambda p: p["part"])))
        return Document(source=source, title=row.title, text=body["text"], sha256=row.sha256,
                        paragraphs=tuple(map(tuple, body["paragraphs"])), pages=tuple(body["pages"]),
                        headings=tuple(map(tuple, body.get("headings", ()))))


def open_index(settings: Settings) -> MilvusIndex:
    """The Milvus index `settings` name (`settings.uri`, else milvus-lite in the index folder)."""
    return MilvusIndex.open(settings)


def update(settings: Settings, model, documents: list[Document], rebuild: bool = False,
           progress: bool = True) -> BuildReport:
    """Make `documents` the Milvus index's contents, embedding only what is new or changed.
    One writer at a time: two concurrent updates of one index would hand out the same ids."""
    began = time.perf_counter()
    uri = milvus_uri(settings)
    client = connect(uri)
    # A write cut off by a lost server leaves what `_known` skips and the next update overwrites.
    with failures_in_words(uri), closing(client):
        rebuilt_because = _prepare(client, settings, model, rebuild)
        old = _read_catalogue(client)
        report = diff_sources(documents, {s: row.sha256 for s, row in old.items()}, rebuilt_because)
        unchanged = set(report.unchanged)
        fresh = [d for d in documents if d.source not in unchanged]
        stale = [old[s] for s in report.removed + report.changed]
        if stale:
            # Deleting first means an interrupted update leaves the document missing, so the
            # next update adds it again, rather than listed with half of its chunks.
            client.delete(DOCUMENTS, ids=[i for row in stale for i in range(row.id, row.id + row.parts)],
                          timeout=WRITE_TIMEOUT_S)
            client.delete(CHUNKS, ids=[i for row in stale for i in row.chunk_ids], timeout=WRITE_TIMEOUT_S)
            for at in range(0, len(stale), 100):
                _delete_windows(client, [row.chunk_ids for row in stale[at:at + 100]])
        next_id = max([MANIFEST_ID + 1, *(row.ids.stop for row in old.values())])
        report.embedded, report.windows = _write_documents(client, fresh, settings, model, next_id, progress)
        report.chunks = sum(old[s].chunks for s in report.unchanged) + report.embedded
        # Sealed segments get their indexes built; unsealed ones are searched row by row
        # (on milvus-lite, BM25 over 10k unflushed chunks takes a second a query).
        for name in COLLECTIONS:
            client.flush(name, timeout=WRITE_TIMEOUT_S)
    report.seconds = time.perf_counter() - began
    return report


def _prepare(client, settings: Settings, model, rebuild: bool) -> str | None:
    """Create the collections when missing, or anew when asked or built differently; says why
    it rebuilt, or None."""
    reason = None
    if _has_index(client):
        _load_collections(client)
        reason = rebuild_reason(rebuild, None if rebuild else _incompatibility(_read_manifest(client), settings))
        if reason is None:
            return None
    for name in COLLECTIONS:
        if client.has_collection(name, timeout=READ_TIMEOUT_S):
            client.drop_collection(name, timeout=WRITE_TIMEOUT_S)
    _create_collections(client, dimension(model), settings)
    manifest = {"format_version": FORMAT_VERSION, "settings": settings.index_shape(),
                "model": {"name": settings.model, "dimension": dimension(model)}}
    client.insert(DOCUMENTS, [_document_row(MANIFEST_ID, -1, 0, 0, "", "", "", _now(),
                                            json.dumps(manifest))], timeout=WRITE_TIMEOUT_S)
    return reason


def _create_collections(client, dim: int, settings: Settings) -> None:
    from pymilvus import DataType, Function, FunctionType

    chunks = client.create_schema(auto_id=False, enable_dynamic_field=False)
    chunks.add_field("id", DataType.INT64, is_primary=True)
    chunks.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    chunks.add_field("indexed", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
                     analyzer_params=ANALYZER)
    chunks.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR)
    for name in ("start", "end", "paragraph", "page"):
        chunks.add_field(name, DataType.INT64)
    chunks.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    chunks.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["indexed"], output_field_names=["sparse"]))
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                      params={"M": settings.hnsw_m, "efConstruction": 200})
    # The same k1 and b as bm25s's defaults, which qa.index.lexical uses.
    indexes.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                      params={"bm25_k1": 1.5, "bm25_b": 0.75})
    client.create_collection(CHUNKS, schema=chunks, index_params=indexes, timeout=WRITE_TIMEOUT_S)

    documents = client.create_schema(auto_id=False, enable_dynamic_field=False)
    documents.add_field("id", DataType.INT64, is_primary=True)
    documents.add_field("part", DataType.INT64)
    documents.add_field("parts", DataType.INT64)
    documents.add_field("chunks", DataType.INT64)
    for name in ("source", "title", "body"):
        documents.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
    documents.add_field("sha256", DataType.VARCHAR, max_length=64)
    documents.add_field("indexed_at", DataType.VARCHAR, max_length=64)
    # Milvus loads only collections with an indexed vector field; this one is never searched.
    documents.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
    client.create_collection(DOCUMENTS, schema=documents, index_params=indexes,
                             consistency_level="Strong", timeout=WRITE_TIMEOUT_S)

    windows = client.create_schema(auto_id=True, enable_dynamic_field=False)
    windows.add_field("id", DataType.INT64, is_primary=True)
    windows.add_field("chunk", DataType.INT64)
    windows.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR)
    windows.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                      params={"M": settings.hnsw_m, "efConstruction": 200})
    client.create_collection(WINDOWS, schema=windows, index_params=indexes, timeout=WRITE_TIMEOUT_S)


def _delete_windows(client, runs: list[range]) -> None:
    """Delete the windows of the chunks whose ids lie in `runs` (contiguous ranges)."""
    runs = [run for run in runs if len(run)]
    if runs:
        client.delete(WINDOWS, filter=" or ".join(f"(chunk >= {r.start} and chunk < {r.stop})" for r in runs),
                      timeout=WRITE_TIMEOUT_S)


def _write_documents(client, documents: list[Document], settings: Settings, model, next_id: int,
                     progress: bool) -> tuple[int, int]:
    """Chunk, embed and store `documents` from id `next_id` on; returns the chunks written and
    their dense windows."""
    now = _now()
    written = windows = 0
    chunks: list[tuple[int, Chunk, str, list[str]]] = []  # (id, chunk, its indexed_text, its windows')
    rows: list[dict] = []
    with tqdm(desc="embedding chunks", unit="chunk", disable=not progress) as bar:
        for number, document in enumerate(documents, start=1):
            body = json.dumps({"text": document.text, "paragraphs": document.paragraphs,
                               "pages": document.pages, "headings": document.headings}, ensure_ascii=False)
            parts = max(1, math.ceil(len(body) / SLICE_CHARS))
            own = indexed_chunks(document, settings)
            chunks.extend((next_id + parts + n, *chunk) for n, chunk in enumerate(own))
            rows.extend(_document_row(next_id + part, part, parts, len(own), document.source,
                                      document.title, document.sha256, now,
                                      body[part * SLICE_CHARS:(part + 1) * SLICE_CHARS])
                        for part in range(parts))
            next_id += parts + len(own)
            if len(chunks) >= INSERT_BLOCK or number == len(documents):
                written += len(chunks)
                windows += _write_chunks(client, chunks, model, settings.batch_size, bar)
                # A document is listed only once its chunks are stored (see `update`).
                client.upsert(DOCUMENTS, rows, timeout=WRITE_TIMEOUT_S)
                chunks, rows = [], []
    return written, windows


def _write_chunks(client, numbered: list[tuple[int, Chunk, str, list[str]]], model, batch_size: int, bar) -> int:
    """Embed and store `numbered` (id, chunk, its indexed_text, its windows' texts) and their
    windows; returns the windows written."""
    for i in range(0, len(numbered), INSERT_BLOCK):
        block = numbered[i:i + INSERT_BLOCK]
        vectors = embed(model, [indexed for _, _, indexed, _ in block]
                        + [text for *_, windows in block for text in windows], batch_size)
        # Upsert, not insert: ids left by an interrupted update are overwritten, never doubled.
        client.upsert(CHUNKS, [{"id": n, "text": c.text, "indexed": indexed,
                                "source": c.source, "start": c.start, "end": c.end,
                                "paragraph": c.paragraph, "page": c.page or 0,
                                "dense": v.tolist()} for (n, c, indexed, _), v in zip(block, vectors)],
                      timeout=WRITE_TIMEOUT_S)
        # Windows an interrupted update left for these ids are deleted first, for the same reason.
        _delete_windows(client, [range(block[0][0], block[-1][0] + 1)])
        owners = [(n, c.source) for n, c, _, windows in block for _ in windows]
        if owners:
            client.insert(WINDOWS, [{"chunk": n, "source": source, "dense": v.tolist()}
                                    for (n, source), v in zip(owners, vectors[len(block):])],
                          timeout=WRITE_TIMEOUT_S)
        bar.update(len(block))
    return sum(len(windows) for *_, windows in numbered)


def _document_row(id_: int, part: int, parts: int, chunks: int, source: str, title: str, sha256: str,
                  indexed_at: str, body: str) -> dict:
    return {"id": id_, "part": part, "parts": parts, "chunks": chunks, "source": source,
            "title": title, "sha256": sha256, "indexed_at": indexed_at, "body": body,
            "unused": [0.0, 0.0]}


def built_shape(settings: Settings) -> dict | None:
    """The settings the configured Milvus index was built with, or None when there is none."""
    uri = milvus_uri(settings)
    if uri.endswith(".db") and not Path(uri).exists():
        return None  # connecting would create an empty milvus-lite file
    client = connect(uri)
    with failures_in_words(uri):
        if not _has_index(client):
            return None
        _load_collections(client)
        try:
            return _read_manifest(client).get("settings")
        except (IndexUnusable, ValueError):
            return None


def _has_index(client) -> bool:
    # An index of format 2 has no windows: found, and then refused by its format.
    return all(client.has_collection(name, timeout=READ_TIMEOUT_S) for name in (CHUNKS, DOCUMENTS))


def _load_collections(client) -> None:
    # A collection is searchable only once loaded; milvus-lite releases them when a process ends.
    for name in COLLECTIONS:
        if name != WINDOWS or client.has_collection(name, timeout=READ_TIMEOUT_S):
            client.load_collection(name, timeout=WRITE_TIMEOUT_S)


def _read_manifest(client) -> dict:
    rows = client.get(DOCUMENTS, ids=[MANIFEST_ID], output_fields=["body"], timeout=READ_TIMEOUT_S)
    if not rows:
        raise IndexUnusable("the Milvus index has no manifest; rebuild it with "
                            "`qa index --rebuild --backend milvus`")
    return json.loads(rows[0]["body"])


def _read_catalogue(client) -> dict[str, DocumentRow]:
    """Every document's first row, by source."""
    catalogue = {}
    rows = client.query_iterator(DOCUMENTS, batch_size=4096, filter="part == 0",
                                 output_fields=DOCUMENT_FIELDS, timeout=READ_TIMEOUT_S)
    while batch := rows.next():
        for row in batch:
            catalogue[row["source"]] = DocumentRow(
                id=int(row["id"]), parts=int(row["parts"]), chunks=int(row["chunks"]),
                source=row["source"], title=row["title"], sha256=row["sha256"],
                indexed_at=row["indexed_at"])
    rows.close()
    return catalogue


def _incompatibility(manifest: dict, settings: Settings) -> str | None:
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"written in format {manifest.get('format_version')}, this qa reads {FORMAT_VERSION}"
    return settings.mismatch(manifest["settings"])


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
