"""Ranked passages for a question: BM25, embeddings, or both fused.

Retrieval searches a `qa.index.backend.Backend` (the on-disk index, `qa.index.store`, or Milvus, `qa.index.milvus`)
lexically and by vector, and fuses the two rankings here, so answers are the same on either.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase

import numpy as np

from qa.index.backend import Backend
from qa.ingest.chunking import Chunk
from qa.config import Settings
from qa.errors import UserError
from qa.index.dense import embed
from qa.ingest.documents import Document


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk, with why it was chosen: its rank and score in each retriever."""
    chunk: Chunk
    title: str
    rank: int  # 1-based, in the final ranking
    score: float  # the fused score (or the single retriever's score)
    bm25_rank: int | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    dense_score: float | None = None

    def as_dict(self) -> dict:
        c = self.chunk
        return {"rank": self.rank, "score": self.score, "source": c.source, "title": self.title,
                "start": c.start, "end": c.end, "paragraph": c.paragraph, "page": c.page,
                "text": c.text, "bm25_rank": self.bm25_rank, "bm25_score": self.bm25_score,
                "dense_rank": self.dense_rank, "dense_score": self.dense_score}


_TEXT_HASHES: dict[str, str] = {}  # document.sha256 (of its file) -> SHA-256 of its text


def text_sha256(document: Document) -> str:
    """SHA-256 of a document's extracted text (UTF-8): what citation offsets index, so a reader
    can check they have the same text (`qa show SOURCE | sha256sum`). Remembered by the file's
    hash: a 20 MB document is hashed once, not once per citation."""
    found = _TEXT_HASHES.get(document.sha256)
    if found is None:
        found = hashlib.sha256(document.text.encode("utf-8")).hexdigest()
        if len(_TEXT_HASHES) >= 4096:
            _TEXT_HASHES.clear()
        _TEXT_HASHES[document.sha256] = found
    return found


def reciprocal_rank_fusion(rankings: list[list[int]], k: int) -> dict[int, float]:
    """RRF (Cormack et al., 2009): each ranking adds 1 / (k + rank) to an item's score (`k`:
    Settings.rrf_k)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return fused


def weighted_fusion(scored: list[list[tuple[int, float]]], weights: list[float],
                    confidence_power: float = 0.0) -> dict[int, float]:
    """Weighted sum of min–max normalised scores; an item absent from a ranking scores 0 there.

    With confidence_power > 0 each ranking's weight is first scaled by its confidence for this
    query raised to that power (`ranking_confidence`), and the weights renormalised to sum to
    1: a retriever whose best candidate stands out from the rest counts for more than one whose
    candidates all score alike."""
    if confidence_power > 0:
        weights = [w * ranking_confidence([s for _, s in results]) ** confidence_power
                   for results, w in zip(scored, weights)]
        total = sum(weights)
        weights = [w / total for w in weights] if total > 0 else weights
    fused: dict[int, float] = {}
    for results, weight in zip(scored, weights):
        if not results:
            continue
        scores = np.array([s for _, s in results])
        low, span = scores.min(), scores.max() - scores.min()
        for (item, _), score in zip(results, scores):
            normalised = (score - low) / span if span > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * float(normalised)
    return fused


def ranking_confidence(scores: list[float]) -> float:
    """How far a ranking's best score stands above its candidates: (best − mean) / standard
    deviation, a query-performance estimate that needs no judgements. 1.0 when there are too
    few candidates (under 3) or they all score the same; never below 0.001."""
    values = np.asarray(scores, dtype=np.float64)
    if len(values) < 3 or values.std() == 0:
        return 1.0
    return max(float((values.max() - values.mean()) / values.std()), 1e-3)


def fuse_rankings(bm25: list[tuple[int, float]], dense: list[tuple[int, float]],
                  settings: Settings) -> list[tuple[int, float]]:
    """The two retrievers' (item, score) lists merged into one, best first."""
    if settings.fusion == "rrf":
        fused = reciprocal_rank_fusion([[i for i, _ in bm25], [i for i, _ in dense]], settings.rrf_k)
    else:
        fused = weighted_fusion([bm25, dense], [1 - settings.dense_weight, settings.dense_weight],
                                settings.confidence_power)
    # Ties (common with RRF) go to the item the dense retriever ranked higher.
    dense_rank = {item: r for r, (item, _) in enumerate(dense)}
    return sorted(fused.items(), key=lambda pair: (-pair[1], dense_rank.get(pair[0], len(dense))))


class NoMatchingDocument(UserError):
    """A source pattern that selects none of the indexed documents."""

    def __init__(self, pattern: str, indexed: int) -> None:
        super().__init__(f"no indexed document matches {pattern!r} (a file name, path or folder as "
                         f"citations give it, or a glob over them): `qa documents` lists the {indexed} "
                         f"indexed documents")
        self.pattern = pattern
        self.indexed = indexed


def source_matches(pattern: str, source: str) -> bool:
    """Whether `pattern` selects the document `source` (its path in the sources folder, as a
    citation gives it): the path or the file name itself, a glob over either (fnmatch, case
    sensitive; `*` also crosses `/`), or a folder the document lies in (`notes` or `notes/`)."""
    name = source.rsplit("/", 1)[-1]
    folder = pattern.rstrip("/")
    return (pattern in (source, name) or fnmatchcase(source, pattern) or fnmatchcase(name, pattern)
            or (folder != "" and source.startswith(folder + "/")))


def matching_sources(patterns: Iterable[str], sources: Iterable[str]) -> frozenset[str]:
    """The `sources` that any of `patterns` selects (`source_matches`); NoMatchingDocument names
    the first pattern that selects none of them."""
    sources = list(sources)
    selected: set[str] = set()
    for pattern in patterns:
        matched = {source for source in sources if source_matches(pattern, source)}
        if not matched:
            raise NoMatchingDocument(pattern, len(sources))
        selected |= matched
    return frozenset(selected)


# A search restricted to some documents asks a backend for more results until enough are theirs,
# but never for more than this many at once: Milvus's largest search limit.
DEEPEST_SEARCH = 16_384

# Sentence vectors kept for answer selection: 384 floats each, so about 30 MB at most.
SENTENCE_VECTORS_KEPT = 20_000
# Sentences the web app embeds ahead of the first questions (`Retriever.warm_sentences`): enough
# to cover a collection of a few hundred pages, in seconds.
SENTENCES_WARMED = 5_000


class Retriever:
    """Searches one backend with one embedding model, both loaded once and reused; all its
    documents, or those `within` selects."""

    def __init__(self, backend: Backend, model, settings: Settings) -> None:
        self.backend = backend
        self.model = model
        self.settings = settings
        self.sources: frozenset[str] | None = None  # the documents searched; None: all of them
        self._selected_chunks = 0
        self._source_of: dict[int, str] = {}  # chunk number -> its document, as restricted searches meet them
        self._last_query: tuple[str, np.ndarray] | None = None
        self._sentences: OrderedDict[str, np.ndarray] = OrderedDict()
        self._sentences_lock = threading.Lock()
        # Hybrid searches run BM25 on a second thread while the query is embedded and searched by
        # vector: numpy, ONNX Runtime and FAISS let go of the GIL, so on two cores the BM25 part
        # (1 ms at 100k chunks, 5 ms at 1M) hides behind the embedding. Only for backends that
        # say they may be searched from two threads at once.
        self._lexical_thread = (ThreadPoolExecutor(max_workers=2, thread_name_prefix="qa-bm25")
                                if getattr(backend, "concurrent_searches", False) else None)

    def embed_query(self, question: str) -> np.ndarray:
        """The question's vector; the last one is kept, so that retrieval and answer selection
        embed a question once."""
        last = self._last_query
        if last is None or last[0] != question:
            last = self._last_query = (question, embed(self.model, [question], batch_size=1)[0])
        return last[1]

    def embed_sentences(self, texts: list[str]) -> np.ndarray:
        """The vectors of `texts` (sentences of retrieved passages), one row each. The most
        recent are kept: in one collection the same passages come back question after question,
        and embedding their sentences again would cost more than reading them."""
        with self._sentences_lock:
            known = {t: self._sentences[t] for t in texts if t in self._sentences}
            for t in known:
                self._sentences.move_to_end(t)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            # One text a run, as queries are: the int8 model quantizes a run's activations with one
            # scale, so in a batch a vector would depend on its batchmates, and a kept vector on
            # which question first needed it. Alone was also the fastest on busy 2 cores
            # (69 ms for 26 sentences, against 102 ms in batches of 32).
            fresh = dict(zip(missing, embed(self.model, missing, batch_size=1)))
            with self._sentences_lock:
                self._sentences.update(fresh)
                while len(self._sentences) > SENTENCE_VECTORS_KEPT:
                    self._sentences.popitem(last=False)
            known.update(fresh)
        return np.stack([known[t] for t in texts]) if texts else embed(self.model, [], batch_size=1)

    def warm_sentences(self, limit: int = SENTENCES_WARMED, stop: threading.Event | None = None) -> int:
        """Embed the sentences of the indexed documents ahead of questions, up to `limit` of them,
        document by document, so that a small collection's first questions find their candidates'
        vectors kept (`embed_sentences`); `stop` set ends it early. Returns how many were embedded.
        The vectors are those a question would compute (one text a run), so answers do not change."""
        from qa.ingest.chunking import sentence_spans

        done = 0
        for info in self.backend.documents():
            document = self.backend.document_by_source(info.source)
            for s, e in sentence_spans(document.text):
                if done >= limit or (stop is not None and stop.is_set()):
                    return done
                self.embed_sentences([document.text[s:e]])
                done += 1
        return done

    def kept_sentences(self) -> frozenset[str]:
        """The sentences whose vectors are kept now (`embed_sentences`)."""
        with self._sentences_lock:
            return frozenset(self._sentences)

    def forget_sentences(self) -> None:
        """Drop every kept sentence vector, as a fresh process starts."""
        with self._sentences_lock:
            self._sentences.clear()

    def keep_sentences_of(self, other: "Retriever") -> None:
        """Take over `other`'s kept sentence vectors (the same model: a reloaded index)."""
        if other.model is self.model:
            with other._sentences_lock:
                self._sentences.update(other._sentences)

    def within(self, patterns: Iterable[str] | None) -> "Retriever":
        """This retriever searching only the indexed documents that any of `patterns` selects
        (`source_matches`), sharing its backend, model and kept vectors; no patterns: all of them.
        NoMatchingDocument names a pattern that selects no indexed document."""
        patterns = list(patterns or ())
        if not patterns:
            return self
        documents = self.backend.documents()
        narrowed = copy.copy(self)
        narrowed.sources = matching_sources(patterns, (d.source for d in documents))
        narrowed._selected_chunks = sum(d.chunks for d in documents if d.source in narrowed.sources)
        return narrowed

    def search(self, question: str, mode: str | None = None, k: int | None = None) -> list[Hit]:
        """The best `k` chunks for `question` in `mode` (hybrid, bm25 or dense), of the documents
        searched (`within`)."""
        mode = mode or self.settings.mode
        k = k or self.settings.k
        depth = max(self.settings.candidates, k)
        lexical = None
        if mode == "hybrid" and self._lexical_thread is not None:
            lexical = self._lexical_thread.submit(self._selected, self.backend.lexical_search, question, depth)
        elif mode in ("bm25", "hybrid"):
            bm25 = self._selected(self.backend.lexical_search, question, depth)
        else:
            bm25 = []
        dense = (self._selected(self.backend.dense_search, self.embed_query(question), depth)
                 if mode in ("dense", "hybrid") else [])
        if lexical is not None:
            bm25 = lexical.result()
        if mode == "hybrid":
            ranked = fuse_rankings(bm25, dense, self.settings)
        else:
            ranked = bm25 or dense
        bm25_at = {item: (r, s) for r, (item, s) in enumerate(bm25, start=1)}
        dense_at = {item: (r, s) for r, (item, s) in enumerate(dense, start=1)}
        hits = []
        for rank, (item, score) in enumerate(ranked[:k], start=1):
            chunk = self.backend.chunk(item)
            b_rank, b_score = bm25_at.get(item, (None, None))
            d_rank, d_score = dense_at.get(item, (None, None))
            hits.append(Hit(chunk=chunk, title=self.backend.title(chunk.source), rank=rank,
                            score=score, bm25_rank=b_rank, bm25_score=b_score,
                            dense_rank=d_rank, dense_score=d_score))
        return hits

    def _selected(self, search: Callable[..., list[tuple[int, float]]], query, depth: int) -> list[tuple[int, float]]:
        """The best `depth` results of a backend's `search(query, n)` among the chunks of the
        documents searched. Restricted, the backend is asked for more results at once as the
        selection is smaller, and for four times as many again until `depth` are selected or it
        has no more (or DEEPEST_SEARCH are asked for)."""
        if self.sources is None:
            return search(query, depth)
        most = min(self.backend.size, DEEPEST_SEARCH)
        share = self._selected_chunks / max(self.backend.size, 1)
        fetch = min(most, max(depth, int(2 * depth / max(share, 1e-9))))
        while True:
            found = search(query, fetch)
            kept = [(item, score) for item, score in found if self._source(item) in self.sources]
            if len(kept) >= depth or len(found) < fetch or fetch >= most:
                return kept[:depth]
            fetch = min(most, 4 * fetch)

    def _source(self, item: int) -> str:
        source = self._source_of.get(item)
        if source is None:
            if len(self._source_of) >= 200_000:
                self._source_of.clear()
            source = self._source_of[item] = self.backend.chunk(item).source
        return source
