"""A build of fresh documents, planned before anything is embedded: its chunks counted, cut into
blocks (one embedding call each, what the build cache records) and steps (one segment and one
committed generation each); and its progress, measured as it goes.

Blocks and steps depend only on the documents from the build's start, so a build resumed from a
committed step cuts the rest exactly as an uninterrupted one would: each block embeds the same
texts in one call (with int8 weights a text's vector depends on the texts embedded beside it,
qa.index.onnx_embed), and the resumed index is identical to an uninterrupted build's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from qa.config import Settings
from qa.ingest.chunking import indexed_chunks
from qa.ingest.documents import Document

# A block holds this many model batches of texts (`Settings.batch_size`): one embedding call, whose
# vectors are then made durable in the build cache. 512 texts take seconds on a CPU (what a kill loses
# at most) and are enough to sort by length into batches that waste little on padding.
BLOCK_BATCHES = 8  # model batches embedded a call, then made durable: what a killed build loses at most


@dataclass(frozen=True)
class Piece:
    """Chunks `first` to `last` (exclusive) of document `document` (its number in the build)."""
    document: int
    first: int
    last: int


@dataclass(frozen=True)
class Block:
    """Whole documents, or a part of one too big for a block; `texts` counts a chunk's own text
    and its dense windows'; `ends_document`: its last piece ends its document."""
    pieces: tuple[Piece, ...]
    chunks: int
    texts: int
    ends_document: bool


@dataclass(frozen=True)
class BuildPlan:
    """What a build will embed: `documents` (`chunk_counts[d]` chunks each) in `steps` of blocks,
    each step ending with a document."""
    documents: list[Document]
    chunk_counts: list[int]
    steps: list[list[Block]]

    @property
    def chunks(self) -> int:
        return sum(self.chunk_counts)


def plan_build(documents: list[Document], settings: Settings) -> BuildPlan:
    """The build of `documents`: chunked once only to count (chunking is a fraction of a percent of
    the time embedding takes), cut into blocks of at most `BLOCK_BATCHES` batches of texts, and
    steps of at least `settings.commit_chunks` chunks."""
    texts = [[1 + len(windows) for _, _, windows in indexed_chunks(document, settings)] for document in documents]
    blocks = cut_blocks(texts, settings.batch_size * BLOCK_BATCHES)
    return BuildPlan(documents, [len(counts) for counts in texts], group_steps(blocks, settings.commit_chunks))


def cut_blocks(texts: list[list[int]], limit: int) -> list[Block]:
    """Blocks of documents whose chunks have `texts[d][c]` texts each: whole documents while they
    fit in `limit` texts; a bigger document gets blocks of its own, cut between chunks."""
    blocks: list[Block] = []
    pieces: list[Piece] = []

    def close(ends_document: bool = True) -> None:
        if pieces:
            blocks.append(Block(tuple(pieces), sum(p.last - p.first for p in pieces),
                                sum(sum(texts[p.document][p.first:p.last]) for p in pieces), ends_document))
            pieces.clear()

    size = 0
    for number, counts in enumerate(texts):
        if sum(counts) > limit:
            close()
            first, size = 0, 0
            for chunk, count in enumerate(counts):
                if size and size + count > limit:
                    pieces.append(Piece(number, first, chunk))
                    close(ends_document=False)
                    first, size = chunk, 0
                size += count
            pieces.append(Piece(number, first, len(counts)))
            close()
            size = 0
            continue
        if pieces and size + sum(counts) > limit:
            close()
            size = 0
        pieces.append(Piece(number, 0, len(counts)))
        size += sum(counts)
    close()
    return blocks


def group_steps(blocks: list[Block], commit_chunks: int) -> list[list[Block]]:
    """`blocks` in steps of at least `commit_chunks` chunks (but the last), each ending with a document."""
    steps, step, chunks = [], [], 0
    for block in blocks:
        step.append(block)
        chunks += block.chunks
        if chunks >= commit_chunks and block.ends_document:
            steps.append(step)
            step, chunks = [], 0
    if step:
        steps.append(step)
    return steps


@dataclass(frozen=True)
class BuildProgress:
    """Where a build stands: documents and chunks done of this build's, and its speed."""
    documents: int
    documents_total: int
    chunks: int  # embedded, or found in the build cache
    chunks_total: int
    chunks_per_second: float | None  # of the chunks this run embedded (the cache's come at no cost)

    @property
    def fraction(self) -> float:
        return self.chunks / self.chunks_total if self.chunks_total else 1.0

    @property
    def seconds_left(self) -> float | None:
        if not self.chunks_per_second:
            return None
        return (self.chunks_total - self.chunks) / self.chunks_per_second

    def line(self) -> str:
        """E.g. "12 of 800 documents, 5,000 of 40,000 chunks embedded, 38 chunks/s, about 17 min left"."""
        parts = [f"{self.documents:,} of {self.documents_total:,} documents",
                 f"{self.chunks:,} of {self.chunks_total:,} chunks embedded"]
        if self.chunks_per_second:
            parts.append(f"{self.chunks_per_second:,.0f} chunks/s" if self.chunks_per_second >= 10
                         else f"{self.chunks_per_second:.1f} chunks/s")
        left = self.seconds_left
        if left is not None and self.chunks < self.chunks_total:
            parts.append(f"about {_duration(left)} left")
        return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class BuildMeter:
    """Counts a build's progress as its blocks are done, and reports it to `on_progress` (a
    `BuildProgress` each time), or as a terminal bar when `bar` and no `on_progress` is given."""

    def __init__(self, plan: BuildPlan, on_progress: Callable[[BuildProgress], None] | None = None,
                 bar: bool = False) -> None:
        self._documents_total = len(plan.documents)
        self._chunks_total = plan.chunks
        self._documents = self._chunks = self._embedded = 0
        # The time between reports goes to the block just done: writing and committing count
        # towards the speed, reading a block from the build cache does not.
        self._seconds = 0.0
        self._since = time.perf_counter()
        self._on_progress = on_progress
        self._bar = None
        if on_progress is None and bar:
            from tqdm.auto import tqdm

            # tqdm's own speed would count the chunks read back from the build cache: the line is ours.
            self._bar = tqdm(total=plan.chunks, desc="embedding chunks", unit="chunk", file=sys.stderr,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}{postfix}")
        self._report()

    def block_done(self, block: Block, embedded: bool) -> None:
        """`block` written; `embedded`: by the model (not read from the build cache)."""
        now = time.perf_counter()
        self._chunks += block.chunks
        self._documents += len(block.pieces) - (0 if block.ends_document else 1)
        if embedded:
            self._embedded += block.chunks
            self._seconds += now - self._since
        self._since = now
        self._report()

    def progress(self) -> BuildProgress:
        rate = self._embedded / self._seconds if self._seconds > 0 else None
        return BuildProgress(self._documents, self._documents_total, self._chunks, self._chunks_total, rate)

    def _report(self) -> None:
        progress = self.progress()
        if self._on_progress is not None:
            self._on_progress(progress)
        if self._bar is not None:
            self._bar.n = progress.chunks
            self._bar.set_postfix_str(progress.line(), refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
