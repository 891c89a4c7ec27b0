"""The on-disk index as a whole: segments of chunks and both indexes, generations naming them;
incremental and atomic updates.

Layout of an index folder:

    CURRENT              name of the live generation (replaced atomically)
    gen-000007/          one generation, immutable
        manifest.json    settings, model, library versions, its segments, and its documents (their
                         hashes, and where each lives: segment and number within it)
    segments/seg-000003/ one segment, immutable, shared by every generation that names it
        segment.json     rows, vector width, documents, and the size (and checksum) of each file
        documents.jsonl  one document a line (text, paragraph, page and heading spans)
        documents.offsets.npy   byte offset of each line, for reading one document alone
        chunks.npz       per chunk (row): document number in the segment, start, end, paragraph, page
        vectors.f32      unit embeddings (float32, vectors x width): one a chunk, or with dense
                         windows a chunk's own and one per window (qa.ingest.chunking.chunk_windows)
        vectors.chunk.npy   the row (chunk) each vector belongs to, ascending; absent when there is
                         one vector a row (indexes built before dense windows)
        dense.faiss      the vector index of this segment (flat when small, HNSW past ann_threshold)
        terms/           term counts for BM25 (qa.index.lexical.TermCounts)

An update writes one new segment holding the added and changed documents (nothing else is read
again, embedded or indexed again) and a generation naming the old segments plus the new one; the
chunks of removed and changed documents stay in their old segment, masked: a row is live when its
document is in the generation's manifest. Searches query every segment, skip masked rows, and
merge by score (a chunk with several vectors scores its best one); BM25 takes its statistics over
the live rows of all segments, so scores equal a fresh build's. When more than MAX_SEGMENTS
segments pile up the small ones are merged, and when masked rows pass MAX_MASKED_SHARE (or
`qa index --compact` asks) all are: a merge copies stored vectors and term counts, embedding
nothing. A merge of more than INLINE_MERGE_ROWS rows is left to
`compact` (the update reports it due), so that an update of a big index stays seconds long.

Each new segment is written beside the live ones and renamed into place, then the generation, then
CURRENT is pointed at it, so a run killed at any moment leaves the previous index answering; a
segment no kept generation names is removed by the next update.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from functools import cached_property, lru_cache
from importlib import metadata
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm.auto import tqdm

from qa.index.backend import BuildReport, DocumentInfo, IndexUnusable, diff_sources, rebuild_reason
from qa.ingest.chunking import Chunk, indexed_chunks
from qa.config import Settings
from qa.index.dense import (DenseIndex, ModelNotFound, VectorFile, dimension, embed, live_bitmap, model_path,
                      sample_rows)
from qa.ingest.documents import Document
from qa.index.lexical import LexicalIndex, TermCounter, TermCounts, tokenize

FORMAT_VERSION = 3
CURRENT = "CURRENT"
SEGMENTS = "segments"
REBUILD_HINT = "; rebuild it with `qa index --rebuild`"
GENERATION_NAME = re.compile(r"gen-\d{6,}")
SEGMENT_NAME = re.compile(r"seg-\d{6,}")
# More segments than this and the small ones are merged: each costs a search per query.
MAX_SEGMENTS = 8
# Past this share of masked rows all segments are merged: masked rows cost memory and search time.
MAX_MASKED_SHARE = 0.2
# A merge copying more live rows than this (rebuilding an HNSW graph: about 30 s at 100k chunks,
# minutes at 1M) is not done inside an update, which stays seconds long: the update says that
# compaction is due, and `compact` does it (the web app at once, on a thread of its own).
INLINE_MERGE_ROWS = 50_000
# Chunks embedded, tokenised and written at a time: a big build holds only this many in memory.
BLOCK_CHUNKS = 8192
VECTORS = "vectors.f32"
VECTOR_ROWS = "vectors.chunk.npy"


class IndexNotWritten(IndexUnusable):
    """An update could not be written (disk full, no permission); the previous index is untouched."""


class Segment:
    """One segment as stored: chunk positions in memory; texts, vectors and both indexes read
    (or memory-mapped) when first used."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.facts = _read_json(folder / "segment.json", folder.parent.parent)
        problem = _facts_problem(self.facts)
        if problem:
            raise IndexUnusable(_unusable(folder.parent.parent, f"{folder.name}/segment.json {problem}"))
        _check_files(folder, self.facts, folder.parent.parent)
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
        # An HNSW graph holds 6-bit codes; its best candidates are rescored from the float vectors.
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


class Index:
    """A loaded generation: its segments placed one after another (segment i's row r is chunk
    number `offsets[i] + r`), rows of documents no longer in it masked."""

    # Searches only read arrays and files fixed when the index was opened: any threads may search.
    concurrent_searches = True

    def __init__(self, folder: Path, searchable: bool = True) -> None:
        self.folder = folder
        self.manifest = _read_manifest(folder)
        self.segments: list[Segment] = []
        try:
            _check_files(folder, self.manifest, folder.parent)
            for name in self.manifest["segments"]:
                self.segments.append(Segment(folder.parent / SEGMENTS / name))
            self.live = _live_rows(self.segments, self.manifest["documents"])
            self.offsets = np.cumsum([0] + [s.rows for s in self.segments])
            if searchable:
                self.lexical = LexicalIndex([s.terms for s in self.segments], self.live)
                self._live_bits = [None if m is None else live_bitmap(m if s.vector_rows is None
                                                                      else m[s.vector_rows])
                                   for s, m in zip(self.segments, self.live)]
                for segment in self.segments:
                    segment.dense  # noqa: B018  loaded now: the first question should not wait for it
        except (FileNotFoundError, IndexUnusable):
            self.close()
            raise
        except Exception as error:  # numpy, json and faiss each fail in their own way
            self.close()
            raise IndexUnusable(_unusable(folder.parent, f"{folder.name} or a segment it names is damaged "
                                                         f"({type(error).__name__}: {error})")) from error
        self._sources = {d["source"]: n for n, d in enumerate(self.manifest["documents"])}
        self._segment_document = lru_cache(maxsize=256)(self._read_document)

    @classmethod
    def open(cls, index_dir: Path, settings: Settings | None = None, searchable: bool = True) -> "Index":
        """Load the live generation under `index_dir`, checking it suits `settings`."""
        index_dir = Path(index_dir)
        for attempt in range(3):
            folder = _live_generation(index_dir)
            if folder is None:
                raise IndexUnusable(f"no index at {index_dir}: build one with `qa index SOURCES_DIR --index {index_dir}`")
            if folder == index_dir:
                raise IndexUnusable(_unusable(index_dir, f"its {CURRENT} file names no generation"))
            try:
                index = cls(folder, searchable)
                break
            except FileNotFoundError as error:
                # A concurrent update may have removed this generation between reading CURRENT and
                # opening it: look again. Three misses in a row are damage, not a race.
                if attempt == 2:
                    raise IndexUnusable(f"the index at {index_dir} is unusable: {_what_is_missing(folder, error)}"
                                        + REBUILD_HINT) from error
                time.sleep(0.05)
        if settings is not None:
            problem = settings.mismatch(index.manifest["settings"])
            if problem:
                raise IndexUnusable(f"the index at {index_dir} was {problem}; "
                                    f"rebuild it with `qa index --rebuild`")
        return index

    @property
    def size(self) -> int:
        """Live chunks."""
        return self.manifest["chunk_count"]

    @property
    def masked(self) -> int:
        """Rows of the segments that belong to no document of this generation."""
        return int(self.offsets[-1]) - self.size

    def chunk(self, number: int) -> Chunk:
        i = int(np.searchsorted(self.offsets, number, side="right")) - 1
        segment, row = self.segments[i], number - int(self.offsets[i])
        document = self._segment_document(i, int(segment.doc[row]))
        start, end = int(segment.start[row]), int(segment.end[row])
        page = int(segment.page[row])
        return Chunk(source=document.source, start=start, end=end, text=document.text[start:end],
                     paragraph=int(segment.paragraph[row]), page=page or None)

    def document(self, number: int) -> Document:
        entry = self.manifest["documents"][number]
        return self._segment_document(entry["segment"], entry["number"])

    def title(self, source: str) -> str:
        return self.manifest["documents"][self._sources[source]]["title"]

    def document_by_source(self, source: str) -> Document:
        return self.document(self._sources[source])

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(d["source"], d["title"], d["sha256"], d["chunks"], d["indexed_at"])
                for d in self.manifest["documents"]]

    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.lexical.search(query, k)

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        hits = [(int(offset) + row, score)
                for segment, bits, offset in zip(self.segments, self._live_bits, self.offsets)
                for row, score in segment.dense_search(vector, k, bits)]
        return sorted(hits, key=lambda hit: (-hit[1], hit[0]))[:k]

    def _read_document(self, segment: int, number: int) -> Document:
        try:
            record = json.loads(self.segments[segment].document_line(number))
            return Document(source=record["source"], title=record["title"], text=record["text"],
                            sha256=record["sha256"],
                            paragraphs=tuple(map(tuple, record["paragraphs"])),
                            pages=tuple(record["pages"]),
                            headings=tuple(map(tuple, record.get("headings", ()))))
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as error:
            # Checked when the index opened, unless too big to checksum (CHECKSUM_LIMIT).
            name = self.segments[segment].folder.name
            what = f"{SEGMENTS}/{name}/documents.jsonl is damaged (document {number}: {type(error).__name__})"
            raise IndexUnusable(_unusable(self.folder.parent, what)) from error

    def close(self) -> None:
        for segment in self.segments:
            segment.close()


def _live_rows(segments: list[Segment], entries: list[dict]) -> list[np.ndarray | None]:
    """Per segment, which rows belong to a document of the generation (None: all of them)."""
    numbers: list[list[int]] = [[] for _ in segments]
    for entry in entries:
        if entry["number"] >= len(segments[entry["segment"]].offsets):
            segment = segments[entry["segment"]].folder
            raise IndexUnusable(_unusable(segment.parent.parent, f"its manifest names document {entry['number']} "
                                                                 f"of {segment.name}, which has fewer"))
        numbers[entry["segment"]].append(entry["number"])
    live = []
    for segment, kept in zip(segments, numbers):
        if len(kept) == len(segment.offsets):
            live.append(None)
        else:
            live.append(np.isin(segment.doc, np.array(kept, dtype=segment.doc.dtype)))
    return live


def open_index(settings: Settings) -> Index:
    """The index in `settings.index_dir`, loaded and checked against `settings`."""
    return Index.open(settings.index_dir, settings)


def update(settings: Settings, model, documents: list[Document], rebuild: bool = False,
           progress: bool = True, compact: bool = False) -> BuildReport:
    """Make `documents` the contents of the index in `settings.index_dir`, chunking and embedding
    only what is new or changed into one new segment; the new generation replaces the live one
    atomically. `compact`: merge all segments into one as well."""
    began = time.perf_counter()
    index_dir = Path(settings.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _locked(index_dir):
        previous, rebuilt_because = _previous(index_dir, settings, rebuild)
        try:
            report = _update(index_dir, settings, model, documents, previous, rebuilt_because, progress)
        except OSError as error:
            # A segment half-written (its hidden folder is gone already) or written but named
            # by no generation: removed, and the previous index stays live.
            _remove_unused_segments(index_dir)
            raise IndexNotWritten(_not_written(index_dir, error)) from error
        finally:
            if previous:
                previous.close()
        report.seconds = time.perf_counter() - began
    return report


def compact(settings: Settings) -> tuple[int, int]:
    """Merge every segment of the index in `settings.index_dir` into one without masked rows;
    returns the segments before and after."""
    index_dir = Path(settings.index_dir)
    with _locked(index_dir):
        previous = Index.open(index_dir, settings, searchable=False)
        try:
            before = len(previous.segments)
            if before + previous.masked <= 1:
                return before, before
            try:
                segments, entries, _ = _merge_if_due(index_dir, settings, previous.segments,
                                                     previous.manifest["documents"], force=True)
            except OSError as error:
                _remove_unused_segments(index_dir)
                raise IndexNotWritten(_not_written(index_dir, error)) from error
            _write_generation(index_dir, settings, segments, entries, previous)
        finally:
            previous.close()
    return before, len(segments)


def _update(index_dir: Path, settings: Settings, model, documents: list[Document], previous: Index | None,
            rebuilt_because: str | None, progress: bool) -> BuildReport:
    old = previous.manifest["documents"] if previous else []
    report = diff_sources(documents, {d["source"]: d["sha256"] for d in old}, rebuilt_because)
    if previous and report.up_to_date:
        report.chunks = previous.size
        report.compaction_due = _due_merge(previous.segments, old, force=False)[2]
        _tidy(index_dir, previous.folder.name)
        return report
    unchanged = set(report.unchanged)
    old_entries = {d["source"]: d for d in old}
    segments = list(previous.segments) if previous else []
    fresh = [d for d in documents if d.source not in unchanged]
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    new_entries = {}
    if fresh:
        segment, counts = _write_fresh_segment(index_dir, settings, model, fresh, progress)
        report.embedded = sum(counts)
        report.windows = segment.vector_count - segment.rows
        for number, (document, count) in enumerate(zip(fresh, counts)):
            new_entries[document.source] = {"source": document.source, "title": document.title,
                                            "sha256": document.sha256, "chunks": count, "indexed_at": now,
                                            "segment": len(segments), "number": number}
        segments.append(segment)
    entries = [old_entries[d.source] if d.source in unchanged else new_entries[d.source] for d in documents]
    segments, entries, report.compaction_due = _merge_if_due(index_dir, settings, segments, entries, force=False)
    report.chunks = sum(e["chunks"] for e in entries)
    _write_generation(index_dir, settings, segments, entries, previous)
    return report


def _merge_if_due(index_dir: Path, settings: Settings, segments: list[Segment], entries: list[dict],
                  force: bool) -> tuple[list[Segment], list[dict], bool]:
    """The segments, and entries pointing into them, after dropping empty segments and merging
    those due: all of them when masked rows pass MAX_MASKED_SHARE (or `force`), the small ones
    when there are more than MAX_SEGMENTS; and whether a merge is due but was left to `compact`
    (unless `force`, one of more than INLINE_MERGE_ROWS live rows)."""
    chosen, merge, deferred = _due_merge(segments, entries, force)
    kept = [i for i in chosen if i not in merge]
    renumber = {old: new for new, old in enumerate(kept)}
    moved = {}
    if merge:
        merged, moved = _write_merged_segment(index_dir, settings, segments, entries, sorted(merge))
        kept_segments = [segments[i] for i in kept] + [merged]
    else:
        kept_segments = [segments[i] for i in kept]
    result = []
    for entry in entries:
        if entry["segment"] in merge:
            result.append({**entry, "segment": len(kept), "number": moved[entry["segment"], entry["number"]]})
        else:
            result.append({**entry, "segment": renumber[entry["segment"]]})
    return kept_segments, result, deferred


def _due_merge(segments: list[Segment], entries: list[dict], force: bool) -> tuple[list[int], set[int], bool]:
    """(the segments some entry names, those to merge now, whether a merge is due but too big to
    do inside an update); see `_merge_if_due`."""
    live_rows = [0] * len(segments)
    for entry in entries:
        live_rows[entry["segment"]] += entry["chunks"]
    named = {entry["segment"] for entry in entries}
    chosen = [i for i in range(len(segments)) if i in named]  # a segment no document names is dropped
    masked = sum(segments[i].rows - live_rows[i] for i in chosen)
    if force or masked > MAX_MASKED_SHARE * max(sum(segments[i].rows for i in chosen), 1):
        merge = set(chosen) if (len(chosen) > 1 or masked) else set()
    elif len(chosen) > MAX_SEGMENTS:
        merge = set(chosen) - {max(chosen, key=lambda i: live_rows[i])}
    else:
        merge = set()
    if merge and not force and sum(live_rows[i] for i in merge) > INLINE_MERGE_ROWS:
        return chosen, set(), True
    return chosen, merge, False


class _SegmentWriter:
    """Writes one segment a block of chunks at a time into a hidden folder, renamed into place at
    the end: an interrupted write leaves only a folder the next update removes."""

    def __init__(self, index_dir: Path, settings: Settings, dim: int, progress: bool = False) -> None:
        self.settings = settings
        self.dim = dim
        self.progress = progress
        self.name = _next_segment(index_dir)
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
        facts["files"] = _file_facts(self.partial)
        (self.partial / "segment.json").write_text(json.dumps(facts, indent=1))
        _fsync_tree(self.partial)
        os.rename(self.partial, self.final)
        _fsync_dir(self.final.parent)
        return Segment(self.final)

    def _index_vectors(self) -> None:
        # Read back a block at a time (not memory-mapped: mapped pages would count towards this
        # process's memory until the end), so a big segment's vectors sit in memory once, in FAISS.
        s = self.settings
        sample = (sample_rows(self.partial / VECTORS, self.vector_count, self.dim)
                  if self.vector_count > s.ann_threshold else None)
        dense = DenseIndex.empty(self.dim, self.vector_count, s.ann_threshold, s.hnsw_m, s.hnsw_ef_search, sample)
        # A graph takes minutes at a million chunks (a flat index a blink): it gets its own bar.
        graph = self.progress and sample is not None
        with open(self.partial / VECTORS, "rb") as f, tqdm(desc="building the vector graph", unit="vector",
                                                           total=self.vector_count, disable=not graph) as bar:
            for _ in range(0, self.vector_count, 4 * BLOCK_CHUNKS):
                block = np.fromfile(f, dtype=np.float32, count=4 * BLOCK_CHUNKS * self.dim)
                dense.add(block.reshape(-1, self.dim))
                bar.update(len(block) // self.dim)
        dense.save(self.partial)

    def discard(self) -> None:
        for f in (self._documents, self._vectors):
            f.close()
        shutil.rmtree(self.partial, ignore_errors=True)


def _write_fresh_segment(index_dir: Path, settings: Settings, model, documents: list[Document],
                         progress: bool) -> tuple[Segment, list[int]]:
    """A segment of `documents`, chunked, embedded and counted; returns it and each one's chunk count."""
    writer = _writing(index_dir, settings, dimension(model), progress)
    counts = []
    # document number, chunk, the text embedded and counted, the texts of its windows
    pending: list[tuple[int, Chunk, str, list[str]]] = []
    with writer as w, tqdm(desc="embedding chunks", unit="chunk", disable=not progress) as bar:
        for document in documents:
            number = w.add_document(_document_line(document))
            chunks = indexed_chunks(document, settings)
            counts.append(len(chunks))
            pending.extend((number, *chunk) for chunk in chunks)
            if len(pending) >= BLOCK_CHUNKS:
                _add_fresh(w, model, pending, settings.batch_size)
                bar.update(len(pending))
                pending = []
        _add_fresh(w, model, pending, settings.batch_size)
        bar.update(len(pending))
    return writer.segment, counts


def _add_fresh(writer: _SegmentWriter, model, pending: list[tuple[int, Chunk, str, list[str]]],
               batch_size: int) -> None:
    if not pending:
        return
    texts = [text for _, _, text, _ in pending]
    embedded, owners = [], []  # a chunk's own text, then its windows'
    for row, (_, _, text, windows) in enumerate(pending):
        embedded.extend([text, *windows])
        owners.extend([row] * (1 + len(windows)))
    chunks = [c for _, c, _, _ in pending]
    writer.add_rows([n for n, *_ in pending], [c.start for c in chunks], [c.end for c in chunks],
                    [c.paragraph for c in chunks], [c.page or 0 for c in chunks],
                    embed(model, embedded, batch_size), owners)
    writer.terms.add([tokenize(text) for text in texts])


def _write_merged_segment(index_dir: Path, settings: Settings, segments: list[Segment], entries: list[dict],
                          merge: list[int]) -> tuple[Segment, dict[tuple[int, int], int]]:
    """One segment of the live rows of `segments[i]` for i in `merge`, copied (vectors and term
    counts included: nothing is embedded or tokenised again); returns it and, per (old segment,
    old number), the document's number in it."""
    keep: dict[int, list[int]] = {i: [] for i in merge}
    for entry in entries:
        if entry["segment"] in keep:
            keep[entry["segment"]].append(entry["number"])
    moved = {}
    writer = _writing(index_dir, settings, segments[merge[0]].facts["dimension"])
    with writer as w:
        for i in merge:
            segment = segments[i]
            numbers = np.array(sorted(keep[i]), dtype=np.int64)
            renumber = np.full(len(segment.offsets), -1, dtype=np.int64)
            for number in numbers:
                renumber[number] = moved[i, int(number)] = w.add_document(segment.document_line(int(number)))
            rows = np.flatnonzero(np.isin(segment.doc, numbers))
            vectors = segment.vectors()
            for at in range(0, len(rows), BLOCK_CHUNKS):
                block = rows[at:at + BLOCK_CHUNKS]
                if segment.vector_rows is None:
                    kept, owners = block, None
                else:  # the vectors of the block's rows, and which of them each belongs to
                    kept = np.flatnonzero(np.isin(segment.vector_rows, block))
                    owners = np.searchsorted(block, segment.vector_rows[kept])
                w.add_rows(renumber[segment.doc[block]], segment.start[block], segment.end[block],
                           segment.paragraph[block], segment.page[block], vectors[kept], owners)
            del vectors
            w.terms.add_rows(segment.terms, rows)
    return writer.segment, moved


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


def _write_generation(index_dir: Path, settings: Settings, segments: list[Segment], entries: list[dict],
                      previous: Index | None) -> None:
    generation = _next_generation(index_dir)
    partial = index_dir / f".{generation}.partial"
    pointer = index_dir / f".{CURRENT}.tmp"
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": settings.index_shape(),
            "model": {"name": settings.model,
                      "dimension": int(segments[0].facts["dimension"]) if segments else None},
            "versions": _versions(),
            "chunk_count": sum(e["chunks"] for e in entries),
            "segments": [s.folder.name for s in segments],
            "documents": entries,
            "files": {},
        }
        # One line: json's C encoder, several times faster than its indenting one for 50,000 documents.
        (partial / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
        _fsync_tree(partial)
        os.rename(partial, index_dir / generation)
        _fsync_dir(index_dir)
        pointer.write_text(generation + "\n")
        with open(pointer, "rb") as f:
            os.fsync(f.fileno())
        os.replace(pointer, index_dir / CURRENT)
        _fsync_dir(index_dir)
    except OSError as error:
        # Disk full, no permission: leave nothing half-written behind; the old index stays live.
        shutil.rmtree(partial, ignore_errors=True)
        pointer.unlink(missing_ok=True)
        if _live_generation(index_dir) != index_dir / generation:
            shutil.rmtree(index_dir / generation, ignore_errors=True)
            _remove_unused_segments(index_dir)
        raise IndexNotWritten(_not_written(index_dir, error)) from error
    _remove_old_generations(index_dir, keep={generation, previous.folder.name if previous else ""})
    _remove_unused_segments(index_dir)


def _not_written(index_dir: Path, error: OSError) -> str:
    why = "the disk is full" if error.errno == errno.ENOSPC else f"{error.strerror or error}"
    return (f"the new index could not be written to {index_dir}: {why}. Nothing was changed: the "
            f"previous index still answers. Free some space (or fix the permissions) and run `qa index` again")


def _previous(index_dir: Path, settings: Settings, rebuild: bool) -> tuple[Index | None, str | None]:
    if _live_generation(index_dir) is None:
        return None, None
    if rebuild:
        return None, rebuild_reason(True, None)
    try:
        index = Index.open(index_dir, searchable=False)  # an update reads no vector or BM25 index
    except IndexUnusable as error:
        what = str(error).removesuffix(REBUILD_HINT).removeprefix(f"the index at {index_dir} is unusable: ")
        return None, rebuild_reason(False, f"unusable: {what}")
    problem = settings.mismatch(index.manifest["settings"])
    if problem:
        index.close()
        return None, rebuild_reason(False, problem)
    return index, None


def built_shape(settings: Settings) -> dict | None:
    """The settings the index in `settings.index_dir` was built with (`Settings.index_shape`), or
    None when there is no readable index."""
    folder = _live_generation(settings.index_dir)
    if folder is None or folder == Path(settings.index_dir):
        return None
    try:
        return _read_manifest(folder)["settings"]
    except (OSError, IndexUnusable):
        return None


def _live_generation(index_dir: Path) -> Path | None:
    """The folder CURRENT names (which may be damaged or gone), or None when there is no index;
    `index_dir` itself when CURRENT names no generation (empty, not text, or any other name)."""
    try:
        with open(Path(index_dir) / CURRENT, "rb") as f:
            name = f.read(256).decode("utf-8", errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Path(index_dir) / (name if GENERATION_NAME.fullmatch(name) else "")


def _what_is_missing(folder: Path, error: FileNotFoundError) -> str:
    if not folder.is_dir():
        return f"{CURRENT} names {folder.name}, which is missing"
    missing = Path(error.filename or "?")
    if missing.parent.parent.name == SEGMENTS:
        return f"{folder.name} names segment {missing.parent.name}, which is missing"
    return f"{missing.name} is missing from {folder.name}"


def _next_segment(index_dir: Path) -> str:
    # Hidden partial folders count too: a name is never reused, even after a killed write.
    names = [p.name.strip(".").removesuffix(".partial") for p in (index_dir / SEGMENTS).glob("*seg-*")]
    numbers = [int(n.split("-")[1]) for n in names if n.split("-")[1].isdigit()]
    return f"seg-{max(numbers, default=0) + 1:06d}"


def _remove_unused_segments(index_dir: Path) -> None:
    """Remove segments (and killed writes' partial ones) that no generation on disk names."""
    folder = index_dir / SEGMENTS
    if not folder.is_dir():
        return
    named: set[str] = set()
    for generation in index_dir.glob("gen-*"):
        try:
            segments = json.loads((generation / "manifest.json").read_text()).get("segments", [])
            named.update(name for name in segments if isinstance(name, str))
        except (OSError, ValueError, RecursionError, AttributeError, TypeError):
            continue  # a damaged generation is removed with its segments by the next rebuild
    for path in folder.iterdir():
        if path.name not in named:
            shutil.rmtree(path, ignore_errors=True)


def _next_generation(index_dir: Path) -> str:
    numbers = [int(p.name.split("-")[1]) for p in index_dir.glob("gen-*") if p.name.split("-")[1].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _tidy(index_dir: Path, live: str) -> None:
    """Remove what a run killed after its swap (or before it) left: generations other than the live
    one and the one before it, partial folders, and segments no kept generation names."""
    older = sorted(p.name for p in index_dir.glob("gen-*") if p.name < live)
    _remove_old_generations(index_dir, keep={live, *older[-1:]})
    _remove_unused_segments(index_dir)


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    # The previous generation stays one round, for readers that opened it a moment ago.
    for path in index_dir.iterdir():
        if path.is_dir() and (path.name.startswith("gen-") or path.name.endswith(".partial")) \
                and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _unusable(index_dir: Path, what: str) -> str:
    return f"the index at {index_dir} is unusable: {what}" + REBUILD_HINT


def _read_json(path: Path, index_dir: Path) -> dict:
    """The JSON object in index file `path`; IndexUnusable saying what is wrong with it
    (FileNotFoundError when it is missing: a concurrent update may have removed it)."""
    where = path.relative_to(index_dir).as_posix()
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as error:
        raise IndexUnusable(_unusable(index_dir, f"{where} is not UTF-8 text")) from error
    except json.JSONDecodeError as error:
        raise IndexUnusable(_unusable(index_dir, f"{where} is not JSON ({error.msg})")) from error
    except RecursionError as error:
        raise IndexUnusable(_unusable(index_dir, f"{where} is JSON nested too deeply")) from error
    except (OSError, ValueError) as error:
        raise IndexUnusable(_unusable(index_dir, f"{where} cannot be read ({error})")) from error
    if not isinstance(value, dict):
        raise IndexUnusable(_unusable(index_dir, f"{where} holds {_kind(value)}, not a JSON object"))
    return value


def _read_manifest(folder: Path) -> dict:
    """The manifest of generation `folder`, of this format and checked to have its shape (so that
    what reads it need not check again); IndexUnusable saying what is wrong otherwise."""
    manifest = _read_json(folder / "manifest.json", folder.parent)
    version = manifest.get("format_version")
    if type(version) is int and version != FORMAT_VERSION:
        raise IndexUnusable(f"the index at {folder.parent} is in format {version}, this qa reads format "
                            f"{FORMAT_VERSION}" + REBUILD_HINT)
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexUnusable(_unusable(folder.parent, f"{folder.name}/manifest.json {problem}"))
    return manifest


# The fields of a manifest, of each document entry in it, and of a segment's facts, by type.
_MANIFEST_FIELDS = {"format_version": int, "settings": dict, "chunk_count": int, "segments": list,
                    "documents": list, "files": dict}
_ENTRY_FIELDS = {"source": str, "title": str, "sha256": str, "chunks": int, "indexed_at": str,
                 "segment": int, "number": int}
_FACT_FIELDS = {"rows": int, "dimension": int, "documents": int, "files": dict}


def _manifest_problem(manifest: dict) -> str | None:
    """What makes `manifest` not a manifest of this format, in words; None when its shape is right."""
    missing = _missing_field(manifest, _MANIFEST_FIELDS)
    if missing:
        return missing
    shape, defaults = manifest["settings"], Settings().index_shape()
    for name, value in shape.items():
        if name in defaults and type(value) is not type(defaults[name]):
            return f"records the setting {name} as {_kind(value)}"
    try:
        model_path(Settings().shaped_like(shape).model)  # a pickle, a missing folder: refused, not loaded
    except ModelNotFound as error:
        return f"names a model qa cannot load ({error})"
    except ValueError as error:
        return f"records settings qa cannot use ({error})"
    if not all(isinstance(name, str) and SEGMENT_NAME.fullmatch(name) for name in manifest["segments"]):
        return "names a segment that is not seg-NNNNNN"
    segments = len(manifest["segments"])
    for number, entry in enumerate(manifest["documents"], start=1):
        if not (isinstance(entry, dict) and all(type(entry.get(k)) is t for k, t in _ENTRY_FIELDS.items())
                and 0 <= entry["segment"] < segments and entry["number"] >= 0 and entry["chunks"] >= 0):
            return f"has a damaged entry for document {number}"
    return None


def _facts_problem(facts: dict) -> str | None:
    """What makes `facts` (a segment.json) not a segment's facts, in words; None when its shape is right."""
    missing = _missing_field(facts, _FACT_FIELDS)
    if missing:
        return missing
    if any(type(facts.get(k, 1)) is not int or facts.get(k, 1) < 0 for k in ("rows", "dimension", "documents",
                                                                            "vectors", "vectors_per_row")):
        return "has a count that is not a whole number"
    return None


def _missing_field(value: dict, fields: dict[str, type]) -> str | None:
    for name, kind in fields.items():
        if type(value.get(name)) is not kind:
            return f"has no {name!r} field of the right kind (found {_kind(value.get(name))})"
    return None


def _kind(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
             bool: "true/false", type(None): "nothing"}
    return kinds.get(type(value), type(value).__name__)


# Files up to this size are checksummed as well as measured; larger ones (vectors and the vector
# index of big collections) only measured, so that opening a big index stays fast.
CHECKSUM_LIMIT = 64 * 2**20


def _file_facts(folder: Path) -> dict[str, dict]:
    facts = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            size = path.stat().st_size
            facts[path.relative_to(folder).as_posix()] = {
                "size": size, "sha256": _sha256(path) if size <= CHECKSUM_LIMIT else None}
    return facts


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_files(folder: Path, facts: dict, index_dir: Path) -> None:
    for name, expected in facts["files"].items():
        path = folder / name
        problem = None
        if (not isinstance(expected, dict) or type(expected.get("size")) is not int
                or not isinstance(expected.get("sha256"), (str, type(None)))
                or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts):
            problem = "its entry in the list of files is damaged"
        elif not path.is_file():
            problem = "missing"
        elif path.stat().st_size != expected["size"]:
            problem = f"{path.stat().st_size} bytes, expected {expected['size']}"
        elif expected["sha256"] and _sha256(path) != expected["sha256"]:
            problem = "its contents changed since it was written"
        if problem:
            raise IndexUnusable(_unusable(index_dir, f"{path.relative_to(index_dir).as_posix()} is damaged "
                                                     f"({problem})"))


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("qa", "sentence-transformers", "torch", "faiss-cpu", "numpy", "scipy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


@contextlib.contextmanager
def _locked(index_dir: Path):
    # One writer at a time; readers never wait, they read the live generation.
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        _fsync_dir(path)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

