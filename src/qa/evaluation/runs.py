"""Other systems' TREC runs beside qa's modes: read with ranx, scored on the same judgements, each
metric marked with the systems it beats significantly."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from qa.evaluation.metrics import RECALL_CURVE, retrieval_metrics
from qa.evaluation.report import EvalReport

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


def compare_runs(report: EvalReport, runs: list[ComparedRun], max_p: float = SIGNIFICANCE_P) -> EvalReport:
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
