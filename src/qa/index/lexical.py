"""The BM25 index: tokenising, counting terms per segment, scoring over all segments.

An index is a list of immutable segments (qa.index.store adds one per update), each holding its own
term counts (`TermCounts`); `LexicalIndex` scores them together with the collection statistics
of the live chunks of every segment (document frequencies, chunk count, mean length), so the
scores are exactly those of one index built afresh from the same chunks. The formula is Okapi
BM25 with Lucene's idf, as bm25s's "lucene" method (k1 1.5, b 0.75) and rank-bm25 compute it;
tests/test_lexical.py checks the rankings against both.
"""

from __future__ import annotations

import json
import mmap
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|\w+")

# Function words carry no evidence of topic; dropping them keeps BM25 on the content words.
STOPWORDS = frozenset("""
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves s t
""".split())

K1 = 1.5  # BM25's term-frequency saturation: rank_bm25's default
B = 0.75  # BM25's length normalisation: the value BM25 implementations take by default
# A chunk without a content word counts as one placeholder token (as bm25s counts it), so that
# chunk lengths, and with them the scores, match an index built by bm25s.
EMPTY = "\x00"


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed content words; numbers such as "12,000" stay whole."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS]
    return _stemmer().stemWords(words)


@dataclass(frozen=True)
class TermCounts:
    """One segment's term-document counts: for term t, `rows[indptr[t]:indptr[t+1]]` are the
    segment rows (chunks) holding it and `counts[...]` how often; `lengths` are tokens per row."""

    terms: dict[str, int]
    indptr: np.ndarray
    rows: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray

    FILES = ("terms.json", "indptr.npy", "rows.npy", "counts.npy", "lengths.npy")

    @property
    def size(self) -> int:
        return len(self.lengths)

    def span(self, term: str) -> slice:
        """Where `term`'s postings lie in `rows` and `counts` (an empty slice for an unknown term)."""
        t = self.terms.get(term)
        return slice(0, 0) if t is None else slice(int(self.indptr[t]), int(self.indptr[t + 1]))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        vocabulary = sorted(self.terms, key=self.terms.get)
        (folder / "terms.json").write_text(json.dumps(vocabulary, ensure_ascii=False))
        for name in ("indptr", "rows", "counts", "lengths"):
            np.save(folder / f"{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, folder: Path) -> "TermCounts":
        vocabulary = json.loads((folder / "terms.json").read_text())
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r")
                  for name in ("indptr", "rows", "counts", "lengths")}
        return cls(terms={term: t for t, term in enumerate(vocabulary)}, **arrays)


_NO_ROWS = np.zeros(0, dtype=np.int32)
_NO_COUNTS = np.zeros(0, dtype=np.float32)


class TermCounter:
    """Builds a `TermCounts` from token lists given a batch at a time, holding only compact
    arrays (not the token lists) between batches."""

    def __init__(self) -> None:
        self._terms: dict[str, int] = {}
        self._term_ids: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []
        self._size = 0

    def add(self, token_lists: list[list[str]]) -> None:
        term_ids, rows, counts = [], [], []
        lengths = np.empty(len(token_lists), dtype=np.int32)
        for i, tokens in enumerate(token_lists):
            tokens = tokens or [EMPTY]
            lengths[i] = len(tokens)
            for term, count in Counter(tokens).items():
                term_ids.append(self._terms.setdefault(term, len(self._terms)))
                rows.append(self._size + i)
                counts.append(count)
        self._term_ids.append(np.array(term_ids, dtype=np.int32))
        self._rows.append(np.array(rows, dtype=np.int32))
        self._counts.append(np.array(counts, dtype=np.float32))
        self._lengths.append(lengths)
        self._size += len(token_lists)

    def add_rows(self, source: TermCounts, rows: np.ndarray) -> None:
        """Append `rows` of another segment's counts, in that order (merging segments without
        tokenising again)."""
        from scipy import sparse

        matrix = sparse.csr_matrix((source.counts, source.rows, source.indptr), shape=(len(source.terms), source.size))
        part = matrix[:, rows].tocoo()
        vocabulary = sorted(source.terms, key=source.terms.get)
        mapped = np.array([self._terms.setdefault(term, len(self._terms)) for term in vocabulary], dtype=np.int32)
        self._term_ids.append(mapped[part.row])
        self._rows.append(part.col.astype(np.int32) + self._size)
        self._counts.append(part.data.astype(np.float32))
        self._lengths.append(np.asarray(source.lengths[rows], dtype=np.int32))
        self._size += len(rows)

    def finish(self) -> TermCounts:
        term_ids = np.concatenate(self._term_ids) if self._term_ids else _NO_ROWS
        self._term_ids = []
        # Term-major order; stable, so each term's rows stay ascending as they were added.
        order = np.argsort(term_ids, kind="stable")
        indptr = np.zeros(len(self._terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_ids, minlength=len(self._terms)), out=indptr[1:])
        del term_ids
        rows = (np.concatenate(self._rows) if self._rows else _NO_ROWS)[order]
        self._rows = []
        counts = (np.concatenate(self._counts) if self._counts else _NO_COUNTS)[order]
        self._counts = []
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, dtype=np.int32)
        return TermCounts(self._terms, indptr, rows, counts, lengths)


def _tf_weights(counts: TermCounts, norm: np.ndarray,
                live: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Each posting's term-frequency part of BM25, zero for a row outside `live`; and, when some
    rows are not live, how many of each term's postings are theirs (so that document frequencies
    count live rows without masking at query time)."""
    weights = np.empty(len(counts.rows), dtype=np.float32)
    dead = []
    step = 1 << 22  # in slices: a big segment's temporaries stay small
    for at in range(0, len(weights), step):
        rows = counts.rows[at:at + step]
        tf = np.asarray(counts.counts[at:at + step], dtype=np.float32)
        weights[at:at + step] = tf / (tf + norm[rows])
        if live is not None:
            gone = np.flatnonzero(~live[rows])
            weights[at + gone] = 0
            dead.append(gone + at)
    # Read once here, the mapped files' pages would stay counted as this process's memory (360 MB
    # at a million chunks); a query then maps back only the rows of its own terms.
    for array in (counts.counts, counts.rows):
        handle = getattr(array, "_mmap", None)
        if handle is not None and hasattr(mmap, "MADV_DONTNEED"):
            handle.madvise(mmap.MADV_DONTNEED)
    if live is None:
        return weights, None
    positions = np.concatenate(dead) if dead else np.zeros(0, dtype=np.int64)
    terms = np.searchsorted(counts.indptr, positions, side="right") - 1
    return weights, np.bincount(terms, minlength=len(counts.terms))


BLOCK = 1024  # rows whose best score top_k looks at first


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The rows of the `k` best positive scores, best first, ties by row (as a fresh build ranks
    them). At a million rows a full partial sort costs several milliseconds; so each block of
    BLOCK rows is first reduced to its best score, and only the blocks whose best reaches the k-th
    best block's can hold one of the k best (at most k blocks, plus ties)."""
    whole = len(scores) - len(scores) % BLOCK
    if whole >= 64 * BLOCK and k * 8 < whole // BLOCK:
        maxima = scores[:whole].reshape(-1, BLOCK).max(axis=1)
        kth = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
        blocks = np.flatnonzero(maxima >= kth if kth > 0 else maxima > 0)
        rows = np.concatenate([(blocks[:, None] * BLOCK + np.arange(BLOCK)).ravel(),
                               np.arange(whole, len(scores))])
        rows = rows[scores[rows] > 0]
    else:
        rows = np.flatnonzero(scores > 0)
    if len(rows) > k:  # rows ascend here: of the rows tied with the k-th best, the first ones
        values = scores[rows]
        kth = np.partition(values, len(rows) - k)[len(rows) - k]
        better = rows[values > kth]
        rows = np.concatenate([better, rows[values == kth][:k - len(better)]])
    return rows[np.lexsort((rows, -scores[rows]))]


def count_terms(token_lists: list[list[str]]) -> TermCounts:
    counter = TermCounter()
    counter.add(token_lists)
    return counter.finish()


class LexicalIndex:
    """Okapi BM25 (Lucene's idf, so that no term scores below zero) over segments placed one after
    another: segment i's row r is chunk number `offsets[i] + r`. Rows outside `live` (chunks of
    removed or changed documents) neither score nor count in the collection statistics."""

    def __init__(self, segments: list[TermCounts], live: list[np.ndarray | None]) -> None:
        self._segments = segments
        self._offsets = np.cumsum([0] + [s.size for s in segments])
        live_lengths = [s.lengths if m is None else s.lengths[m] for s, m in zip(segments, live)]
        self._count = sum(len(x) for x in live_lengths)
        mean_length = sum(float(np.sum(x, dtype=np.float64)) for x in live_lengths) / max(self._count, 1)
        # Each posting's term-frequency part, tf / (tf + k1 (1 - b + b len/mean len)), depends on
        # the collection only through the mean length: computed once per open, so a query only
        # gathers and adds (as fast as bm25s, whose stored scores cannot follow other segments).
        # Removed rows weigh zero there, and their postings are counted per term (`_dead`).
        self._weights, self._dead = [], []
        for s, m in zip(segments, live):
            weights, dead = _tf_weights(s, (K1 * (1 - B + B * s.lengths / mean_length)).astype(np.float32), m)
            self._weights.append(weights)
            self._dead.append(dead)

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> "LexicalIndex":
        """One segment, every row live: the index of `token_lists` alone."""
        return cls([count_terms(token_lists)], [None])

    @property
    def size(self) -> int:
        return self._count

    def _postings(self, term: str):
        """For each segment holding `term`: its postings' rows and weights, its row offset, and how
        many of them are live."""
        for segment, weights, dead, offset in zip(self._segments, self._weights, self._dead, self._offsets):
            t = segment.terms.get(term)
            if t is not None:
                span = slice(int(segment.indptr[t]), int(segment.indptr[t + 1]))
                live = span.stop - span.start - (int(dead[t]) if dead is not None else 0)
                yield segment.rows[span], weights[span], offset, live

    def frequency(self, term: str) -> int:
        """How many live rows hold `term` (a token as `tokenize` gives it)."""
        return sum(live for *_, live in self._postings(term))

    def knows(self, word: str) -> bool:
        """Whether every content word of `word` is in a live row: a lookup, no scoring."""
        terms = tokenize(word)
        return bool(terms) and all(self.frequency(term) for term in terms)

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every row of every segment for `query` (zero for removed rows)."""
        total = np.zeros(int(self._offsets[-1]), dtype=np.float32)
        # A word said twice counts twice, as in bm25s and rank-bm25.
        for term, times in Counter(tokenize(query)).items():
            postings = list(self._postings(term))
            frequency = sum(live for *_, live in postings)
            if not frequency:
                continue
            idf = np.float32(np.log(1 + (self._count - frequency + 0.5) / (frequency + 0.5)) * times)
            for rows, weight, offset, _ in postings:
                # np.add.at: several times faster than `total[rows] += ...` (rows are unique here);
                # a removed row's weight is zero, so it keeps its zero score.
                np.add.at(total, rows + offset if offset else rows, idf * weight)
        return total

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk number, BM25 score) of the best `k` chunks with a score above zero."""
        scores = self.scores(query)
        if not len(scores) or k <= 0:
            return []
        return [(int(i), float(scores[i])) for i in top_k(scores, min(k, len(scores)))]
