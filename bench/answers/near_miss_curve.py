"""The abstention trade-off on natural-question sets: answerable questions answered against near
misses abstained, as the abstention threshold moves (issue 31, item 4).

Each set's sources are indexed, every question asked once with abstention off, and the evidence
qa abstains on (the first citation's combined score) kept; each threshold is then a cut of those
scores. Off-topic questions are counted apart: they are abstained for other reasons too.

    .venv/bin/python -m bench.answers.near_miss_curve tests/data/natural/dev tests/data/natural/heldout \\
        [--reader DIR] [--out bench/out/near-miss-curve.json] [--plot bench/out/near-miss-curve.png]
    .venv/bin/python -m bench.answers.near_miss_curve --compare RUN.json [RUN.json ...] --plot OUT.png

--compare draws runs written before (--out) in one figure, each beside its reader's own SQuAD
calibration curve (reader.json: answered against near misses abstained on held-out articles).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.paths import OUT


def scores(folder: Path, work: Path, reader: Path | None) -> list[dict]:
    """Per question: its kind, whether it has answers, the top score, whether the first quote is right."""
    import qa
    from qa.evaluation.metrics import contains_answer

    index = work / folder.name / "index"
    subprocess.run([sys.executable, "-m", "qa", "index", str(folder / "sources"), "--index", str(index), "-q"],
                   check=True, stdout=subprocess.DEVNULL)
    pipeline = qa.load(qa.Settings(index_dir=index, reader_dir=reader, abstain_below=0.0))
    rows = []
    for line in (folder / "questions.jsonl").open():
        q = json.loads(line)
        answer = pipeline.ask(q["question"])
        top = answer.citations[0] if answer.citations and not answer.abstained else None
        rows.append({"id": q["id"], "kind": q.get("kind", ""), "answerable": bool(q.get("answers")),
                     "score": top.score if top else 0.0,
                     "right": bool(top and answer.quotes and contains_answer(answer.quotes[0].quote, q.get("answers", [])))})
    return rows


def curve(rows: list[dict], thresholds: np.ndarray) -> list[dict]:
    answerable = [r for r in rows if r["answerable"]]
    near = [r for r in rows if r["kind"] == "near-miss"]
    out = []
    for t in thresholds:
        out.append({"threshold": round(float(t), 3),
                    "answerable_answered": round(np.mean([r["score"] >= t for r in answerable]), 3),
                    "answered_right": round(np.mean([r["score"] >= t and r["right"] for r in answerable]), 3),
                    "near_misses_abstained": round(np.mean([r["score"] < t for r in near]), 3) if near else None})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("sets", nargs="*", type=Path, help="set folders (sources/ and questions.jsonl with kinds)")
    parser.add_argument("--compare", nargs="+", type=Path, metavar="RUN", help="runs to draw in one figure")
    parser.add_argument("--names", nargs="+", help="with --compare: a name for each run's line")
    parser.add_argument("--reader", type=Path, help="a reader folder (default: the shipped reader)")
    parser.add_argument("--out", type=Path, default=OUT / "near-miss-curve.json")
    parser.add_argument("--plot", type=Path, help="draw the curve (PNG)")
    args = parser.parse_args()
    if args.compare:
        return compare(args.compare, args.plot or OUT / "near-miss-curves.png", args.names)
    if not args.sets:
        parser.error("name set folders, or --compare runs")

    from qa.read.answer import abstain_threshold, shared_reader
    from qa.config import Settings

    rows = []
    for folder in args.sets:
        rows += [{**r, "set": str(folder)} for r in scores(folder, OUT / "near-miss-curve", args.reader)]
    shipped = abstain_threshold(Settings(), shared_reader(args.reader))
    thresholds = np.unique(np.round(np.r_[np.linspace(0, 0.6, 25), shipped], 3))
    points = curve(rows, thresholds)
    print(f"{len(rows)} questions; the reader's own threshold {shipped}")
    print(f"{'threshold':>9} {'answered':>9} {'right':>7} {'near misses abstained':>22}")
    for p in points:
        mark = "  ← the reader's" if p["threshold"] == round(shipped, 3) else ""
        print(f"{p['threshold']:9.3f} {p['answerable_answered']:9.3f} {p['answered_right']:7.3f} "
              f"{p['near_misses_abstained']!s:>22}{mark}")
    own = next(p for p in points if p["threshold"] == round(shipped, 3))
    calibration = shared_reader(args.reader).card["calibration"]
    summary = {"threshold": shipped, "answerable_answered": own["answerable_answered"],
               "answered_right": own["answered_right"], "near_misses_abstained": own["near_misses_abstained"],
               "right_when_always_answering": points[0]["answered_right"],
               "squad_answered": calibration["answered"],
               "squad_near_misses_abstained": calibration["near_miss_abstained"],
               "squad_off_topic_abstained": calibration["off_topic_abstained"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"reader": str(args.reader or "shipped"), "threshold": shipped,
                                    "at_threshold": summary, "curve": points, "questions": rows}, indent=1) + "\n")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(5, 4))
        axes.plot([p["near_misses_abstained"] for p in points], [p["answerable_answered"] for p in points], ".-",
                  label="answerable answered")
        axes.plot([p["near_misses_abstained"] for p in points], [p["answered_right"] for p in points], ".-",
                  label="answered, first quote right")
        axes.set_xlabel("near misses abstained")
        axes.set_ylabel("share of answerable questions")
        axes.legend()
        figure.tight_layout()
        figure.savefig(args.plot, dpi=120)


def compare(runs: list[Path], plot: Path, names: list[str] | None = None) -> None:
    """Runs' natural-set curves and their readers' SQuAD calibration curves, side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from qa.read.reader import MODEL_DIR

    figure, (natural, squad) = plt.subplots(1, 2, figsize=(9, 3.8))
    for number, path in enumerate(runs):
        run = json.loads(path.read_text())
        name = names[number] if names and number < len(names) else Path(run["reader"]).name
        points = run["curve"]
        line, = natural.plot([p["near_misses_abstained"] for p in points], [p["answered_right"] for p in points],
                             ".-", label=name)
        own = next(p for p in points if p["threshold"] == round(run["threshold"], 3))
        natural.plot([own["near_misses_abstained"]], [own["answered_right"]], "o", ms=10, mfc="none",
                     color=line.get_color())
        card = json.loads(((MODEL_DIR if run["reader"] == "shipped" else Path(run["reader"])) / "reader.json")
                          .read_text())
        curve_points = card["calibration"]["curves"]["combined"]
        squad.plot([p["near_miss_abstained"] for p in curve_points], [p["answered"] for p in curve_points],
                   ".-", color=line.get_color(), label=name)
    natural.set(title="natural sets (dev + held-out; o: own threshold)", xlabel="near misses abstained",
                ylabel="answerable: answered, first quote right", ylim=(0, 1))
    squad.set(title="SQuAD held-out articles (calibration)", xlabel="near misses abstained",
              ylabel="answerable answered", ylim=(0, 1.02))
    natural.legend()
    figure.tight_layout()
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(plot, dpi=110)
    print(f"wrote {plot}")


if __name__ == "__main__":
    main()
