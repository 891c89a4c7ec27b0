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
    build-cache-<shape>.bin   while a build is under way: the vectors of each block it embedded
                         since its last commit (qa.index.store_cache)

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

A big build is resumable. Its documents are chunked first, only to count (qa.index.store_build),
then embedded a block of texts at a time, each block's vectors made durable in the build cache,
and committed every `Settings.commit_chunks` chunks: a segment of the step, and a generation whose
manifest says "partial" (how many documents and chunks of how many, and the build's segments so
far). A killed build thus leaves an index that answers from the documents done; the next update
finds those unchanged, reads the blocks of the step it was in back from the cache, and embeds only
the rest. No merge runs between steps; at the end the build's segments are merged into one, as a
build in one go writes, and the cache is removed.

This module updates and compacts an index (deciding when segments merge); the rest lives in
`store_files` (file names, reading and checking them), `store_segment` (a segment, read and
written), `store_build` (a build's plan of blocks and steps, and its progress), `store_cache` (the
build cache), `store_index` (a loaded generation, `Index`) and `store_generations` (writing one,
and removing old ones).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from qa.config import Settings
from qa.index.backend import BuildReport, IndexUnusable, diff_sources, rebuild_reason
from qa.index.dense import dimension
from qa.index.store_build import BuildMeter, BuildPlan, BuildProgress, plan_build
from qa.index.store_cache import BuildCache, remove_build_caches
from qa.index.store_files import REBUILD_HINT, live_generation, read_manifest
from qa.index.store_generations import (IndexNotWritten, locked, not_written, remove_unused_segments, tidy,
                                        write_generation)
from qa.index.store_index import Index
from qa.index.store_segment import Segment, write_fresh_segment, write_merged_segment
from qa.ingest.documents import Document

__all__ = ["BuildProgress", "Index", "IndexNotWritten", "Segment", "built_shape", "compact", "open_index",
           "update"]

# More segments than this and the small ones are merged: each costs a search per query.
MAX_SEGMENTS = 8
# Past this share of masked rows all segments are merged: masked rows cost memory and search time.
MAX_MASKED_SHARE = 0.2
# A bigger merge rebuilds a vector graph, too slow for an update: it is reported due and left to `compact`.
INLINE_MERGE_ROWS = 50_000


def open_index(settings: Settings) -> Index:
    """The index in `settings.index_dir`, loaded and checked against `settings`."""
    return Index.open(settings.index_dir, settings)


def update(settings: Settings, model, documents: list[Document], rebuild: bool = False,
           progress: bool = True, compact: bool = False,
           on_progress: Callable[[BuildProgress], None] | None = None) -> BuildReport:
    """Make `documents` the contents of the index in `settings.index_dir`, chunking and embedding
    only what is new or changed into one new segment; the new generation replaces the live one
    atomically. A big build commits a generation every `settings.commit_chunks` chunks, and one
    killed part-way is finished by the next update, embedding nothing twice. `progress`: bars on
    the terminal; `on_progress`: called with a `BuildProgress` as each block of chunks is embedded
    (instead of the embedding bar). `compact`: merge all segments into one as well."""
    began = time.perf_counter()
    index_dir = Path(settings.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with locked(index_dir):
        previous, rebuilt_because = _previous(index_dir, settings, rebuild)
        try:
            report = _update(index_dir, settings, model, documents, previous, rebuilt_because, progress,
                             on_progress)
        except OSError as error:
            # A segment half-written or named by no generation is removed: the previous index stays live.
            remove_unused_segments(index_dir)
            # A full disk needs its space back more than the next run needs this step's vectors.
            remove_build_caches(index_dir)
            raise IndexNotWritten(not_written(index_dir, error)) from error
        finally:
            if previous:
                previous.close()
        report.seconds = time.perf_counter() - began
    return report


def compact(settings: Settings) -> tuple[int, int]:
    """Merge every segment of the index in `settings.index_dir` into one without masked rows;
    returns the segments before and after."""
    index_dir = Path(settings.index_dir)
    with locked(index_dir):
        previous = Index.open(index_dir, settings, searchable=False)
        try:
            before = len(previous.segments)
            if before + previous.masked <= 1:
                return before, before
            try:
                segments, entries, _ = _merge_if_due(index_dir, settings, previous.segments,
                                                     previous.manifest["documents"], force=True)
            except OSError as error:
                remove_unused_segments(index_dir)
                raise IndexNotWritten(not_written(index_dir, error)) from error
            write_generation(index_dir, settings, segments, entries, previous.folder.name)
        finally:
            previous.close()
    return before, len(segments)


def _update(index_dir: Path, settings: Settings, model, documents: list[Document], previous: Index | None,
            rebuilt_because: str | None, progress: bool,
            on_progress: Callable[[BuildProgress], None] | None) -> BuildReport:
    old = previous.manifest["documents"] if previous else []
    report = diff_sources(documents, {d["source"]: d["sha256"] for d in old}, rebuilt_because)
    unfinished = previous.partial if previous else None  # a build killed part-way, finished now
    if previous and report.up_to_date and unfinished is None:
        report.chunks = previous.size
        report.compaction_due = _due_merge(previous.segments, old, force=False)[2]
        tidy(index_dir, previous.folder.name)
        remove_build_caches(index_dir)  # a killed build's, whose changes were undone since
        return report
    old_entries = {d["source"]: d for d in old}
    build = _Build(index_dir, settings, documents, previous, old_entries, set(report.unchanged))
    fresh = [d for d in documents if d.source not in build.unchanged]
    if fresh:
        plan = plan_build(fresh, settings)
        build.embed(model, plan, BuildMeter(plan, on_progress, bar=progress), progress)
        report.embedded = plan.chunks
        report.windows = sum(build.segments[i].vector_count - build.segments[i].rows for i in build.written)
    entries = [old_entries[d.source] if d.source in build.unchanged else build.done[d.source] for d in documents]
    # The build's segments (with those of the killed runs it finishes) become one, as one run writes.
    built = set(build.built) & {e["segment"] for e in entries}
    built = built if len(built) > 1 else set()
    segments, entries = _merge(index_dir, settings, build.segments, entries, built, progress)
    segments, entries, report.compaction_due = _merge_if_due(index_dir, settings, segments, entries, force=False)
    report.chunks = sum(e["chunks"] for e in entries)
    write_generation(index_dir, settings, segments, entries, build.generation)
    remove_build_caches(index_dir)
    return report


class _Build:
    """The documents of an update that are not unchanged, embedded a step at a time into segments
    beside the previous ones; each step but the last is committed as a generation marked partial."""

    def __init__(self, index_dir: Path, settings: Settings, documents: list[Document], previous: Index | None,
                 old_entries: dict[str, dict], unchanged: set[str]) -> None:
        self.index_dir, self.settings, self.documents = index_dir, settings, documents
        self.old_entries, self.unchanged = old_entries, unchanged
        self.segments = list(previous.segments) if previous else []
        self.generation = previous.folder.name if previous else None  # the last one committed
        names = [segment.folder.name for segment in self.segments]
        unfinished = previous.partial if previous else None
        # Segments of this build, and of the killed runs it finishes.
        self.built = [names.index(name) for name in (unfinished or {}).get("segments", []) if name in names]
        self.written: list[int] = []  # those this run wrote
        self.done: dict[str, dict] = {}  # source → entry, of the documents this run embedded

    def embed(self, model, plan: BuildPlan, meter: BuildMeter, progress: bool) -> None:
        cache = BuildCache(self.index_dir, self.settings, dimension(model))
        try:
            for number, step in enumerate(plan.steps):
                segment, numbers = write_fresh_segment(self.index_dir, self.settings, model, plan, step, cache,
                                                       meter, progress)
                now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                for d, n in numbers.items():
                    document = plan.documents[d]
                    self.done[document.source] = {
                        "source": document.source, "title": document.title, "sha256": document.sha256,
                        "chunks": plan.chunk_counts[d], "indexed_at": now, "segment": len(self.segments),
                        "number": n}
                self.segments.append(segment)
                self.built.append(len(self.segments) - 1)
                self.written.append(len(self.segments) - 1)
                if number < len(plan.steps) - 1:
                    self._commit(plan)
                    cache.clear()  # its vectors are in a committed segment now
        finally:
            # Kept on disk unless the build completes: the next run reads its blocks back.
            cache.close()
            meter.close()

    def _commit(self, plan: BuildPlan) -> None:
        """A generation of what is done so far, marked partial: documents embedded by this build,
        unchanged ones, and the previous version of changed ones not embedded yet."""
        entries = [self.done.get(d.source) or self.old_entries[d.source] for d in self.documents
                   if d.source in self.done or d.source in self.old_entries]
        current = [e for e in entries if e["source"] in self.done or e["source"] in self.unchanged]
        partial = {"documents_done": len(current), "documents": len(self.documents),
                   "chunks_done": sum(e["chunks"] for e in current),
                   "chunks": plan.chunks + sum(self.old_entries[s]["chunks"] for s in self.unchanged),
                   "segments": [self.segments[i].folder.name for i in self.built]}
        self.generation = write_generation(self.index_dir, self.settings, self.segments, entries,
                                           self.generation, partial)


def _merge_if_due(index_dir: Path, settings: Settings, segments: list[Segment], entries: list[dict],
                  force: bool) -> tuple[list[Segment], list[dict], bool]:
    """The segments, and entries pointing into them, after dropping empty segments and merging
    those due: all of them when masked rows pass MAX_MASKED_SHARE (or `force`), the small ones
    when there are more than MAX_SEGMENTS; and whether a merge is due but was left to `compact`
    (unless `force`, one of more than INLINE_MERGE_ROWS live rows)."""
    _, merge, deferred = _due_merge(segments, entries, force)
    return *_merge(index_dir, settings, segments, entries, merge), deferred


def _merge(index_dir: Path, settings: Settings, segments: list[Segment], entries: list[dict], merge: set[int],
           progress: bool = False) -> tuple[list[Segment], list[dict]]:
    """The segments, and entries pointing into them, after dropping those no entry names and
    merging `merge` (of those named) into one, placed last."""
    named = {entry["segment"] for entry in entries}
    merge = merge & named
    kept = [i for i in range(len(segments)) if i in named and i not in merge]
    renumber = {old: new for new, old in enumerate(kept)}
    moved = {}
    if merge:
        merged, moved = write_merged_segment(index_dir, settings, segments, entries, sorted(merge), progress)
        kept_segments = [segments[i] for i in kept] + [merged]
    else:
        kept_segments = [segments[i] for i in kept]
    result = []
    for entry in entries:
        if entry["segment"] in merge:
            result.append({**entry, "segment": len(kept), "number": moved[entry["segment"], entry["number"]]})
        else:
            result.append({**entry, "segment": renumber[entry["segment"]]})
    return kept_segments, result


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


def _previous(index_dir: Path, settings: Settings, rebuild: bool) -> tuple[Index | None, str | None]:
    if live_generation(index_dir) is None:
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
    folder = live_generation(settings.index_dir)
    if folder is None or folder == Path(settings.index_dir):
        return None
    try:
        return read_manifest(folder)["settings"]
    except (OSError, IndexUnusable):
        return None
