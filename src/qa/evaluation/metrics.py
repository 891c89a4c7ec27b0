"""The metrics, pure: whether a passage holds an answer, hit@k and MRR over answer ranks, and IR
metrics (ranx) of document rankings against graded relevance judgements."""

from __future__ import annotations

import warnings

from qa.read.reader import SPAN_EXTRA_WORDS

RECALL_CURVE = (1, 3, 5, 10, 20, 50, 100)


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
