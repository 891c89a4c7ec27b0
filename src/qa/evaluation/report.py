"""An evaluation's report: metrics by mode with every question's result, as a terminal table,
Markdown, JSON, CSV, TREC run files and plots."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path


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

