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

This module updates the index; `milvus_client` connects and words failures, `milvus_schema`
holds the collections' fields and reads the manifest and document list, and `milvus_index`
searches (`MilvusIndex`).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import closing
from pathlib import Path

from tqdm.auto import tqdm

from qa.config import Settings
from qa.index.backend import BuildReport, IndexUnusable, diff_sources, rebuild_reason
from qa.index.dense import dimension, embed
from qa.index.milvus_client import (READ_TIMEOUT_S, WRITE_TIMEOUT_S, MilvusUnavailable, connect, failures_in_words,
                                    milvus_uri)
from qa.index.milvus_index import MilvusIndex
from qa.index.milvus_schema import (CHUNKS, COLLECTIONS, DOCUMENTS, FORMAT_VERSION, MANIFEST_ID, SLICE_CHARS, WINDOWS,
                                    create_collections, has_index, incompatibility, load_collections, read_catalogue,
                                    read_manifest)
from qa.ingest.chunking import Chunk, indexed_chunks
from qa.ingest.documents import Document

__all__ = ["MilvusIndex", "MilvusUnavailable", "SLICE_CHARS", "WINDOWS", "built_shape", "connect",
           "failures_in_words", "milvus_uri", "open_index", "update"]

INSERT_BLOCK = 1024  # chunks embedded and written to Milvus a call: a request of bounded size


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
    # A write cut off by a lost server leaves what `MilvusIndex._known` skips and the next update overwrites.
    with failures_in_words(uri), closing(client):
        rebuilt_because = _prepare(client, settings, model, rebuild)
        old = read_catalogue(client)
        report = diff_sources(documents, {s: row.sha256 for s, row in old.items()}, rebuilt_because)
        unchanged = set(report.unchanged)
        fresh = [d for d in documents if d.source not in unchanged]
        stale = [old[s] for s in report.removed + report.changed]
        if stale:
            # Deleted first: an interrupted update leaves it missing (added again next time), not half there.
            client.delete(DOCUMENTS, ids=[i for row in stale for i in range(row.id, row.id + row.parts)],
                          timeout=WRITE_TIMEOUT_S)
            client.delete(CHUNKS, ids=[i for row in stale for i in row.chunk_ids], timeout=WRITE_TIMEOUT_S)
            for at in range(0, len(stale), 100):
                _delete_windows(client, [row.chunk_ids for row in stale[at:at + 100]])
        next_id = max([MANIFEST_ID + 1, *(row.ids.stop for row in old.values())])
        report.embedded, report.windows = _write_documents(client, fresh, settings, model, next_id, progress)
        report.chunks = sum(old[s].chunks for s in report.unchanged) + report.embedded
        # Flushed segments are sealed and indexed; unsealed ones are searched row by row, slowly.
        for name in COLLECTIONS:
            client.flush(name, timeout=WRITE_TIMEOUT_S)
    report.seconds = time.perf_counter() - began
    return report


def _prepare(client, settings: Settings, model, rebuild: bool) -> str | None:
    """Create the collections when missing, or anew when asked or built differently; says why
    it rebuilt, or None."""
    reason = None
    if has_index(client):
        load_collections(client)
        reason = rebuild_reason(rebuild, None if rebuild else incompatibility(read_manifest(client), settings))
        if reason is None:
            return None
    for name in COLLECTIONS:
        if client.has_collection(name, timeout=READ_TIMEOUT_S):
            client.drop_collection(name, timeout=WRITE_TIMEOUT_S)
    create_collections(client, dimension(model), settings)
    manifest = {"format_version": FORMAT_VERSION, "settings": settings.index_shape(),
                "model": {"name": settings.model, "dimension": dimension(model)}}
    client.insert(DOCUMENTS, [_document_row(MANIFEST_ID, -1, 0, 0, "", "", "", _now(),
                                            json.dumps(manifest))], timeout=WRITE_TIMEOUT_S)
    return reason


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
        if not has_index(client):
            return None
        load_collections(client)
        try:
            return read_manifest(client).get("settings")
        except (IndexUnusable, ValueError):
            return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
