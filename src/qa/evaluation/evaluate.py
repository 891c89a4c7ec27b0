"""How well the product answers: the evaluators, over question sets and BEIR collections.

Two evaluators, each in the manner of sentence-transformers' InformationRetrievalEvaluator
(questions in, named metrics per retrieval mode out):

- `evaluate_question_set`: the project's format (see the shared eval README). Every question is
  answered with `answer_question`; a question counts as answered at rank k when one of the first k
  cited passages contains one of its answers, and a question without answers should abstain.
- `evaluate_retrieval`: BEIR-style queries and graded relevance judgements (qrels). Chunk hits
  become document rankings, scored with ranx (nDCG@10, recall@100, MRR@10, MAP).

The metric functions are pure (`qa.evaluation.metrics`); reading question sets (`questions`) and
BEIR collections (`beir`), reports and plots (`report`) and other systems' runs (`runs`) sit at the
edges, each importable from here too (the web app's Evaluate tab is `qa.app.web_evaluate`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from qa.config import MODES, Settings
from qa.evaluation.beir import BeirDataset, beir_documents, load_beir
from qa.evaluation.metrics import (RECALL_CURVE, answer_rank, contains_answer, hit_rate, mean_reciprocal_rank,
                                   retrieval_metrics, span_matches)
from qa.evaluation.questions import Question, check_follow_ups
from qa.evaluation.report import EvalReport
from qa.pipeline import READER_SEES, answer_after
from qa.read.answer import Answer, answer_question, rerank, shared_reader
from qa.retrieve import Hit, Retriever

# Callers (the CLI, the web app, bench/) find every evaluation name here, also these it does not use.
from qa.evaluation.questions import load_question_set  # noqa: F401
from qa.evaluation.runs import compare_runs, read_run  # noqa: F401

DEFAULT_MODES = ("bm25", "dense", "hybrid")
HIT_AT = (1, 3, 5, 10)
BEIR_DEPTH = 100  # documents ranked per query: recall@100 needs a hundred
Progress = Callable[[int, int], None]


# ---------------------------------------------------------------- question sets


@dataclass(frozen=True)
class QuestionResult:
    """One question answered in one mode."""
    question: Question
    mode: str
    answer: Answer
    rank: int | None  # first cited passage holding an answer, whether or not the system abstained
    seconds: float

    @property
    def answered_at(self) -> int | None:
        """The rank that counts: an abstention on an answerable question is a miss."""
        return None if self.answer.abstained else self.rank

    @property
    def quote_holds_answer(self) -> bool:
        return bool(self.answer.quotes) and contains_answer(self.answer.quotes[0].quote, self.question.answers)

    @property
    def span_holds_answer(self) -> bool:
        """span@1: citation 1's answer words hold an accepted answer, at most a few words longer."""
        if self.answer.abstained or not self.answer.citations:
            return False
        return span_matches(self.answer.citations[0].answer, self.question.answers)

    @property
    def missed(self) -> bool:
        """Answered by other than the first cited passage, or abstained wrongly either way."""
        if not self.question.answerable:
            return not self.answer.abstained
        return self.answered_at != 1

    def why(self) -> str:
        """What went wrong, in a few words (empty when nothing did)."""
        if not self.question.answerable:
            return "" if self.answer.abstained else "answered, but the sources do not answer it"
        if self.answer.error:
            return f"question rejected: {self.answer.error}"
        where = f"citation {self.rank}" if self.rank else f"none of the {len(self.answer.citations)} cited passages"
        if self.answer.abstained:
            return f"abstained; the answer was in {where}"
        return "" if self.rank == 1 else f"answer first in {where}"

    def miss(self) -> dict:
        first = self.answer.citations[0] if self.answer.citations else None
        return {"mode": self.mode, "id": self.question.id, "question": self.question.question,
                "expected": " | ".join(self.question.answers) or "(abstain)", "why": self.why(),
                "got": ("(abstained) " if self.answer.abstained else "") + (first.quote if first else ""),
                "source": first.source if first else None}

    def as_dict(self) -> dict:
        return {"mode": self.mode, "id": self.question.id, "question": self.question.question,
                "follows": self.question.follows, "answers": list(self.question.answers),
                "sources": list(self.question.sources),
                "abstained": self.answer.abstained, "rank": self.rank, "answered_at": self.answered_at,
                "quote_holds_answer": self.quote_holds_answer,
                "span_holds_answer": self.span_holds_answer, "missed": self.missed,
                "why": self.why(), "seconds": round(self.seconds, 4), "answer": self.answer.as_dict()}


def evaluate_question_set(retriever: Retriever, questions: list[Question],
                          modes: tuple[str, ...] | list[str] = DEFAULT_MODES, k: int = 10,
                          progress: Progress | None = None, name: str = "question set",
                          follow_ups: bool = True, reader_sees: str | None = None) -> EvalReport:
    """Answer every question in every mode with up to `k` citations, and score the answers.
    A question that `follows` another is asked after that one's answer (in the same mode), as in a
    chat; `follow_ups=False` asks every question alone. `reader_sees`: see qa.pipeline.READER_SEES."""
    modes = _checked_modes(modes)
    if not questions:
        raise ValueError("no questions to evaluate")
    check_follow_ups(questions)
    results, done, total = [], 0, len(questions) * len(modes)
    # The models' first calls are slow: keep them out of the timing.
    answer_question(retriever, questions[0].question, modes[0], k)
    for mode in modes:
        answers: dict[str, Answer] = {}
        for question in questions:
            previous = answers[question.follows] if follow_ups and question.follows is not None else None
            began = time.perf_counter()
            answer = answer_after(retriever, question.question, previous, mode, k, reader_sees or READER_SEES)
            seconds = time.perf_counter() - began
            answers[question.id] = answer
            rank = answer_rank([c.passage for c in answer.citations], question.answers) if question.answers else None
            results.append(QuestionResult(question, mode, answer, rank, seconds))
            done += 1
            if progress:
                progress(done, total)
    metrics = {mode: question_set_metrics([r for r in results if r.mode == mode], k) for mode in modes}
    curves = {mode: {j: hit_rate([r.answered_at for r in results if r.mode == mode and r.question.answerable], j)
                     for j in range(1, k + 1)}
              for mode in modes if any(q.answerable for q in questions)}
    answerable = sum(q.answerable for q in questions)
    about = (f"{len(questions)} questions ({answerable} answerable, {len(questions) - answerable} to abstain on), "
             f"up to {k} citations each")
    return EvalReport(name, "questions", k, metrics, curves, tuple(results), about)


def question_set_metrics(results: list[QuestionResult], k: int) -> dict[str, float]:
    """hit@n, MRR@k and quote@1 over answerable questions; abstention over all; the share of the
    answers given that were marked unsure; speed.
    A metric without questions to measure it on is left out rather than reported as 0."""
    answerable = [r for r in results if r.question.answerable]
    unanswerable = [r for r in results if not r.question.answerable]
    metrics: dict[str, float] = {}
    if answerable:
        ranks = [r.answered_at for r in answerable]
        for n in (n for n in HIT_AT if n <= k):
            metrics[f"hit@{n}"] = hit_rate(ranks, n)
        metrics[f"mrr@{k}"] = mean_reciprocal_rank(ranks, k)
        metrics["quote@1"] = sum(r.quote_holds_answer for r in answerable) / len(answerable)
        metrics["span@1"] = sum(r.span_holds_answer for r in answerable) / len(answerable)
        metrics["answered_answerable"] = sum(not r.answer.abstained for r in answerable) / len(answerable)
        follow_ups = [r.answered_at for r in answerable if r.question.follows is not None]
        if follow_ups:  # the questions that lean on the one before: what conversation context is for
            for n in (n for n in (1, 3) if n <= k):
                metrics[f"follow_up_hit@{n}"] = hit_rate(follow_ups, n)
    if unanswerable:
        metrics["abstained_offtopic"] = sum(r.answer.abstained for r in unanswerable) / len(unanswerable)
    if answered := [r for r in results if not r.answer.abstained]:  # marked "Not sure this answers …"
        metrics["answered_unsure"] = sum(r.answer.unsure for r in answered) / len(answered)
    if results:
        right = sum(r.answer.abstained != r.question.answerable for r in results)
        metrics["abstention_accuracy"] = right / len(results)
        metrics["questions_per_s"] = len(results) / max(sum(r.seconds for r in results), 1e-9)
    return metrics


# ---------------------------------------------------------------- BEIR collections


@dataclass(frozen=True)
class RankedDocument:
    id: str
    rank: int
    hit: Hit  # the document's best chunk
    score: float = 0.0  # what ranked it: see `document_score`


# What a document's other retrieved chunks add to its best chunk's score: bench/retrieval/sweep_fusion.py measured it.
CHUNK_SHARE = 0.0


def document_score(chunk_scores: list[float], share: float = CHUNK_SHARE) -> float:
    """A document's score from its retrieved chunks' scores: the best one, plus `share` of the
    sum of the others (0: the best chunk alone)."""
    best = max(chunk_scores)
    return best + share * (sum(chunk_scores) - best)


def rank_documents(hits: list[Hit], depth: int = BEIR_DEPTH, share: float = CHUNK_SHARE) -> list[RankedDocument]:
    """Chunk hits as a document ranking by `document_score`; ties go to the document whose best
    chunk ranked higher."""
    chunks: dict[str, list[Hit]] = {}
    for hit in hits:  # best first: a document's first hit is its best chunk
        chunks.setdefault(hit.chunk.source, []).append(hit)
    scored = [(document_score([h.score for h in found], share), found[0].rank, source, found[0])
              for source, found in chunks.items()]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [RankedDocument(source, rank, best, score)
            for rank, (score, _, source, best) in enumerate(scored[:depth], start=1)]


@dataclass(frozen=True)
class QueryResult:
    """One BEIR query searched in one mode."""
    id: str
    text: str
    mode: str
    relevant: dict[str, int]
    ranking: tuple[RankedDocument, ...]
    seconds: float

    @property
    def rank(self) -> int | None:
        """Rank of the first relevant document."""
        return next((d.rank for d in self.ranking if d.id in self.relevant), None)

    @property
    def missed(self) -> bool:
        return self.rank != 1

    def why(self) -> str:
        if self.rank == 1:
            return ""
        return f"first relevant document at rank {self.rank}" if self.rank else \
            f"no relevant document in the first {len(self.ranking)}"

    def miss(self) -> dict:
        top = self.ranking[0] if self.ranking else None
        return {"mode": self.mode, "id": self.id, "question": self.text,
                "expected": " | ".join(self.relevant), "why": self.why(),
                "got": top.hit.chunk.text[:300] if top else "", "source": top.id if top else None}

    def as_dict(self, shown: int = 10) -> dict:
        return {"mode": self.mode, "id": self.id, "question": self.text, "relevant": self.relevant,
                "rank": self.rank, "missed": self.missed, "why": self.why(),
                "seconds": round(self.seconds, 4), "ranking": [d.id for d in self.ranking],
                "hits": [{"doc": d.id, "doc_rank": d.rank, **d.hit.as_dict()} for d in self.ranking[:shown]]}


RERANK_TOP = 20  # passages the reader reorders with `qa eval --beir --rerank`


def reranked_hits(reader, retriever: Retriever, question: str, hits: list[Hit], top: int = RERANK_TOP) -> list[Hit]:
    """The first `top` hits in the reader's order (`qa search --rerank`), then the rest as they
    were; scores become 1/rank, since the reader's and the retrievers' scores do not compare."""
    ordered = rerank(reader, retriever, question, hits[:top]) + hits[top:]
    return [replace(h, rank=n, score=1.0 / n) for n, h in enumerate(ordered, start=1)]


def evaluate_retrieval(retriever: Retriever, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                       modes: tuple[str, ...] | list[str] = DEFAULT_MODES, depth: int = BEIR_DEPTH,
                       progress: Progress | None = None, name: str = "retrieval",
                       rerank_top: int = 0) -> EvalReport:
    """Search every judged query in every mode and score the document rankings against `qrels`;
    with `rerank_top`, the reader first reorders each mode's best `rerank_top` passages."""
    modes = _checked_modes(modes)
    judged = [q for q in queries if q in qrels]
    if not judged:
        raise ValueError("no query has relevance judgements: nothing to evaluate")
    reader = shared_reader(retriever.settings.reader_dir) if rerank_top else None
    results, done, total = [], 0, len(judged) * len(modes)
    retriever.embed_query(queries[judged[0]])  # the model's first call is slow: keep it out of the timing
    for mode in modes:
        for query in judged:
            began = time.perf_counter()
            # Documents span several chunks: search deeper so that `depth` documents come back.
            hits = retriever.search(queries[query], mode, 2 * depth)
            if reader:
                hits = reranked_hits(reader, retriever, queries[query], hits, rerank_top)
            ranking = rank_documents(hits, depth)
            results.append(QueryResult(query, queries[query], mode, qrels[query], tuple(ranking),
                                       time.perf_counter() - began))
            done += 1
            if progress:
                progress(done, total)
    metrics, curves = {}, {}
    for mode in modes:
        mine = [r for r in results if r.mode == mode]
        run = {r.id: {d.id: 1.0 / d.rank for d in r.ranking} for r in mine}
        names = ("ndcg@10", f"recall@{depth}", "mrr@10", "map") + tuple(f"recall@{n}" for n in RECALL_CURVE)
        scores = retrieval_metrics({q: qrels[q] for q in judged}, run, tuple(dict.fromkeys(names)))
        metrics[mode] = {n: scores[n] for n in names[:4]}
        metrics[mode]["queries_per_s"] = len(mine) / max(sum(r.seconds for r in mine), 1e-9)
        curves[mode] = {n: scores[f"recall@{n}"] for n in RECALL_CURVE if n <= depth}
    about = (f"{len(judged)} queries with relevance judgements, {depth} documents ranked each"
             + (f", the best {rerank_top} passages reordered by the reader" if rerank_top else ""))
    return EvalReport(name, "beir", depth, metrics, curves, tuple(results), about)


def index_beir(dataset: BeirDataset, index_dir: Path, settings: Settings, model,
               progress: bool = True) -> Retriever:
    """A retriever over the dataset's corpus, indexed into `index_dir` (unchanged documents kept)
    on the backend `settings` name (Milvus: `settings.uri`, else milvus-lite in `index_dir`)."""
    from qa.pipeline import backend_module

    settings = settings.with_(index_dir=Path(index_dir))
    backend = backend_module(settings)
    backend.update(settings, model, beir_documents(dataset), progress=progress)
    return Retriever(backend.open_index(settings), model, settings)


def evaluate_beir(folder: str | Path, settings: Settings, model=None, modes=DEFAULT_MODES,
                  index_dir: str | Path | None = None, progress: Progress | None = None,
                  show_build: bool = True, rerank_top: int = 0) -> EvalReport:
    """Index a BEIR dataset (into `index_dir`, default DATASET/.qa-index) and evaluate retrieval."""
    from qa.pipeline import model_for

    dataset = load_beir(folder)
    index_dir = Path(index_dir) if index_dir else Path(folder) / ".qa-index"
    settings = settings.with_(index_dir=index_dir)
    model = model or model_for(settings)
    retriever = index_beir(dataset, index_dir, settings, model, progress=show_build)
    report = evaluate_retrieval(retriever, dataset.queries, dataset.qrels, modes, progress=progress,
                                name=dataset.name, rerank_top=rerank_top)
    left_out = f" ({dataset.summary()})" if dataset.summary() else ""
    return report.described(f"{len(dataset.corpus)} documents ({retriever.backend.size} chunks), "
                            f"{report.about}{left_out}")


def _checked_modes(modes) -> tuple[str, ...]:
    modes = tuple(modes)
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"unknown mode {', '.join(bad) or '(none)'}: choose from {', '.join(MODES)}")
    return modes
