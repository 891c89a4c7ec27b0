"""The arguments of each `qa` command: one function a command, the groups of options several
share, and the argparse types that keep numbers within ranges a run can handle. An option that
sets a setting takes its help from the setting (`setting_help`), so that it is written once."""

from __future__ import annotations

import argparse
import re

from qa.config import BACKENDS, EMBED_BACKENDS, FUSIONS, MODES, OCR_MODES, Settings
from qa.app.cli_commands import (cmd_ask, cmd_documents, cmd_eval, cmd_index, cmd_search, cmd_serve, cmd_show,
                                  cmd_verify)

# The numeric options take the ranges of their settings (Settings.range_of): past them a run
# crashes, lies or takes hours (issue 12). The port is no setting.
PORT_RANGE = (1, 65_535)


def _bounded(convert, noun: str, low, high, spec: str):
    """An argparse `type` that accepts `convert(text)` from `low` to `high` (written with format
    `spec`), or says why not: "'x' is not NOUN" or "TEXT is out of range: use LOW to HIGH"."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not low <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text} is out of range: use {low:{spec}} to {high:{spec}}")
        return value
    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def whole_number(low: int, high: int):
    """An argparse `type` that accepts a whole number from `low` to `high`, or says why not."""
    return _bounded(int, "a whole number", low, high, ",")


def number_between(low: float, high: float):
    """An argparse `type` that accepts a number from `low` to `high`, or says why not."""
    return _bounded(float, "a number", low, high, "g")


def dense_windows(text: str) -> int:
    """An argparse `type` for --dense-windows: 0 (off) or a window size in characters."""
    low, high = Settings.range_of("dense_windows")
    value = whole_number(Settings.off_of("dense_windows"), high)(text)
    if 0 < value < low:
        raise argparse.ArgumentTypeError(f"{text} is too small: use 0 (off) or {low} to {high:,}")
    return value


def setting_help(name: str, defaults: Settings, before: str = "", default: str | None = None) -> str:
    """The help of the option that sets the setting `name`: `before`, what the setting does
    (Settings.help_of), the numbers it takes, and its default: `default`, else its value in
    `defaults` (none shown for None: the setting's help says what None does)."""
    text = before + Settings.help_of(name)
    if Settings.range_of(name):  # argparse shows the choices of the others
        text += f"; {Settings.values_of(name)}"
    value = getattr(defaults, name)
    if default is None and value is not None:
        default = ("on" if value else "off") if isinstance(value, bool) else _shown(value)
    return f"{text} (default: {default})" if default is not None else text


def with_chunking(p, defaults: Settings, what: str = ""):
    """--chunk-chars, --overlap, --chunk-context and --dense-windows: how documents are cut into
    indexed chunks, and how they are embedded."""
    p.add_argument("--chunk-chars", type=whole_number(*Settings.range_of("chunk_chars")), metavar="N",
                   help=setting_help("chunk_chars", defaults, what))
    p.add_argument("--overlap", type=whole_number(*Settings.range_of("overlap_sentences")), metavar="N",
                   help=setting_help("overlap_sentences", defaults, what))
    p.add_argument("--chunk-context", action=argparse.BooleanOptionalAction, default=None,
                   help=setting_help("chunk_context", defaults, what))
    p.add_argument("--dense-windows", type=dense_windows, metavar="N",
                   help=setting_help("dense_windows", defaults, what))
    return p


def with_fusion(p, defaults: Settings):
    """--fusion, --dense-weight and --confidence-power: how hybrid merges its two rankings."""
    p.add_argument("--fusion", choices=FUSIONS, help=setting_help("fusion", defaults))
    p.add_argument("--dense-weight", type=number_between(*Settings.range_of("dense_weight")), metavar="W",
                   help=setting_help("dense_weight", defaults))
    p.add_argument("--confidence-power", type=number_between(*Settings.range_of("confidence_power")), metavar="P",
                   help=setting_help("confidence_power", defaults))
    return p


def device(text: str) -> str:
    """An argparse `type` for --device: auto, cpu, cuda or cuda:N."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use auto, cpu, cuda or cuda:N")
    return text


def with_index(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every command takes: where the index lives and how the model runs."""
    defaults = Settings()
    p.add_argument("--index", metavar="DIR", help=setting_help("index_dir", defaults))
    p.add_argument("--device", type=device, help=setting_help("device", defaults))
    p.add_argument("--embed-backend", choices=EMBED_BACKENDS, help=setting_help("embed_backend", defaults))
    p.add_argument("--backend", choices=BACKENDS, help=setting_help("backend", defaults))
    p.add_argument("--uri", help=setting_help("uri", defaults))
    return p


def with_reader(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--reader, for the commands that read sentences to answer."""
    p.add_argument("--reader", metavar="DIR", help=setting_help("reader_dir", Settings()))
    return p


def with_sources(p: argparse.ArgumentParser, as_option: bool = False) -> argparse.ArgumentParser:
    """The folder of documents: an optional argument, or `--sources DIR` with `as_option`."""
    sources_help = setting_help("sources_dir", Settings())
    if as_option:
        p.add_argument("--sources", metavar="DIR", help=sources_help)
    else:
        p.add_argument("sources", nargs="?", help=sources_help)
    return p


def with_max_file_mb(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--max-file-mb: the largest file indexed, or uploaded to the web app."""
    p.add_argument("--max-file-mb", type=whole_number(*Settings.range_of("max_file_mb")), metavar="N",
                   help=setting_help("max_file_mb", Settings()))
    return p


def with_source_patterns(p: argparse.ArgumentParser, what: str = "search") -> argparse.ArgumentParser:
    """--source PATTERN, repeatable: the documents a command works on (default: all)."""
    preview = "" if what == "list" else " `qa documents --source PATTERN` shows what it selects"
    p.add_argument("--source", action="append", metavar="PATTERN",
                   help=f"{what} only the documents PATTERN selects: a file name or path as citations give "
                        "it (notes/report.pdf), a folder (notes/), or a glob over either ('report-*.pdf'; "
                        "case sensitive, * also crosses /); repeat it for more (default: every document)."
                        + preview)
    return p


def with_retrieval(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The question and how its passages are retrieved, for `qa search` and `qa ask`."""
    defaults = Settings()
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--mode", choices=MODES, help=setting_help("mode", defaults))
    p.add_argument("-k", type=whole_number(*Settings.range_of("k")), metavar="N", help=setting_help("k", defaults))
    with_fusion(p, defaults)
    with_source_patterns(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return with_reader(with_index(p))


def serve_arguments(p: argparse.ArgumentParser, sources_option: bool = False) -> argparse.ArgumentParser:
    """The options of `qa serve`, which `python app.py` takes too (there the sources folder is
    `--sources DIR` rather than an argument)."""
    with_sources(p, sources_option)
    p.add_argument("--host", help="address to listen on (default: $QA_HOST, $GRADIO_SERVER_NAME or 127.0.0.1); "
                                  "beyond 127.0.0.1 it needs $QA_PASSWORD (or $QA_PASSWORD_FILE) or --read-only")
    p.add_argument("--port", type=whole_number(*PORT_RANGE),
                   help="port (default: $QA_PORT, $GRADIO_SERVER_PORT or 7860)")
    p.add_argument("--read-only", action="store_true", help="questions only: no uploads, re-scans or evaluation")
    with_max_file_mb(p)
    p.set_defaults(run=cmd_serve)
    return with_reader(with_index(p))


def command(commands, name: str, run, **texts) -> argparse.ArgumentParser:
    """The parser of `qa NAME`, its `help` and `description` in `texts`, which runs `run`."""
    p = commands.add_parser(name, **texts)
    p.set_defaults(run=run)
    return p


def add_index_command(commands) -> None:
    defaults = Settings()
    p = with_index(command(
        commands, "index", cmd_index, help="build or update the index of a folder of documents",
        description="Read .txt, .md, .html, .pdf and .docx files, chunk them and build the BM25 and "
                    "embedding indexes. Only new or changed documents are embedded again; the "
                    "previous index stays usable until the new one is complete."))
    with_sources(p)
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and start over")
    p.add_argument("--compact", action="store_true",
                   help="then merge the index's segments into one, dropping removed documents' chunks "
                        "(updates do this by themselves when they pile up; no embedding)")
    with_chunking(p, defaults)
    with_max_file_mb(p)
    p.add_argument("--max-document-chars", type=whole_number(*Settings.range_of("max_document_chars")), metavar="N",
                   help=setting_help("max_document_chars", defaults))
    p.add_argument("--ocr", choices=OCR_MODES,
                   help=setting_help("ocr", defaults, default=f"as the index was built, else {defaults.ocr}; a "
                                                              f"different value rebuilds the index"))
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def add_search_command(commands) -> None:
    p = with_retrieval(command(
        commands, "search", cmd_search, help="show the passages retrieved for a question",
        description="Rank the indexed passages for a question and show, for each, its source, "
                    "offsets and its rank and score in each retriever."))
    p.add_argument("--rerank", action="store_true",
                   help="reorder the k passages by the reader's score of their best sentence")


def add_ask_command(commands) -> None:
    p = with_retrieval(command(
        commands, "ask", cmd_ask, help="answer a question with verbatim, cited sentences from the documents",
        description="Quote the sentences of your documents that answer the question, each with a "
                    "numbered citation (file, title, paragraph, page, character offsets). When "
                    "nothing answers it, say so and show the nearest passages instead."))
    p.add_argument("--format", choices=("text", "markdown", "json"),
                   help="text (default); markdown: the question as a heading, each quote with a "
                        "footnote giving file, title, paragraph, page and offsets; json: one JSON "
                        "object (the same as --json), which `qa verify` can check later")
    p.add_argument("--after", metavar="PREVIOUS_QUESTION",
                   help="the question asked before: a follow-up (\"Who led it?\") is searched with "
                        "the names of that question and its answer")


def add_verify_command(commands) -> None:
    p = command(
        commands, "verify", cmd_verify, help="check that the quotes of an exported answer are still in their sources",
        description="Read the sources again and report each quote of EXPORT.json (a conversation "
                    "exported from the web chat, or the output of `qa ask --json`) as exact (still at "
                    "its offsets), moved (found elsewhere in the same document: the new offsets), gone "
                    "(no longer in the document) or missing (the source file is not there or cannot be "
                    "read). Exit status: 0 when every quote is exact, 1 when any moved, is gone or "
                    "missing, 2 when EXPORT.json is not a qa export.")
    p.add_argument("export", metavar="EXPORT.json", help="the JSON export or `qa ask --json` output")
    p.add_argument("--sources", metavar="DIR",
                   help=setting_help("sources_dir", Settings(), "where the quoted files are: "))
    p.add_argument("--ocr", choices=OCR_MODES,
                   help=setting_help("ocr", Settings(), default=f"{Settings().ocr}; give the mode the index was "
                                                               "built with, or OCR'd quotes read as gone"))


def add_show_command(commands) -> None:
    p = with_index(command(
        commands, "show", cmd_show, help="print a document's text as qa extracted it: what citation offsets count",
        description="Print the text qa extracted from SOURCE (a file name as citations give it), or "
                    "the characters START to END of it: citation offsets count characters of this "
                    "text (Python string indices). Nothing is added, not even a final newline, so "
                    "`qa show SOURCE | sha256sum` equals the citation's text_sha256. With --render, "
                    "for a PDF: draw the page that START is on instead, START to END highlighted."))
    p.add_argument("source", help="the document's file name, as a citation's \"source\" gives it")
    p.add_argument("--start", type=whole_number(0, 10**12), metavar="N", help="first character (default 0)")
    p.add_argument("--end", type=whole_number(0, 10**12), metavar="M",
                   help="one past the last character (default: the end of the text)")
    p.add_argument("--sha256", action="store_true", help="print the SHA-256 of the whole text instead")
    p.add_argument("--render", metavar="OUT.png",
                   help="a PDF only: write its page that START is on as a PNG (150 dpi), characters START "
                        "to END highlighted yellow (the page only: a quote running onto the next one is "
                        "highlighted up to the page's end)")
    p.add_argument("--answer-start", type=whole_number(0, 10**12), metavar="A",
                   help="with --render: the answer words' first character (a citation's answer_start), "
                        "highlighted orange")
    p.add_argument("--answer-end", type=whole_number(0, 10**12), metavar="B",
                   help="with --render: one past the answer words' last character (answer_end)")
    p.add_argument("--sources", metavar="DIR",
                   help=setting_help("sources_dir", Settings(), "with --render, where the PDF was indexed from: "))


def add_documents_command(commands) -> None:
    p = with_index(command(
        commands, "documents", cmd_documents, help="list the indexed documents",
        description="List the documents in the index: each one's file name as citations give it "
                    "(its path in the sources folder), its chunks and its title; with --source, only "
                    "those the patterns select, as `qa ask --source` would search them."))
    with_source_patterns(p, "list")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def add_serve_command(commands) -> None:
    serve_arguments(commands.add_parser(
        "serve", help="start the web chat (the same as `python app.py`)",
        description="Index the sources folder (only new or changed files), then serve the chat on "
                    "http://HOST:PORT until stopped. Nothing is shared beyond that address."))


def add_eval_command(commands) -> None:
    defaults = Settings()
    p = with_reader(with_index(command(
        commands, "eval", cmd_eval, help="score answers on a question set, or retrieval on a BEIR dataset, by mode",
        description="Answer every question of a JSONL question set (id, question, answers) in each "
                    "mode and report hit@1/3/5/10, MRR@10, quote@1, span@1, abstention and speed; or, with "
                    "--beir, index a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/test.tsv) and "
                    "report nDCG@10, recall@100, MRR@10 and MAP. Writes report.json, metrics.csv "
                    "and two plots to --out.")))
    p.add_argument("questions", nargs="?", help="question set, one JSON object a line")
    p.add_argument("--beir", metavar="DATASET_DIR",
                   help="evaluate retrieval on a BEIR dataset; its index goes to --index "
                        "(default: DATASET_DIR/.qa-index)")
    p.add_argument("--modes", default="bm25,dense,hybrid", help="comma-separated (default: bm25,dense,hybrid)")
    p.add_argument("-k", dest="eval_k", type=whole_number(*Settings.range_of("eval_k")), metavar="N",
                   help=setting_help("eval_k", defaults))
    with_fusion(p, defaults)
    with_source_patterns(p, "with a question set: ask")
    with_chunking(p, defaults, "with --beir: ")
    p.add_argument("--out", default="eval-out", metavar="DIR", help="folder for report files (default: eval-out)")
    p.add_argument("--run-out", metavar="DIR",
                   help="with --beir: also write one TREC run file per mode (MODE.run: qid Q0 docid rank "
                        "score tag) to DIR, to score with other tools")
    p.add_argument("--without-context", action="store_true",
                   help="ask every question alone, ignoring 'follows' (to measure what a follow-up "
                        "gains from the question before it)")
    p.add_argument("--rerank", action="store_true",
                   help="with --beir: the reader reorders each query's best 20 passages, as qa search --rerank "
                        "does (slow: 1 to 3 s a query on 2 CPU cores)")
    p.add_argument("--compare", nargs="+", metavar="RUN",
                   help="with --beir: other systems' TREC run files, scored beside qa's modes (named by file "
                        "stem), with ranx's paired t-test marking significant differences")
    p.add_argument("--json", action="store_true", help="print the whole report as one JSON object")


def _shown(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}" if isinstance(value, float) else str(value)
