"""One segment of an on-disk index: read (`Segment`), and written from fresh documents (chunked,
embedded and counted) or by merging the live rows of others (copied, nothing embedded again)."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import threading
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.index.dense import DenseIndex, VectorFile, dimension, embed, sample_rows
from qa.index.lexical import TermCounter, TermCounts, tokenize
from qa.index.store_build import Block, BuildMeter, BuildPlan
from qa.index.store_cache import BuildCache, block_key
from qa.index.store_files import SEGMENTS, VECTOR_ROWS, VECTORS, file_facts, read_facts
from qa.index.store_generations import fsync_dir, fsync_tree, next_segment
from qa.ingest.chunking import Chunk, indexed_chunks
from qa.ingest.documents import Document

# Chunks (and their vectors) copied by a merge, or read into a vector index, at a time.
BLOCK_CHUNKS = 8192
# The environment variable naming a file where each text embedded is logged (`_log_embedded`).
EMBED_LOG = "QA_EMBED_LOG"


class Segment:
    """One segment as stored: chunk positions in memory; texts, vectors and both indexes read
    (or memory-mapped) when first used."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.facts = read_facts(folder)
        arrays = np.load(folder / "chunks.npz")
        self.doc, self.start, self.end = arrays["doc"], arrays["start"], arrays["end"]
        self.paragraph, self.page = arrays["paragraph"], arrays["page"]
        self.offsets = np.load(folder / "documents.offsets.npy")
        # The row of each vector, when a row may have several (None: vector i is row i's).
        self.vector_rows = np.load(folder / VECTOR_ROWS) if (folder / VECTOR_ROWS).exists() else None
        self._texts = open(folder / "documents.jsonl", "rb")
        self._texts_lock = threading.Lock()  # seek + readline must not interleave across threads
        self._exact: VectorFile | None = None  # vectors.f32, opened when a coded graph rescores

    @property
    def rows(self) -> int:
        return len(self.doc)

    @cached_property
    def terms(self) -> TermCounts:
        return TermCounts.load(self.folder / "terms")

    @cached_property
    def dense(self) -> DenseIndex:
        # An HNSW graph holds coarse codes; its best candidates are rescored from the float vectors.
        index = DenseIndex.load(self.folder)
        if index.coded:
            self._exact = VectorFile(self.folder / VECTORS, self.facts["dimension"])
            index = index.rescored_from(self._exact.rows)
        return index

    @property
    def vector_count(self) -> int:
        return self.rows if self.vector_rows is None else len(self.vector_rows)

    @property
    def vectors_per_row(self) -> int:
        """The most vectors any row has."""
        return self.facts.get("vectors_per_row", 1)

    def vectors(self) -> np.ndarray:
        return np.memmap(self.folder / VECTORS, dtype=np.float32, mode="r",
                         shape=(self.vector_count, self.facts["dimension"]))

    def dense_search(self, vector: np.ndarray, k: int, live_bits: np.ndarray | None) -> list[tuple[int, float]]:
        """(row, cosine) of the `k` best rows, each at its best vector; `live_bits` over vectors."""
        if self.vector_rows is None:
            return self.dense.search(vector, k, live_bits)
        best: dict[int, float] = {}
        # Enough vectors for k rows even when every row's vectors all come first.
        for i, score in self.dense.search(vector, k * self.vectors_per_row, live_bits):
            best.setdefault(int(self.vector_rows[i]), score)  # best first: the first seen is its best
            if len(best) == k:
                break
        return list(best.items())

    def document_line(self, number: int) -> bytes:
        with self._texts_lock:
            self._texts.seek(int(self.offsets[number]))
            return self._texts.readline()

    def close(self) -> None:
        self._texts.close()
        if self._exact is not None:
            self._exact.close()


class _SegmentWriter:
    """Writes one segment a block of chunks at a time into a hidden folder, renamed into place at
    the end: an interrupted write leaves only a folder the next update removes."""

    def __init__(self, index_dir: Path, settings: Settings, dim: int, progress: bool = False) -> None:
        self.settings = settings
        self.dim = dim
        self.progress = progress
        self.name = next_segment(index_dir)
        self.final = index_dir / SEGMENTS / self.name
        self.partial = index_dir / SEGMENTS / f".{self.name}.partial"
        self.partial.mkdir(parents=True)
        self._documents = open(self.partial / "documents.jsonl", "wb")
        self._vectors = open(self.partial / VECTORS, "wb")
        self._document_offsets: list[int] = []
        self._chunks: dict[str, list[np.ndarray]] = {k: [] for k in ("doc", "start", "end", "paragraph", "page")}
        self.terms = TermCounter()
        self.rows = 0
        self.vector_count = 0
        self._vector_rows: list[np.ndarray] = []

    def add_document(self, line: bytes) -> int:
        """Append one documents.jsonl line; returns the document's number in this segment."""
        self._document_offsets.append(self._documents.tell())
        self._documents.write(line)
        return len(self._document_offsets) - 1

    def add_rows(self, doc, start, end, paragraph, page, vectors: np.ndarray, owners=None) -> None:
        """Rows (chunks) and their vectors; `owners`: each vector's row among these, ascending
        (None: one vector a row, in order)."""
        for key, values, dtype in (("doc", doc, np.int32), ("start", start, np.int64), ("end", end, np.int64),
                                   ("paragraph", paragraph, np.int32), ("page", page, np.int32)):
            self._chunks[key].append(np.asarray(values, dtype=dtype))
        self._vectors.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        owners = np.arange(len(doc)) if owners is None else np.asarray(owners)
        self._vector_rows.append(owners.astype(np.int64) + self.rows)
        self.rows += len(doc)
        self.vector_count += len(vectors)

    def finish(self) -> Segment:
        self._documents.close()
        self._vectors.close()
        np.save(self.partial / "documents.offsets.npy", np.array(self._document_offsets, dtype=np.int64))
        np.savez(self.partial / "chunks.npz", **{k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64)
                                                  for k, v in self._chunks.items()})
        self._chunks.clear()
        facts = {"rows": self.rows, "dimension": self.dim, "documents": len(self._document_offsets)}
        if self.vector_count != self.rows:
            vector_rows = np.concatenate(self._vector_rows)
            np.save(self.partial / VECTOR_ROWS, vector_rows)
            facts["vectors"] = self.vector_count
            facts["vectors_per_row"] = int(np.bincount(vector_rows).max())
        self._vector_rows.clear()
        self.terms.finish().save(self.partial / "terms")
        self.terms = None
        self._index_vectors()
        facts["files"] = file_facts(self.partial)
        (self.partial / "segment.json").write_text(json.dumps(facts, indent=1))
        fsync_tree(self.partial)
        os.rename(self.partial, self.final)
        fsync_dir(self.final.parent)
        return Segment(self.final)

    def _index_vectors(self) -> None:
        # Read in blocks, not memory-mapped, so that a big segment's vectors sit in memory once, in FAISS.
        s = self.settings
        graph = self.vector_count > s.ann_threshold
        if graph:
            _return_freed_heap()
        # A graph's codes learn from a sample of the vectors (SAMPLE_VECTORS), not kept while it is built.
        dense = DenseIndex.empty(self.dim, self.vector_count, s,
                                 sample_rows(self.partial / VECTORS, self.vector_count, self.dim) if graph else None)
        # Building a graph is slow (a flat index is quick): it gets its own progress bar.
        from tqdm.auto import tqdm  # here: only builds need it, and it costs `qa ask` 25 ms

        with open(self.partial / VECTORS, "rb") as f, tqdm(desc="building the vector graph", unit="vector",
                                                           total=self.vector_count,
                                                           disable=not (graph and self.progress)) as bar:
            for _ in range(0, self.vector_count, 4 * BLOCK_CHUNKS):
                block = np.fromfile(f, dtype=np.float32, count=4 * BLOCK_CHUNKS * self.dim)
                dense.add(block.reshape(-1, self.dim))
                bar.update(len(block) // self.dim)
                del block  # one block in memory at a time: freed before the next is read
                if graph:
                    _return_freed_heap()  # what FAISS freed while adding it
        dense.save(self.partial)

    def discard(self) -> None:
        for f in (self._documents, self._vectors):
            f.close()
        shutil.rmtree(self.partial, ignore_errors=True)


def write_fresh_segment(index_dir: Path, settings: Settings, model, plan: BuildPlan, step: list[Block],
                        cache: BuildCache, meter: BuildMeter, progress: bool = False) -> tuple[Segment, dict[int, int]]:
    """A segment of the documents of `step` (blocks of `plan`), chunked, embedded a block at a time
    (or the block's vectors read from `cache`, where a killed build left them) and counted; returns
    it and each document's number in it, by its number in `plan`. `progress`: a bar while a vector
    graph is built."""
    writer = _writing(index_dir, settings, dimension(model), progress)
    numbers: dict[int, int] = {}
    chunked: tuple[int, list] = (-1, [])  # the document being cut, and its chunks
    with writer as w:
        for block in step:
            rows = []  # number in the segment, chunk, the text embedded and counted, the texts of its windows
            for piece in block.pieces:
                document = plan.documents[piece.document]
                if piece.document not in numbers:
                    numbers[piece.document] = w.add_document(_document_line(document))
                if chunked[0] != piece.document:
                    chunked = (piece.document, indexed_chunks(document, settings))
                rows.extend((numbers[piece.document], *chunk) for chunk in chunked[1][piece.first:piece.last])
            meter.block_done(block, embedded=_add_block(w, model, rows, settings.batch_size, cache))
    return writer.segment, numbers


def _add_block(writer: _SegmentWriter, model, rows: list[tuple[int, Chunk, str, list[str]]], batch_size: int,
               cache: BuildCache) -> bool:
    """Add a block's rows; returns whether the model embedded them (not the build cache)."""
    embedded, owners = [], []  # a chunk's own text, then its windows'
    for row, (_, _, text, windows) in enumerate(rows):
        embedded.extend([text, *windows])
        owners.extend([row] * (1 + len(windows)))
    key = block_key(embedded)
    vectors = cache.vectors(key) if embedded else np.zeros((0, writer.dim), dtype=np.float32)
    fresh = vectors is None
    if fresh:
        vectors = embed(model, embedded, batch_size)
        cache.add(key, vectors)
    _log_embedded(embedded, key, fresh)
    chunks = [c for _, c, _, _ in rows]
    writer.add_rows([n for n, *_ in rows], [c.start for c in chunks], [c.end for c in chunks],
                    [c.paragraph for c in chunks], [c.page or 0 for c in chunks], vectors, owners)
    writer.terms.add([tokenize(text) for _, _, text, _ in rows])
    return fresh


def _log_embedded(texts: list[str], key: bytes, fresh: bool) -> None:
    # Tests count what builds embed across kills (tests/test_resumable_build.py): with QA_EMBED_LOG
    # set, each text of a block is logged there once the block is in the build cache, a line each:
    # "embedded" or "cached" (taken from the cache), the block's key, the text's SHA-256. A kill can
    # land between the cache record and its log lines, so a block first seen "cached" was embedded
    # once, by the killed run; one write a block, so a kill never leaves half a line.
    log = os.environ.get(EMBED_LOG)
    if log:
        how = "embedded" if fresh else "cached"
        lines = "".join(f"{how} {key.hex()} {hashlib.sha256(t.encode('utf-8', 'surrogatepass')).hexdigest()}\n"
                        for t in texts).encode()
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, lines)
        finally:
            os.close(fd)


def write_merged_segment(index_dir: Path, settings: Settings, segments: list[Segment], entries: list[dict],
                         merge: list[int], progress: bool = False) -> tuple[Segment, dict[tuple[int, int], int]]:
    """One segment of the live rows of `segments[i]` for i in `merge`, copied (vectors and term
    counts included: nothing is embedded or tokenised again); returns it and, per (old segment,
    old number), the document's number in it. `progress`: a bar while a vector graph is built."""
    keep: dict[int, list[int]] = {i: [] for i in merge}
    for entry in entries:
        if entry["segment"] in keep:
            keep[entry["segment"]].append(entry["number"])
    moved = {}
    writer = _writing(index_dir, settings, segments[merge[0]].facts["dimension"], progress)
    with writer as w:
        for i in merge:
            segment = segments[i]
            numbers = np.array(sorted(keep[i]), dtype=np.int64)
            renumber = np.full(len(segment.offsets), -1, dtype=np.int64)
            for number in numbers:
                renumber[number] = moved[i, int(number)] = w.add_document(segment.document_line(int(number)))
            rows = np.flatnonzero(np.isin(segment.doc, numbers))
            for at in range(0, len(rows), BLOCK_CHUNKS):
                block = rows[at:at + BLOCK_CHUNKS]
                if segment.vector_rows is None:
                    kept, owners = block, None
                else:  # the vectors of the block's rows, and which of them each belongs to
                    kept = np.flatnonzero(np.isin(segment.vector_rows, block))
                    owners = np.searchsorted(block, segment.vector_rows[kept])
                w.add_rows(renumber[segment.doc[block]], segment.start[block], segment.end[block],
                           segment.paragraph[block], segment.page[block], _vectors(segment, kept), owners)
            # Read for this merge only: the segment's cached counts would stay in memory to the
            # end of the build (their vocabulary as Python strings, their postings mapped).
            w.terms.add_rows(TermCounts.load(segment.folder / "terms"), rows)
    return writer.segment, moved


def _return_freed_heap() -> None:
    """Give the heap memory freed so far back to the system. glibc serves blocks of up to 32 MiB
    (a merge's term counts, FAISS's tables of each add) from its heap, and what they free stays
    there, resident, beside a graph being built (docs/results/indexing.md)."""
    if os.name != "posix":  # CDLL(None), the process's own symbols, is a POSIX call
        return
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc's; other C libraries lack it
    if trim is not None:
        trim(0)


def _vectors(segment: Segment, ids: np.ndarray) -> np.ndarray:
    """Vectors `ids` of `segment`, mapped only while they are read: mapped pages count as this
    process's memory until unmapped (a whole segment's by the end of its merge)."""
    return np.asarray(segment.vectors()[ids])


class _writing:
    """`with _writing(...) as writer:` a segment, finished on success, discarded on any error."""

    def __init__(self, index_dir: Path, settings: Settings, dim: int, progress: bool = False) -> None:
        self._args = (index_dir, settings, dim, progress)
        self.segment: Segment | None = None

    def __enter__(self) -> _SegmentWriter:
        self._writer = _SegmentWriter(*self._args)
        return self._writer

    def __exit__(self, kind, error, trace) -> None:
        if kind is None:
            try:
                self.segment = self._writer.finish()
                return
            except BaseException:
                self._writer.discard()
                raise
        self._writer.discard()


def _document_line(document: Document) -> bytes:
    record = {"source": document.source, "title": document.title, "sha256": document.sha256,
              "text": document.text, "paragraphs": document.paragraphs, "pages": document.pages,
              "headings": document.headings}
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"
