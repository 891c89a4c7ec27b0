"""How well the product answers: question sets, BEIR collections, metrics and reports.

Two evaluators, each in the manner of sentence-transformers' InformationRetrievalEvaluator
(questions in, named metrics per retrieval mode out):

- `evaluate_question_set`: the project's format (see the shared eval README). Every question is
  answered with `answer_question`; a question counts as answered at rank k when one of the first k
  cited passages contains one of its answers, and a question without answers should abstain.
- `evaluate_retrieval`: BEIR-style queries and graded relevance judgements (qrels). Chunk hits
  become document rankings, scored with ranx (nDCG@10, recall@100, MRR@10, MAP).

The metric functions are pure; reading files, building indexes and plots sit at the edges (the
web app's Evaluate tab is `qa.app.web_evaluate`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import stat
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from qa.read.answer import Answer, answer_question, rerank, shared_reader
from qa.config import MODES, Settings
from qa.ingest.documents import Document, document_from_text
from qa.pipeline import READER_SEES, answer_after
from qa.read.reader import SPAN_EXTRA_WORDS
from qa.retrieve import Hit, Retriever

DEFAULT_MODES = ("bm25", "dense", "hybrid")
# 100,000 questions are about 20 MB; a bigger file is a mistake, read whole into memory.
MAX_QUESTION_SET_BYTES = 256 * 2**20
HIT_AT = (1, 3, 5, 10)
BEIR_DEPTH = 100  # documents ranked per query: recall@100 needs a hundred
RECALL_CURVE = (1, 3, 5, 10, 20, 50, 100)
Progress = Callable[[int, int], None]


# ---------------------------------------------------------------- question sets


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the sources do not answer it, the right response is to abstain
    sources: tuple[str, ...] = ()
    follows: str | None = None  # the id of the earlier question this one follows up (its context)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_question_set(path: str | Path) -> list[Question]:
    """The questions of a JSONL question set; ValueError naming the file and line on bad input."""
    path = Path(path)
    try:
        facts = path.stat()
    except FileNotFoundError:
        raise ValueError(f"no question set at {path}: give the path of a .jsonl file") from None
    # A pipe can hang a reader and a device never end: only a regular file, of a sane size.
    if not stat.S_ISREG(facts.st_mode):
        what = "a folder" if stat.S_ISDIR(facts.st_mode) else "not a regular file (a pipe, a device)"
        raise ValueError(f"{path} is {what}: give the path of a .jsonl question set")
    if facts.st_size > MAX_QUESTION_SET_BYTES:
        raise ValueError(f"the question set {path} is {facts.st_size / 2**20:,.0f} MB, over the "
                         f"{MAX_QUESTION_SET_BYTES // 2**20} MB a question set may have")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the question set {path}: {error}") from None
    questions, seen = [], {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error.msg} at column {error.colno}); "
                             f"each line must be one JSON object") from None
        except RecursionError:
            raise ValueError(f"{where}: JSON nested too deeply; each line must be one JSON object with "
                             f"id, question and answers") from None
        question = _question_from_row(row, where)
        if question.id in seen:
            raise ValueError(f"{where}: id {_short(question.id)} is already used on line {seen[question.id]}")
        if question.follows == question.id:
            raise ValueError(f"{where}: question {_short(question.id)} follows itself; 'follows' names an "
                             f"earlier question")
        if question.follows is not None and seen.get(question.follows) is None:
            later = next((n for n, text in enumerate(lines[number:], start=number + 1)
                          if _line_id(text) == question.follows), None)
            raise ValueError(f"{where}: 'follows' names {_short(question.follows)}, which "
                             + (f"comes later (line {later}); a follow-up must come after the question it follows"
                                if later else "is not the id of any question in the set"))
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise ValueError(f"the question set {path} has no questions: write one JSON object a line")
    return questions


def _line_id(line: str) -> str | None:
    """The id on a question-set line, if it has one (to name a later question in a message)."""
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return str(row["id"]) if isinstance(row, dict) and isinstance(row.get("id"), (str, int)) else None


def _question_from_row(row, where: str) -> Question:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object with id, question and answers")
    for name, kinds in (("id", (str, int)), ("question", str)):
        value = row.get(name)
        if value is None or value == "" or (isinstance(value, str) and not value.strip()):
            raise ValueError(f"{where}: {name!r} is missing or empty")
        if not isinstance(value, kinds) or isinstance(value, bool):
            wanted = "a string or a whole number" if name == "id" else "a string"
            raise ValueError(f"{where}: {name!r} must be {wanted}, not {_json_kind(value)}")
    for name in ("answers", "sources"):
        value = row.get(name, [] if name == "sources" else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            what = "an empty list means the question should be abstained on" if name == "answers" else ""
            raise ValueError(f"{where}: {name!r} must be a list of non-empty strings"
                             + (f" ({what})" if what else ""))
    follows = row.get("follows")
    if follows is not None and (not isinstance(follows, (str, int)) or isinstance(follows, bool)
                                or not str(follows).strip()):
        raise ValueError(f"{where}: 'follows' must be the id of an earlier question, not {_json_kind(follows)}")
    return Question(str(row["id"]), row["question"], tuple(row["answers"]), tuple(row.get("sources", [])),
                    None if follows is None else str(follows))


def _short(text: str, limit: int = 60) -> str:
    """`text` quoted for a message, cut to `limit` characters: an id can be any size."""
    return repr(text) if len(text) <= limit else repr(text[:limit - 1]) + "…"


def _json_kind(value) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def fold(text: str) -> str:
    """Text compared the way question sets say: case-insensitively, runs of white space as one."""
    return " ".join(text.split()).casefold()


def contains_answer(text: str, answers: tuple[str, ...] | list[str]) -> bool:
    """Whether `text` holds any one of `answers`."""
    folded = fold(text)
    return any(fold(a) in folded for a in answers)


def answer_rank(passages: list[str], answers: tuple[str, ...] | list[str]) -> int | None:
    """1-based position of the first passage that holds an answer, or None."""
    return next((n for n, p in enumerate(passages, start=1) if contains_answer(p, answers)), None)


EDGE_PUNCTUATION = " .,;:!?"


def span_matches(span: str, answers: tuple[str, ...] | list[str]) -> bool:
    """Whether the shown answer words hold an accepted answer and are at most SPAN_EXTRA_WORDS
    words longer than it. An answer's own edge punctuation is not asked for: "temporal lobe
    epilepsy" holds the accepted "temporal lobe epilepsy." (an annotator's selection that ran
    to the full stop), as SQuAD's evaluation, which drops punctuation, would count it."""
    answers = [a.strip(EDGE_PUNCTUATION) or a for a in answers]
    return any(fold(a) in fold(span) and len(span.split()) <= len(a.split()) + SPAN_EXTRA_WORDS
               for a in answers)


def hit_rate(ranks: list[int | None], k: int) -> float:
    """Share of questions answered within the first k (None: not answered)."""
    return sum(r is not None and r <= k for r in ranks) / len(ranks)


def mean_reciprocal_rank(ranks: list[int | None], k: int) -> float:
    """MRR@k: the mean of 1/rank, counting ranks past k (and None) as 0."""
    return sum(1 / r for r in ranks if r is not None and r <= k) / len(ranks)


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
                          follow_ups: bool = True, reader_sees: str | None = None) -> "EvalReport":
    """Answer every question in every mode with up to `k` citations, and score the answers.
    A question that `follows` another is asked after that one's answer (in the same mode), as in a
    chat; `follow_ups=False` asks every question alone. `reader_sees`: see qa.pipeline.READER_SEES."""
    modes = _checked_modes(modes)
    if not questions:
        raise ValueError("no questions to evaluate")
    asked = set()
    for question in questions:
        if question.follows is not None and question.follows not in asked:
            raise ValueError(f"question {_short(question.id)} follows {_short(question.follows)}, which is not an "
                             f"earlier question of the set")
        asked.add(question.id)
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
    """hit@n, MRR@k and quote@1 over answerable questions; abstention over all; speed.
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
    if results:
        right = sum(r.answer.abstained != r.question.answerable for r in results)
        metrics["abstention_accuracy"] = right / len(results)
        metrics["questions_per_s"] = len(results) / max(sum(r.seconds for r in results), 1e-9)
    return metrics


# ---------------------------------------------------------------- BEIR collections


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, tuple[str, str]]  # document id -> (title, text)
    queries: dict[str, str]  # query id -> text; only those with relevance judgements
    qrels: dict[str, dict[str, int]]  # query id -> document id -> relevance (> 0)
    # What was left out, as trec_eval and ranx would: name -> count (see `load_beir`).
    skipped: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        """What was left out or cannot be retrieved, in a few words ("" when nothing was)."""
        return "; ".join(f"{count:,} {what}" for what, count in self.skipped if count)


def load_beir(folder: str | Path, split: str = "test") -> BeirDataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv, read line by line.
    As trec_eval and ranx do: documents with empty text are skipped (and counted); judgements of
    documents absent from the corpus stay relevant but cannot be retrieved (recall cannot reach
    1); queries without judgements and judgements without queries are ignored (and counted).
    ValueError for what cannot be read: bad JSON, a missing id, a duplicate document id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no BEIR dataset folder at {folder}: it should hold corpus.jsonl, "
                         f"queries.jsonl and qrels/{split}.tsv")
    corpus, first_line, empty_documents = {}, {}, 0
    for number, row in _jsonl(folder / "corpus.jsonl"):
        doc_id = _row_id(row, folder / "corpus.jsonl", number)
        if doc_id in first_line:
            raise ValueError(f"{folder / 'corpus.jsonl'}: document id {doc_id!r} appears twice, on lines "
                             f"{first_line[doc_id]} and {number}")
        first_line[doc_id] = number
        text = row.get("text") if isinstance(row.get("text"), str) else ""
        if not text.strip():
            empty_documents += 1
            continue
        corpus[doc_id] = (row.get("title") if isinstance(row.get("title"), str) else "", text)
    queries, empty_queries = {}, 0
    for number, row in _jsonl(folder / "queries.jsonl"):
        query_id = _row_id(row, folder / "queries.jsonl", number)
        text = row.get("text") if isinstance(row.get("text"), str) else ""
        if text.strip():
            queries[query_id] = text
        else:
            empty_queries += 1
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    orphans = [q for q in qrels if q not in queries]
    for query in orphans:
        del qrels[query]
    if not qrels:
        raise ValueError(f"{folder / 'qrels' / f'{split}.tsv'} judges no query of queries.jsonl")
    absent = sum(d not in corpus for judged in qrels.values() for d in judged)
    skipped = (("documents with empty text skipped", empty_documents),
               ("queries with empty text skipped", empty_queries),
               ("judgements of queries absent from queries.jsonl ignored", len(orphans)),
               ("queries without judgements ignored", len(queries.keys() - qrels.keys())),
               ("relevant documents absent from the corpus (unretrievable)", absent))
    # As in BEIR, only the queries with at least one relevant document are evaluated.
    return BeirDataset(folder.name, corpus, {q: queries[q] for q in qrels}, qrels, skipped)


def _row_id(row: dict, path: Path, number: int) -> str:
    value = row.get("_id")
    if value is None or isinstance(value, (bool, list, dict)) or not str(value).strip():
        raise ValueError(f"{path}, line {number}: needs an _id (a string or a number)")
    return str(value)


def _jsonl(path: Path):
    """(line number, object) for each non-blank line, streamed: a million documents are never
    read into memory as one string."""
    if not path.is_file():
        raise ValueError(f"no {path.name} in {path.parent}: a BEIR dataset needs corpus.jsonl, "
                         f"queries.jsonl and qrels/test.tsv")
    with open(path, encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
            except RecursionError:
                raise ValueError(f"{path}, line {number}: JSON nested too deeply") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object")
            yield number, row


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise ValueError(f"no relevance judgements at {path} (query-id, corpus-id, score; tab-separated)")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if not line.strip():
                continue
            try:
                query, document, score = fields[0].strip(), fields[1].strip(), int(float(fields[2]))
            except (IndexError, ValueError):
                if number == 1 and len(fields) >= 3:
                    continue  # a header (query-id / query_id, corpus-id / corpus_id, score), optional
                raise ValueError(f"{path}, line {number}: expected query-id, corpus-id and a number "
                                 f"separated by tabs") from None
            if score > 0:  # a zero judges a document not relevant: it adds nothing to any metric
                qrels.setdefault(query, {})[document] = score
    if not qrels:
        raise ValueError(f"{path} judges no document relevant to any query")
    return qrels


def beir_documents(dataset: BeirDataset) -> list[Document]:
    """Each corpus entry as a Document named by its id, the title leading the text as BEIR does."""
    return [document_from_text(doc_id, f"{title}\n\n{text}" if title else text, title=title or None)
            for doc_id, (title, text) in dataset.corpus.items()]


@dataclass(frozen=True)
class RankedDocument:
    id: str
    rank: int
    hit: Hit  # the document's best chunk
    score: float = 0.0  # what ranked it: see `document_score`


# How much a document's other retrieved chunks add to its best chunk's score. Measured with
# bench/sweep_fusion.py on the BEIR sample and SQuAD held-out articles (README, "Document scores"):
# 0 (the best chunk alone) was never beaten by a share of the rest.
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


def retrieval_metrics(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]],
                      metrics: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10", "map")) -> dict[str, float]:
    """IR metrics (ranx names) averaged over the queries of `qrels`; a query the run lacks scores 0."""
    import numba
    from ranx import Qrels, Run, evaluate

    # Every judged query takes part, also one the run found nothing for (ranx needs a ranking).
    run = {q: run.get(q) or {"\0none": 0.0} for q in qrels}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaTypeSafetyWarning)  # ranx's own casts, harmless
        scores = evaluate(Qrels(qrels), Run(run), list(metrics), make_comparable=True)
    return {name: float(scores[name]) for name in metrics}


RERANK_TOP = 20  # passages the reader reorders with `qa eval --beir --rerank`


def reranked_hits(reader, retriever: Retriever, question: str, hits: list[Hit], top: int = RERANK_TOP) -> list[Hit]:
    """The first `top` hits in the reader's order (`qa search --rerank`), then the rest as they
    were; scores become 1/rank, since the reader's and the retrievers' scores do not compare."""
    ordered = rerank(reader, retriever, question, hits[:top]) + hits[top:]
    return [replace(h, rank=n, score=1.0 / n) for n, h in enumerate(ordered, start=1)]


def evaluate_retrieval(retriever: Retriever, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                       modes: tuple[str, ...] | list[str] = DEFAULT_MODES, depth: int = BEIR_DEPTH,
                       progress: Progress | None = None, name: str = "retrieval",
                       rerank_top: int = 0) -> "EvalReport":
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
                  show_build: bool = True, rerank_top: int = 0) -> "EvalReport":
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


# ---------------------------------------------------------------- other systems' runs


SIGNIFICANCE_P = 0.05  # ranx marks a difference significant at p <= this (paired Student's t-test)


@dataclass(frozen=True)
class ComparedRun:
    """Another system's TREC run, to put beside qa's modes."""
    name: str  # the file's stem
    path: Path
    run: dict[str, dict[str, float]]  # query id -> document id -> score


def read_run(path: str | Path) -> ComparedRun:
    """A TREC run file (`qid Q0 docid rank score tag` a line) read by ranx; ValueError naming the
    file when it is missing, unreadable or not in that format."""
    from ranx import Run

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no run file at {path}: give the path of a TREC run file")
    try:
        run = Run.from_file(str(path), kind="trec").to_dict()
    except (OSError, ValueError) as error:  # ranx says what it could not unpack or convert
        raise ValueError(f"{path} is not a TREC run file (qid Q0 docid rank score tag a line): {error}") from None
    return ComparedRun(path.stem, path, {q: dict(docs) for q, docs in run.items()})


def compare_runs(report: "EvalReport", runs: list[ComparedRun], max_p: float = SIGNIFICANCE_P) -> "EvalReport":
    """The BEIR `report` with other systems' runs beside its modes: every system scored by ranx
    on the report's judgements, each metric marked with the systems it beats significantly
    (ranx's paired Student's t-test). Queries a run names that the collection does not judge
    are ignored and counted; a judged query a run lacks scores 0."""
    import numba
    from ranx import Qrels, Run, compare

    if report.kind != "beir":
        raise ValueError("runs are compared with BEIR evaluations (--beir) only")
    qrels = {r.id: r.relevant for r in report.results if r.mode == report.own_modes[0]}
    systems = {mode: {r.id: {d.id: 1.0 / d.rank for d in r.ranking} for r in report.results if r.mode == mode}
               for mode in report.own_modes}
    notes = []
    for compared in runs:
        name = _unique(compared.name, systems)
        systems[name] = {q: docs for q, docs in compared.run.items() if q in qrels}
        unknown = len(compared.run) - len(systems[name])
        ignored = f" ({unknown} {'query' if unknown == 1 else 'queries'} not in the collection ignored)"
        notes.append(f"{name} = {compared.path}" + (ignored if unknown else ""))
    names = ("ndcg@10", f"recall@{report.k}", "mrr@10", "map")
    # Every judged query takes part, also one a system found nothing for (ranx needs a ranking).
    ranx_runs = [Run({q: run.get(q) or {"\0none": 0.0} for q in qrels}, name=name) for name, run in systems.items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numba.NumbaTypeSafetyWarning)  # ranx's own casts, harmless
        compared_report = compare(Qrels(qrels), ranx_runs, list(names), max_p=max_p, stat_test="student",
                                  make_comparable=True)
    metrics, marks, curves = {}, {}, dict(report.curves)
    for name, run in systems.items():
        metrics[name] = {n: float(compared_report.results[name][n]) for n in names}
        metrics[name] |= {n: v for n, v in report.metrics.get(name, {}).items() if n not in names}
        marks[name] = {n: compared_report.get_superscript_for_table(name, n) for n in names}
        if name not in report.own_modes:
            # recall@n past a run's longest ranking would only repeat its last value
            longest = max((len(docs) for docs in run.values()), default=0)
            ns = [n for n in RECALL_CURVE if n <= min(longest, report.k)]
            recall = retrieval_metrics(qrels, run, tuple(f"recall@{n}" for n in ns)) if ns else {}
            curves[name] = {n: recall[f"recall@{n}"] for n in ns}
    letters = ", ".join(f"{_SUPERSCRIPTS[i]} {name}" for i, name in enumerate(systems))
    legend = (f"superscripts: significantly better (paired Student's t-test, p ≤ {max_p}) than {letters}"
              + "".join(f"\n{note}" for note in notes))
    return replace(report, metrics=metrics, curves=curves, marks=marks, legend=legend,
                   compared=tuple(n for n in systems if n not in report.own_modes))


_SUPERSCRIPTS = "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ"  # ranx's letters, in the order of the systems


def _unique(name: str, taken) -> str:
    """`name`, or `name-2`, `name-3`… when a mode or an earlier run already has it (a previous
    `--run-out hybrid.run` beside today's hybrid)."""
    if name not in taken:
        return name
    return next(f"{name}-{n}" for n in range(2, len(taken) + 3) if f"{name}-{n}" not in taken)


# ---------------------------------------------------------------- reports


@dataclass(frozen=True)
class EvalReport:
    """Metrics by mode for one question set or dataset, with every question's result."""
    name: str
    kind: str  # "questions" (answers checked against strings) or "beir" (rankings against qrels)
    k: int  # citations per answer, or documents ranked per query
    metrics: dict[str, dict[str, float]]  # mode -> metric -> value
    curves: dict[str, dict[int, float]]  # mode -> n -> hit@n (questions) or recall@n (beir)
    results: tuple  # QuestionResult or QueryResult, mode by mode
    about: str = ""
    # Beside qa's modes, other systems' runs (`compare_runs`): their names, and per system and
    # metric the superscript letters of the systems it beats significantly, explained by `legend`.
    compared: tuple[str, ...] = ()
    marks: dict[str, dict[str, str]] = field(default_factory=dict)
    legend: str = ""

    @property
    def modes(self) -> list[str]:
        return list(self.metrics)

    @property
    def own_modes(self) -> list[str]:
        """qa's modes, without compared runs."""
        return [m for m in self.metrics if m not in self.compared]

    @property
    def metric_names(self) -> list[str]:
        return list(dict.fromkeys(n for values in self.metrics.values() for n in values))

    @property
    def curve_name(self) -> str:
        return "hit@k" if self.kind == "questions" else "recall@k"

    def described(self, about: str) -> "EvalReport":
        return replace(self, about=about)

    def rows(self) -> list[list[str]]:
        """The table as text cells: a header, then one metric a row, modes side by side."""
        rows = [["metric", *self.modes]]
        for name in self.metric_names:
            rows.append([name, *(_cell(name, self.metrics[m].get(name)) + self.marks.get(m, {}).get(name, "")
                                 for m in self.modes)])
        return rows

    def table(self) -> str:
        """Metrics by mode, aligned for a terminal."""
        rows = self.rows()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [f"{self.name}: {self.about}" if self.about else self.name]
        for n, row in enumerate(rows):
            lines.append("  ".join([row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]))
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines + ([self.legend] if self.legend else []))

    def markdown(self) -> str:
        """Metrics by mode as a Markdown table."""
        rows = self.rows()
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines + (["", *(line + "  " for line in self.legend.splitlines())] if self.legend else []))

    def misses(self) -> list[dict]:
        """Every question not answered by the first passage (or wrongly abstained on), with why."""
        return [r.miss() for r in self.results if r.missed]

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "k": self.k, "about": self.about,
                "modes": self.modes, "compared": list(self.compared), "metrics": self.metrics,
                "significance": self.marks, "legend": self.legend,
                "curves": {m: {str(n): v for n, v in c.items()} for m, c in self.curves.items()},
                "misses": self.misses(), "results": [r.as_dict() for r in self.results]}

    def csv(self) -> str:
        """One row per mode, one column per metric."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["mode", *self.metric_names])
        for mode in self.modes:
            writer.writerow([mode, *(_number(self.metrics[mode].get(n)) for n in self.metric_names)])
        return out.getvalue()

    def write_runs(self, out_dir: str | Path) -> list[Path]:
        """One TREC run file per mode (`qid Q0 docid rank score tag`, tag qa-MODE), for scoring
        with other tools; only for BEIR reports, whose results are document rankings."""
        if self.kind != "beir":
            raise ValueError("run files are written for BEIR evaluations (--beir) only")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for mode in self.own_modes:
            lines = [f"{r.id} Q0 {d.id} {d.rank} {1.0 / d.rank:.6f} qa-{mode}"
                     for r in self.results if r.mode == mode for d in r.ranking]
            path = out_dir / f"{mode}.run"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            paths.append(path)
        return paths

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write report.json, metrics.csv, metrics.png and hitk.png into `out_dir`."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"json": out_dir / "report.json", "csv": out_dir / "metrics.csv",
                 "metrics_png": out_dir / "metrics.png", "hitk_png": out_dir / "hitk.png"}
        paths["json"].write_text(json.dumps(self.as_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        paths["csv"].write_text(self.csv(), encoding="utf-8")
        plot_metrics(self, paths["metrics_png"])
        plot_curves(self, paths["hitk_png"])
        return paths


def _cell(name: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"{value:.1f}" if name.endswith("_per_s") else f"{value:.3f}"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def plot_metrics(report: EvalReport, path: Path) -> None:
    """Grouped bars: each metric (speed aside), one bar per mode."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe in the web app's threads

    names = [n for n in report.metric_names if not n.endswith("_per_s")]
    figure = Figure(figsize=(max(6.0, 1.0 * len(names) + 2), 4.2), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / max(len(report.modes), 1)
    for i, mode in enumerate(report.modes):
        offset = (i - (len(report.modes) - 1) / 2) * width
        bars = axes.bar([j + offset for j in range(len(names))],
                        [report.metrics[mode].get(n, 0.0) for n in names], width, label=mode)
        axes.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    axes.set_xticks(range(len(names)), names, rotation=25, ha="right")
    axes.set_ylim(0, 1.12)
    axes.set_title(f"{report.name}: metrics by mode")
    figure.legend(loc="outside lower center", ncols=len(report.modes), fontsize=8)
    figure.savefig(path, dpi=110)


def plot_curves(report: EvalReport, path: Path) -> None:
    """hit@k (or recall@k) against k, one line per mode."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    # Modes often tie: distinct markers and dashes keep every line visible where they overlap.
    for (mode, curve), style in zip(report.curves.items(), ["o-", "s--", "^:", "d-."] * 4):
        axes.plot(list(curve), list(curve.values()), style, label=mode, markersize=5, alpha=0.85)
    if report.kind == "beir":
        ks = sorted({n for curve in report.curves.values() for n in curve})
        axes.set_xscale("log")
        axes.set_xticks(ks, [str(n) for n in ks])
        axes.minorticks_off()
    axes.set_xlabel("k")
    axes.set_ylabel(report.curve_name)
    axes.set_ylim(0, 1.05)
    axes.grid(alpha=0.3)
    axes.set_title(f"{report.name}: {report.curve_name}")
    if report.curves:  # a question set without answerable questions has no curve to draw
        axes.legend(loc="lower right", fontsize=8)
    figure.savefig(path, dpi=110)

