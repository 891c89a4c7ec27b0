"""How well the first citation's score tells a right answer from a near miss: the area under the
ROC curve (AUC) between the scores of answerable questions whose first quote holds an answer and
those of on-topic near misses (kind "near-miss"), from `bench.answers.natural_questions` outputs,
with a bootstrap 95% interval. 0.5 is chance: no threshold on that score can then abstain on
near misses without abstaining as often on right answers.

    python -m bench.answers.abstention_signal bench/out/natural-train.json [more.json ...] [--out F]

The pooled row mixes every set given: sets whose scores run at different levels widen it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESAMPLES = 2000
SEED = 13


def auc(positive, negative) -> float:
    """P(a positive scores above a negative), ties counted half."""
    p, n = np.asarray(positive, float)[:, None], np.asarray(negative, float)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def interval(positive, negative, rng) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the AUC over bootstrap resamples of both groups."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    values = [auc(rng.choice(positive, positive.size), rng.choice(negative, negative.size))
              for _ in range(RESAMPLES)]
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def scores(results: list[dict], all_near: bool = False) -> tuple[list[float], list[float]]:
    """(first-citation scores of answerable questions quoted right, those of near misses: every
    unanswerable question when `all_near`)."""
    right, near = [], []
    for r in results:
        citations = r["answer"]["citations"]
        if not citations:
            continue
        if r["answers"] and r["quote_holds_answer"]:
            right.append(citations[0]["score"])
        elif not r["answers"] and (all_near or r.get("kind") == "near-miss"):
            near.append(citations[0]["score"])
    return right, near


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("outputs", nargs="+", type=Path, help="JSON written by bench.answers.natural_questions --out")
    parser.add_argument("--near-miss-set", action="append", default=[], metavar="SET",
                        help="a set (as the outputs name it) whose unanswerable questions are all near misses, "
                             "for sets without a kind field (tests/data/near-miss-questions.jsonl)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    rows, pooled = {}, ([], [])
    for output in args.outputs:
        for name, found in json.loads(output.read_text())["sets"].items():
            right, near = scores(found["results"], name in args.near_miss_set)
            pooled[0].extend(right)
            pooled[1].extend(near)
            if right and near:
                rows[name] = (right, near)
    rows["pooled"] = pooled
    report = {}
    for name, (right, near) in rows.items():
        if not right or not near:
            continue
        low, high = interval(right, near, rng)
        report[name] = {"right": len(right), "near_misses": len(near), "auc": round(auc(right, near), 3),
                        "auc_low": round(low, 3), "auc_high": round(high, 3)}
        print(f"{name:<45} right {len(right):>4}  near misses {len(near):>3}  "
              f"AUC {auc(right, near):.3f} (95% {low:.3f}-{high:.3f})")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
