"""Render the measured results kept as records (bench/results/*.yaml) into the tables of the docs.

A record is one measurement: what was measured and under which condition, the commands (shell
lines run from the repository root), how bench/check_results.py reruns them (`check`), the commit
whose README first reported the figures, the date, the machine and its load, and the metrics. A
rendered table is the text between `<!-- results: NAME -->` and `<!-- /results -->` in README.md
or docs/results/*.md; everything else on those pages is written by hand.

    .venv/bin/python -m bench.render_results           # rewrite the tables from the records
    .venv/bin/python -m bench.render_results --check   # exit 1 when a page is not up to date
"""

from __future__ import annotations

import argparse
import os
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.paths import ROOT

RECORDS = ROOT / "bench" / "results"
BLOCK = re.compile(r"(<!-- results: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


@dataclass(frozen=True)
class Table:
    """Rows are the records naming this table, by their `order`; a column is a heading and a
    template over the record's metrics and condition (`{hit@1:.3f}`)."""

    page: str
    first: str  # heading of the first column, which holds each record's `row`
    columns: tuple[tuple[str, str], ...]
    after: tuple[str, ...] = ()  # rows written as they are, e.g. the targets


# A record with `rows` (a prefix of its figures → a label) gives one row a prefix: its templates'
# ENGINE stands for the prefix, as "{ENGINE_cer:.2%}" for "{tesseract_cer:.2%}".
PREFIX = "ENGINE"


ANSWERS = (("hit@1", "{hit@1:.3f}"), ("hit@3", "{hit@3:.3f}"), ("hit@10", "{hit@10:.3f}"),
           ("quote@1", "{quote@1:.3f}"), ("span@1", "{span@1:.3f}"), ("answered", "{answered:.3f}"))

TABLES = {
    "squad-300": Table("docs/results/answer-quality.md", "300 answerable questions, 2,150 chunks", ANSWERS),
    "squad-1000": Table("docs/results/answer-quality.md", "1,000 answerable questions, 44 articles", ANSWERS,
                        after=("| issue 13's targets | ≥ 0.92 | | | ≥ 0.88 | ≥ 0.70 | ≥ 0.95 | |",)),
    "out-of-domain-300": Table("docs/results/answer-quality.md", "set (300 questions, hybrid): fusion",
                               ANSWERS),
    "news-sets": Table("docs/results/answer-quality.md", "set (shipped sources, hybrid, k=10)", (
        ("hit@1", "{hit@1:.3f}"), ("quote@1", "{quote@1:.3f}"), ("span@1", "{span@1:.3f}"),
        ("answered", "{answered:.3f}"), ("follow_up_hit@1", "{follow_up_hit@1:.3f}"),
        ("abstained", "{abstained:.3f}"))),
    "answer-latency": Table("docs/results/natural-questions.md", "whole answers, 16 dev questions × 5 rounds: code", (
        ("whole p50 ms", "{whole_p50_ms:.1f}"), ("whole p95 ms", "{whole_p95_ms:.1f}"),
        ("sentences embedded afresh: p50 ms", "{cold_p50_ms:.1f}"), ("reader p50 ms", "{reader_p50_ms:.1f}"),
        ("sentences read", "{sentences_read_mean:.0f}"), ("peak RSS MiB", "{peak_rss_mib:.0f}"))),
    "cold-start": Table("docs/results/indexing.md", "`qa ask`, shipped sources, runs alternating with the code before: code", (
        ("median s", "{qa_ask_median_s:.2f}"), ("code before: median s", "{baseline_qa_ask_median_s:.2f}"),
        ("paired difference: median s", "{paired_difference_median_s:+.2f}")),
        after=("| issue 31's target | ≤ 1.5 | | | |",)),
    "answer-latency-long": Table("docs/results/natural-questions.md",
                                 "one 3.8 MB document of 20,001 paragraphs, 4 questions × 5 rounds: code", (
        ("whole p50 ms", "{whole_p50_ms:.1f}"), ("whole p95 ms", "{whole_p95_ms:.1f}"),
        ("sentences embedded afresh: p50 ms", "{cold_p50_ms:.1f}"), ("reader p50 ms", "{reader_p50_ms:.1f}"),
        ("peak RSS MiB", "{peak_rss_mib:.0f}"))),
    "natural-questions": Table("docs/results/natural-questions.md", "set (hybrid, k=10): code", (
        ("hit@1", "{hit@1:.3f}"), ("quote@1", "{quote@1:.3f}"), ("hit@3", "{hit@3:.3f}"), ("hit@10", "{hit@10:.3f}"),
        ("answerable abstained", "{answerable_abstained:.3f}"),
        ("unanswerable abstained", "{unanswerable_abstained:.3f}"),
        ("sentences a quote", "{quote_sentences:.2f}"))),
    "abstention-signal": Table("docs/results/natural-questions.md", "questions (hybrid, k=10): code", (
        ("answerable, first quote right", "{right}"), ("near misses", "{near_misses}"),
        ("AUC of the first citation's score", "{auc:.3f}"), ("95% interval", "{auc_low:.3f} – {auc_high:.3f}"))),
    "unsure-answers": Table("docs/results/natural-questions.md", "set (hybrid, k=10)", (
        ("questions answered", "{answered}"), ("shown as unsure", "{answered_unsure:.3f}"),
        ("wrong when unsure", "{wrong_when_unsure:.3f}"), ("wrong when sure", "{wrong_when_sure:.3f}"))),
    "near-miss-curve": Table("docs/results/natural-questions.md", "reader (its own threshold)", (
        ("natural: answered", "{answerable_answered:.3f}"), ("first quote right", "{answered_right:.3f}"),
        ("near misses abstained", "{near_misses_abstained:.2f}"),
        ("right when always answering", "{right_when_always_answering:.3f}"),
        ("SQuAD held-out: answered", "{squad_answered:.3f}"),
        ("near misses abstained", "{squad_near_misses_abstained:.3f}"),
        ("article absent abstained", "{squad_off_topic_abstained:.3f}"))),
    "indexing-throughput": Table("docs/results/indexing.md", "build", (
        ("chunks (texts embedded)", "{chunks:,} ({texts_embedded:,})"), ("build s", "{build_s:.1f}"),
        ("build chunks/s", "{build_chunks_per_s:.1f}"), ("model alone chunks/s", "{floor_chunks_per_s:.1f}"),
        ("build / model", "{build_over_floor:.3f}"), ("peak RSS MiB", "{peak_rss_mib:,}"),
        ("float32 time / int8 time", "{float32_over_int8_time:.2f}")),
        after=("| issue 35's targets | | | | | ≥ 0.8 | ≤ 1,536 (100 MB) | |",)),
    "indexing-memory": Table("docs/results/indexing.md", "whole build", (
        ("chunks (windows)", "{chunks:,} ({windows:,})"), ("stand-in build s", "{stand_in_build_s:.1f}"),
        ("stand-in peak RSS MiB", "{stand_in_peak_rss_mib:,}"), ("+ the model's share MiB", "{model_share_mib:,}"),
        ("= a real build's peak RSS MiB (estimated)", "{estimated_peak_rss_mib:,}"),
        ("a real build's peak RSS MiB (measured)", "{real_peak_rss_mib:,}")),
        after=("| issue 35's target | | | | | ≤ 1,536 (100 MB) | ≤ 1,536 (100 MB) | |",)),
    "retrieval-speed": Table("docs/results/retrieval-speed.md", "chunks", (
        ("query embedding", "{query_embedding}"), ("vector index", "{vector_index}"),
        ("build s", "{build_s:.1f}"), ("disk MiB", "{disk_mib}"), ("peak RSS MiB", "{peak_rss_mib}"),
        ("bm25 p50/p95 ms", "{bm25_p50_ms:.1f} / {bm25_p95_ms:.1f}"),
        ("dense p50/p95 ms", "{dense_p50_ms:.1f} / {dense_p95_ms:.1f}"),
        ("hybrid p50/p95 ms", "{hybrid_p50_ms:.1f} / {hybrid_p95_ms:.1f}"),
        ("plain flat FAISS p50 ms", "{flat_faiss_p50_ms:.1f}"),
        ("plain rank-bm25 ms/query", "{rank_bm25_ms}"))),
    "graph-codes": Table("docs/results/retrieval-speed.md", "100k chunks, HNSW", (
        ("build s", "{build_s:.1f}"), ("disk MiB", "{disk_mib:,}"), ("open s", "{open_s:.2f}"),
        ("serve peak RSS MiB", "{serve_peak_rss_mib:,}"),
        ("dense p50 / p95 ms", "{dense_p50_ms:.1f} / {dense_p95_ms:.1f}"),
        ("hybrid p50 / p95 ms", "{hybrid_p50_ms:.1f} / {hybrid_p95_ms:.1f}"),
        ("recall@10 at efSearch 128 / 256 / 512",
         "{recall@10_ef128:.3f} / {recall@10_ef256:.3f} / {recall@10_ef512:.3f}"))),
    "million-windows": Table("docs/results/incremental-updates.md", "1,000,029 chunks, dense windows", (
        ("full build s", "{build_s:,}"), ("build peak RSS MiB", "{build_peak_rss_mib:,}"),
        ("one document changed s (embedding alone)", "{one_change_s:.2f} ({one_change_embedding_s:.2f})"),
        ("a second changed / one removed s", "{second_change_s:.2f} / {removed_s:.2f}"),
        ("open + answer peak RSS MiB (open s)", "{serve_peak_rss_mib:,} ({open_s:.2f})"),
        ("hybrid / bm25 / dense p50 ms", "{hybrid_p50_ms:.1f} / {bm25_p50_ms:.1f} / {dense_p50_ms:.1f}"),
        ("p95 ms", "{hybrid_p95_ms:.1f} / {bm25_p95_ms:.1f} / {dense_p95_ms:.1f}")),
        after=("| target (issue 15) | | ≤ 4 GiB | ≤ 5 s | | ≤ 2.5 GiB | hybrid ≤ 12 ms | | |",)),
    "ocr-engines": Table("docs/results/ocr.md", "engine (12 Letter pages at 300 dpi)", (
        ("CER clean", f"{{{PREFIX}_cer:.2%}}"), ("CER photocopied", f"{{{PREFIX}_scan_cer:.2%}}"),
        ("pages/s clean / photocopied", f"{{{PREFIX}_pages_per_s:.2f}} / {{{PREFIX}_scan_pages_per_s:.2f}}"),
        ("CPU s a page clean / photocopied",
         f"{{{PREFIX}_cpu_per_page_s:.2f}} / {{{PREFIX}_scan_cpu_per_page_s:.2f}}")),
        after=("| target (issue 32) | ≤ 2% | | ≥ 1 on 2 cores | ≤ 2 | |",)),
}

# README's one small table: a few records' headline figures, each linked to its record and page.
SUMMARY = (
    ("heldout-articles1000-stage11", "Whole answers, 1,000 held-out SQuAD questions (44 Wikipedia articles)", (
        ("first citation holds the answer", "{hit@1:.3f}"), ("its quote holds it", "{quote@1:.3f}"),
        ("the marked words are the answer", "{span@1:.3f}"), ("answerable answered", "{answered:.3f}"))),
    ("covid300-stage11", "Whole answers, 300 COVID-QA questions (98 biomedical papers)", (
        ("first citation holds the answer", "{hit@1:.3f}"), ("its quote holds it", "{quote@1:.3f}"))),
    ("paraphrased-wiki300-eval-stage11", "Whole answers, 300 SelQA questions (paraphrased Wikipedia)", (
        ("first citation holds the answer", "{hit@1:.3f}"), ("its quote holds it", "{quote@1:.3f}"))),
    ("natural-heldout-asides", "44 natural questions (why, how, FAQ, near misses) over three original documents", (
        ("first citation holds the answer", "{hit@1:.3f}"), ("its quote holds it", "{quote@1:.3f}"),
        ("unanswerable abstained", "{unanswerable_abstained:.3f}"))),
    ("news-near-misses-now", "16 on-topic questions the shipped news does not answer", (
        ("abstained", "{abstained:.3f}"),)),
    ("ocr-tesseract-quiet", "OCR of scanned pages: 12 Letter pages at 300 dpi, Tesseract", (
        ("character error rate", "{tesseract_cer:.2%}"), ("pages a second on 2 cores", "{tesseract_pages_per_s:.2f}"))),
    ("million-windows-6bit", "A million chunks with dense windows, on 2 CPU cores", (
        ("hybrid search p50", "{hybrid_p50_ms:.1f} ms"), ("one changed document", "{one_change_s:.2f} s"),
        ("serving memory", "{serve_peak_rss_mib:,} MiB"))),
)


def load_records() -> dict[str, dict]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted(RECORDS.glob("*.yaml"))}


class _Cells(string.Formatter):
    """Formats a template over one record: its metrics, then its condition; strings stay as they are."""

    def get_value(self, key, args, kwargs):
        for part in ("metrics", "condition"):
            if key in (kwargs.get(part) or {}):
                return kwargs[part][key]
        raise KeyError(key)

    def format_field(self, value, format_spec):
        return value if isinstance(value, str) else format(value, format_spec)


def cell(template: str, record: dict) -> str:
    """One table cell; "–" where the record lacks a figure the template names."""
    try:
        text = _Cells().vformat(template, (), record)
    except KeyError:
        return "–"
    metric = re.fullmatch(r"\{([^:}]+)(:[^}]*)?\}", template)
    interval = (record.get("intervals") or {}).get(metric.group(1)) if metric else None
    if interval:
        text += f" ({interval[0]:.3f}-{interval[1]:.3f})"
    return text


def record_link(name: str, record: dict, page: str) -> str:
    target = os.path.relpath(RECORDS / f"{name}.yaml", (ROOT / page).parent)
    return f"[{record['date']}]({target})"


def render_table(name: str, table: Table, records: dict[str, dict]) -> str:
    rows = sorted(((r["order"], n, r) for n, r in records.items() if r.get("table") == name))
    lines = ["| " + " | ".join([table.first, *(h for h, _ in table.columns), "record"]) + " |",
             "|" + "---|" * (len(table.columns) + 2)]
    for _, record_name, record in rows:
        for label, prefix in _labels(record):
            cells = [label, *(cell(t.replace(PREFIX, prefix) if prefix else t, record) for _, t in table.columns)]
            if record.get("current"):
                cells = [f"**{c}**" if c != "–" else c for c in cells]
            lines.append("| " + " | ".join([*cells, record_link(record_name, record, table.page)]) + " |")
    lines.extend(table.after)
    return "\n".join(lines) + "\n"


def _labels(record: dict) -> list[tuple[str, str | None]]:
    """(label, prefix of its figures) of each row a record gives: one, its `row`, unless it has `rows`."""
    if record.get("rows"):
        return [(label, prefix) for prefix, label in record["rows"].items()]
    return [(record["row"], None)]


def render_summary(records: dict[str, dict]) -> str:
    lines = ["| measured on | result | date, commit |", "|---|---|---|"]
    for name, label, figures in SUMMARY:
        record = records[name]
        result = "; ".join(f"{what} {cell(template, record)}" for what, template in figures)
        lines.append(f"| [{label}]({TABLES[record['table']].page}) | {result} | "
                     f"[{record['date']}, {record['commit']}](bench/results/{name}.yaml) |")
    return "\n".join(lines) + "\n"


def rendered_pages(records: dict[str, dict] | None = None) -> dict[Path, tuple[str, str]]:
    """Every page holding a results block: (its text now, its text with the blocks rendered)."""
    records = load_records() if records is None else records
    blocks = {name: (table.page, lambda n=name, t=table: render_table(n, t, records))
              for name, table in TABLES.items()}
    blocks["summary"] = ("README.md", lambda: render_summary(records))
    pages = {}
    for page in sorted({page for page, _ in blocks.values()}):
        path = ROOT / page
        old = path.read_text()

        def fill(match):
            name = match.group("name")
            if name not in blocks or blocks[name][0] != page:
                raise SystemExit(f"{page}: no table named {name!r} renders here")
            return match.group(1) + blocks[name][1]() + match.group(4)

        pages[path] = (old, BLOCK.sub(fill, old))
    placed = {m.group("name") for old, _ in pages.values() for m in BLOCK.finditer(old)}
    if missing := sorted(set(blocks) - placed):
        raise SystemExit(f"no page has a place for the tables {', '.join(missing)}")
    return pages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is stale")
    stale = []
    check = parser.parse_args().check
    for path, (old, new) in rendered_pages().items():
        if old != new:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new)
    for path in stale:
        print(f"{path}: {'stale' if check else 'rewritten'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
