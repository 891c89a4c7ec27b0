"""The `qa` command: a thin layer over the library (index, search, ask, show, verify, eval, serve)."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from pathlib import Path

from qa.config import BACKENDS, EMBED_BACKENDS, FUSIONS, MODES, Settings
from qa.errors import UserError

# Ranges of the numeric options: past them a run crashes, lies or takes hours (issue 12).
K_RANGE = (1, 100)
CHUNK_CHARS_RANGE = (50, 20_000)
OVERLAP_RANGE = (0, 10)
MAX_FILE_MB_RANGE = (1, 2_048)
PORT_RANGE = (1, 65_535)
MAX_DOCUMENT_CHARS_RANGE = (1_000, 1_000_000_000)

# Control characters (C0 but newline and tab, DEL, C1) and the bidirectional overrides. Printed raw,
# text from a document, an export or a question set could set the window title, clear the screen,
# hide a line (ESC[8m) or reorder it (issue 34).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def shown(text: str) -> str:
    """`text` as a terminal may show it: control characters written as escapes (ESC as \\x1b),
    newlines and tabs kept."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


def echo(text: str = "", **options) -> None:
    """print(), with control characters escaped: for human-readable output."""
    print(shown(text), **options)


def as_json(value) -> str:
    """`value` as indented JSON, every control character \\u-escaped (json escapes only C0 ones):
    safe on a terminal, and the same strings when parsed."""
    text = json.dumps(value, ensure_ascii=False, indent=1)
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def clipped(text: str, limit: int = 200) -> str:
    """`text` on one line, cut to `limit` characters (a question set's fields can be any size)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
    value = whole_number(0, CHUNK_CHARS_RANGE[1])(text)
    if 0 < value < CHUNK_CHARS_RANGE[0]:
        raise argparse.ArgumentTypeError(f"{text} is too small: use 0 (off) or {CHUNK_CHARS_RANGE[0]} "
                                         f"to {CHUNK_CHARS_RANGE[1]:,}")
    return value


def with_chunking(p, defaults: Settings, what: str = ""):
    """--chunk-chars, --overlap, --chunk-context and --dense-windows: how documents are cut into
    indexed chunks, and how they are embedded."""
    p.add_argument("--chunk-chars", type=whole_number(*CHUNK_CHARS_RANGE), metavar="N",
                   help=f"{what}target chunk size in characters, {_range(CHUNK_CHARS_RANGE)} "
                        f"(default {defaults.chunk_chars})")
    p.add_argument("--overlap", type=whole_number(*OVERLAP_RANGE), metavar="N",
                   help=f"{what}sentences shared by neighbouring chunks, {_range(OVERLAP_RANGE)} "
                        f"(default {defaults.overlap_sentences})")
    p.add_argument("--chunk-context", action=argparse.BooleanOptionalAction, default=None,
                   help=f"{what}embed and BM25-index each chunk with its document's title and nearest "
                        f"heading before it (default: {'on' if defaults.chunk_context else 'off'}); quotes "
                        "and offsets are the same either way")
    p.add_argument("--dense-windows", type=dense_windows, metavar="N",
                   help=f"{what}also embed each chunk longer than N characters in windows of about N "
                        "(whole sentences); a chunk's dense score is the best of its own vector and its "
                        f"windows'. 0: one vector a chunk (default {defaults.dense_windows})")
    return p


def with_fusion(p, defaults: Settings):
    """--fusion, --dense-weight and --confidence-power: how hybrid merges its two rankings."""
    p.add_argument("--fusion", choices=FUSIONS, help=f"how hybrid merges rankings (default: {defaults.fusion})")
    p.add_argument("--dense-weight", type=number_between(0, 1), metavar="W",
                   help=f"weighted fusion: the dense retriever's share before confidence scaling, 0 to 1 "
                        f"(default: {defaults.dense_weight:g})")
    p.add_argument("--confidence-power", type=number_between(0, 10), metavar="P",
                   help="weighted fusion: scale each retriever's weight by its ranking's confidence "
                        "(how far its best score stands above its candidates, in standard deviations) "
                        f"to this power; 0 keeps the weights fixed (default: {defaults.confidence_power:g})")
    return p


def device(text: str) -> str:
    """An argparse `type` for --device: auto, cpu, cuda or cuda:N."""
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use auto, cpu, cuda or cuda:N")
    return text


def _settings(args) -> Settings:
    return Settings().with_(
        index_dir=Path(args.index) if getattr(args, "index", None) else None,
        mode=getattr(args, "mode", None), k=getattr(args, "k", None),
        fusion=getattr(args, "fusion", None), device=getattr(args, "device", None),
        dense_weight=getattr(args, "dense_weight", None),
        confidence_power=getattr(args, "confidence_power", None),
        embed_backend=getattr(args, "embed_backend", None),
        chunk_chars=getattr(args, "chunk_chars", None),
        overlap_sentences=getattr(args, "overlap", None),
        chunk_context=getattr(args, "chunk_context", None),
        dense_windows=getattr(args, "dense_windows", None),
        max_file_mb=getattr(args, "max_file_mb", None),
        max_document_chars=getattr(args, "max_document_chars", None),
        backend=getattr(args, "backend", None), uri=getattr(args, "uri", None),
        reader_dir=Path(args.reader) if getattr(args, "reader", None) else None)


def _given(args) -> set[str]:
    """The settings that shape an index which the user gave on the command line: every other
    one is read from the index itself, so an index is read and updated the way it was built."""
    flags = {"embed_backend": "embed_backend", "chunk_chars": "chunk_chars", "overlap_sentences": "overlap",
             "chunk_context": "chunk_context", "dense_windows": "dense_windows"}
    return {name for name, flag in flags.items() if getattr(args, flag, None) is not None}


def _load(settings: Settings, given=()):
    """The retriever over the configured index, loaded once."""
    from qa import pipeline

    return pipeline.load(settings, keep=given).retriever


def cmd_index(args) -> int:
    from qa import pipeline

    sources = Path(args.sources)
    if not sources.is_dir():
        sys.exit(f"qa: no folder {sources}: put your documents in a folder and name it here")
    # Chunk size, overlap and model as the index was built, unless given: then it is rebuilt.
    settings = pipeline.index_settings(_settings(args), keep=_given(args))
    model = pipeline.model_for(settings)
    report = pipeline.update(settings, model, sources, rebuild=args.rebuild, progress=not args.quiet)
    for skipped in report.skipped:
        echo(f"warning: {skipped}", file=sys.stderr)
    echo(f"index {settings.index_location}: {report.summary()}")
    if args.compact:
        if settings.backend != "local":
            sys.exit("qa: --compact is for the local index; Milvus compacts its collections itself")
        from qa.index import store

        before, after = store.compact(settings)
        print(f"index {settings.index_location}: " + (f"compacted, {before} segments merged into {after}"
              if (before, after) != (1, 1) else "compact already: one segment, no chunks of removed documents"))
    return 0


def cmd_search(args) -> int:
    settings = _settings(args)
    question = _checked_question(args.question, settings)
    retriever = _load(settings, _given(args))
    hits = retriever.search(question, args.mode, args.k)
    if args.rerank:
        from qa.read.answer import rerank, shared_reader

        hits = rerank(shared_reader(settings.reader_dir), retriever, question, hits)
    if args.json:
        print(as_json({"question": question, "mode": args.mode or retriever.settings.mode,
                       "hits": [h.as_dict() for h in hits]}))
        return 0
    if not hits:
        print("No passage matches this question.")
    for hit in hits:
        why = []
        if hit.bm25_rank:
            why.append(f"bm25 #{hit.bm25_rank} ({hit.bm25_score:.2f})")
        if hit.dense_rank:
            why.append(f"dense #{hit.dense_rank} ({hit.dense_score:.3f})")
        c = hit.chunk
        echo(f"[{hit.rank}] {c.source} ¶{c.paragraph} chars {c.start}-{c.end}  "
             f"score {hit.score:.4f}  {'; '.join(why)}")
        echo(f"    {hit.title}")
        echo("    " + c.text.replace("\n", " ")[:400])
        print()
    return 0


def cmd_ask(args) -> int:
    from qa.read.answer import answer_question
    from qa.pipeline import answer_after

    if args.json and args.format not in (None, "json"):
        print(f"qa ask: error: --json is --format json; give --json or --format {args.format}, not both",
              file=sys.stderr)
        return 2
    output = "json" if args.json else args.format or "text"
    retriever = _load(_settings(args), _given(args))
    # --after: the question asked before, whose answer is the context of a follow-up (not printed)
    previous = answer_question(retriever, args.after, args.mode, args.k) if args.after else None
    answer = answer_after(retriever, args.question, previous, args.mode, args.k)
    if output == "json":
        print(as_json(answer.as_dict()))
        return 2 if answer.error else 0
    if output == "markdown":
        from qa.app.export import to_markdown

        echo(to_markdown([answer]), end="")
        return 2 if answer.error else 0
    if answer.error:
        echo(f"qa: {answer.error}", file=sys.stderr)
        return 2
    if answer.abstained:
        echo(answer.text)
    else:  # the words that answer are marked **like this** inside each verbatim quote
        echo(" ".join(f"“{answer.citations[q.citation - 1].marked()}” [{q.citation}]" for q in answer.quotes))
    if answer.searched_for:
        echo(f"(searched for: {answer.searched_for})")
    if answer.citations:
        print("\nNearest passages (not an answer):" if answer.abstained else "\nCitations:")
    for c in answer.citations:
        where = f"¶{c.paragraph}" + (f", page {c.page}" if c.page else "") + (f" · {c.heading}" if c.heading else "")
        echo(f"[{c.n}] {c.title} — {c.source}, {where}, chars {c.start}-{c.end}")
        echo(f"    “{c.quote}”")
    return 0


def cmd_show(args) -> int:
    from qa import pipeline
    from qa.retrieve import text_sha256

    settings = _settings(args)
    backend = pipeline.open_backend(pipeline.index_settings(settings))
    try:
        document = backend.document_by_source(args.source)
    except KeyError:
        sys.exit(shown(f"qa: no document {args.source!r} in the index at {settings.index_location}: give "
                       f"the file name a citation shows (its \"source\"), e.g. {backend.documents()[0].source}"))
    length = len(document.text)
    start = args.start or 0
    end = length if args.end is None else args.end
    if not 0 <= start <= end <= length:
        sys.exit(shown(f"qa: --start {start} --end {end} is outside {args.source}, whose text has {length:,} "
                       f"characters: give 0 <= start <= end <= {length:,}"))
    if args.sha256:
        print(text_sha256(document))
        return 0
    # Exactly the text, no newline added, so that `qa show SOURCE | sha256sum` is its text_sha256;
    # on a terminal, with its control characters escaped.
    text = document.text[start:end]
    sys.stdout.flush()
    sys.stdout.buffer.write((shown(text) if sys.stdout.isatty() else text).encode("utf-8"))
    return 0


def cmd_verify(args) -> int:
    from qa.app.export import ExportError, load_export, verify

    path = Path(args.export)
    try:
        data = load_export(path)
    except ExportError as error:
        return _refuse(str(error))
    sources = Path(args.sources) if args.sources else Settings().sources_dir
    if not sources.is_dir():
        return _refuse(f"no folder {sources}: give the folder of the quoted documents with --sources DIR")
    try:
        checks = verify(data, sources)
    except ExportError as error:
        return _refuse(f"{path}: {error}")
    for check in checks:
        echo(check.line())
    counts = {status: sum(c.status == status for c in checks) for status in ("exact", "moved", "gone", "missing")}
    print(f"{len(checks)} quotes: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
    return 0 if all(c.exact for c in checks) else 1


def _refuse(message: str) -> int:
    echo(f"qa: {message}", file=sys.stderr)
    return 2


def _checked_question(question: str, settings: Settings) -> str:
    from qa.read.answer import BadQuestion, check_question

    try:
        return check_question(question, settings)
    except BadQuestion as error:
        echo(f"qa: {error}", file=sys.stderr)
        sys.exit(2)  # as `qa ask` does for a question that cannot be searched


def with_index(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options every command takes: where the index lives and how the model runs."""
    defaults = Settings()
    p.add_argument("--index", metavar="DIR", help=f"index folder (default: {defaults.index_dir})")
    p.add_argument("--device", type=device, help="where to embed: auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--embed-backend", choices=EMBED_BACKENDS,
                   help=f"how to run the embedding model on a CPU (default: {defaults.embed_backend}); "
                        "an index is built and searched with one of them")
    p.add_argument("--backend", choices=BACKENDS,
                   help=f"where the index lives: local files or Milvus (default: {defaults.backend})")
    p.add_argument("--uri", help="the Milvus to use: a path ending in .db for milvus-lite, or "
                                 "http://host:19530 (default: milvus.db in the index folder)")
    return p


def with_reader(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """--reader, for the commands that read sentences to answer."""
    p.add_argument("--reader", metavar="DIR",
                   help="reader model folder (reader-int8.onnx, tokenizer.json, reader.json), e.g. one "
                        "trained with training/train_reader.py (default: the one shipped with qa)")
    return p


def cmd_serve(args) -> int:
    from qa.app.web import serve

    return serve(_settings(args).with_(sources_dir=Path(args.sources)), args.host, args.port, args.read_only)


def serve_arguments(p: argparse.ArgumentParser, sources_option: bool = False) -> argparse.ArgumentParser:
    """The options of `qa serve`, which `python app.py` takes too (there the sources folder is
    `--sources DIR` rather than an argument)."""
    defaults = Settings()
    sources_help = f"folder of documents (default: {defaults.sources_dir})"
    if sources_option:
        p.add_argument("--sources", default=str(defaults.sources_dir), metavar="DIR", help=sources_help)
    else:
        p.add_argument("sources", nargs="?", default=str(defaults.sources_dir), help=sources_help)
    p.add_argument("--host", help="address to listen on (default: $QA_HOST, $GRADIO_SERVER_NAME or 127.0.0.1); "
                                  "beyond 127.0.0.1 it needs $QA_PASSWORD (or $QA_PASSWORD_FILE) or --read-only")
    p.add_argument("--port", type=whole_number(*PORT_RANGE),
                   help="port (default: $QA_PORT, $GRADIO_SERVER_PORT or 7860)")
    p.add_argument("--read-only", action="store_true", help="questions only: no uploads, re-scans or evaluation")
    p.add_argument("--max-file-mb", type=whole_number(*MAX_FILE_MB_RANGE), metavar="N",
                   help=f"skip files, and refuse uploads, larger than this, {_range(MAX_FILE_MB_RANGE)} "
                        f"(default {defaults.max_file_mb})")
    p.set_defaults(run=cmd_serve)
    return with_reader(with_index(p))


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="qa", description="Ask questions of your own documents and get verbatim, cited passages.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = with_index(commands.add_parser(
        "index", help="build or update the index of a folder of documents",
        description="Read .txt, .md, .html, .pdf and .docx files, chunk them and build the BM25 and "
                    "embedding indexes. Only new or changed documents are embedded again; the "
                    "previous index stays usable until the new one is complete."))
    p.add_argument("sources", nargs="?", default=str(defaults.sources_dir),
                   help=f"folder of documents (default: {defaults.sources_dir})")
    p.add_argument("--rebuild", action="store_true", help="ignore the existing index and start over")
    p.add_argument("--compact", action="store_true",
                   help="then merge the index's segments into one, dropping removed documents' chunks "
                        "(updates do this by themselves when they pile up; no embedding)")
    with_chunking(p, defaults)
    p.add_argument("--max-file-mb", type=whole_number(*MAX_FILE_MB_RANGE), metavar="N",
                   help=f"skip files larger than this, {_range(MAX_FILE_MB_RANGE)} (default {defaults.max_file_mb})")
    p.add_argument("--max-document-chars", type=whole_number(*MAX_DOCUMENT_CHARS_RANGE), metavar="N",
                   help=f"skip documents whose text is longer than this, {_range(MAX_DOCUMENT_CHARS_RANGE)} "
                        f"(default {defaults.max_document_chars:,})")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=cmd_index)

    def with_retrieval(p):
        p.add_argument("question", help="the question, in quotes")
        p.add_argument("--mode", choices=MODES, help=f"retriever (default: {defaults.mode})")
        p.add_argument("-k", type=whole_number(*K_RANGE), metavar="N",
                       help=f"passages to return, {_range(K_RANGE)} (default: {defaults.k})")
        with_fusion(p, defaults)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return with_reader(with_index(p))

    p = with_retrieval(commands.add_parser(
        "search", help="show the passages retrieved for a question",
        description="Rank the indexed passages for a question and show, for each, its source, "
                    "offsets and its rank and score in each retriever."))
    p.add_argument("--rerank", action="store_true",
                   help="reorder the k passages by the reader's score of their best sentence")
    p.set_defaults(run=cmd_search)

    p = with_retrieval(commands.add_parser(
        "ask", help="answer a question with verbatim, cited sentences from the documents",
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
    p.set_defaults(run=cmd_ask)

    p = commands.add_parser(
        "verify", help="check that the quotes of an exported answer are still in their sources",
        description="Read the sources again and report each quote of EXPORT.json (a conversation "
                    "exported from the web chat, or the output of `qa ask --json`) as exact (still at "
                    "its offsets), moved (found elsewhere in the same document: the new offsets), gone "
                    "(no longer in the document) or missing (the source file is not there or cannot be "
                    "read). Exit status: 0 when every quote is exact, 1 when any moved, is gone or "
                    "missing, 2 when EXPORT.json is not a qa export.")
    p.add_argument("export", metavar="EXPORT.json", help="the JSON export or `qa ask --json` output")
    p.add_argument("--sources", metavar="DIR",
                   help=f"the folder the quoted files are in (default: {defaults.sources_dir})")
    p.set_defaults(run=cmd_verify)

    p = with_index(commands.add_parser(
        "show", help="print a document's text as qa extracted it: what citation offsets count",
        description="Print the text qa extracted from SOURCE (a file name as citations give it), or "
                    "the characters START to END of it: citation offsets count characters of this "
                    "text (Python string indices). Nothing is added, not even a final newline, so "
                    "`qa show SOURCE | sha256sum` equals the citation's text_sha256."))
    p.add_argument("source", help="the document's file name, as a citation's \"source\" gives it")
    p.add_argument("--start", type=whole_number(0, 10**12), metavar="N", help="first character (default 0)")
    p.add_argument("--end", type=whole_number(0, 10**12), metavar="M",
                   help="one past the last character (default: the end of the text)")
    p.add_argument("--sha256", action="store_true", help="print the SHA-256 of the whole text instead")
    p.set_defaults(run=cmd_show)

    serve_arguments(commands.add_parser(
        "serve", help="start the web chat (the same as `python app.py`)",
        description="Index the sources folder (only new or changed files), then serve the chat on "
                    "http://HOST:PORT until stopped. Nothing is shared beyond that address."))

    def cmd_eval(args) -> int:
        from tqdm.auto import tqdm

        from qa.evaluation import evaluate

        if bool(args.questions) == bool(args.beir):
            sys.exit("qa: eval needs either a question-set file or --beir DATASET_DIR (one of them)")
        settings, modes = _settings(args), tuple(m.strip() for m in args.modes.split(",") if m.strip())
        bar = tqdm(desc="eval", unit="q", file=sys.stderr, delay=0.5)  # shown once answering starts

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        if args.run_out and not args.beir:
            sys.exit("qa: --run-out writes TREC run files for --beir evaluations only")
        if args.without_context and args.beir:
            sys.exit("qa: --without-context is for question sets (their 'follows' field), not --beir")
        if args.compare and not args.beir:
            sys.exit("qa: --compare puts TREC runs beside --beir evaluations only")
        if args.rerank and not args.beir:
            sys.exit("qa: --rerank is for --beir evaluations (question sets are always read by the reader)")
        if _given(args) - {"embed_backend"} and not args.beir:
            sys.exit("qa: --chunk-chars, --overlap, --chunk-context and --dense-windows shape the index --beir "
                     "builds; a question set is asked of an index as `qa index` built it (rebuild that with "
                     "them instead)")
        try:
            runs = [evaluate.read_run(path) for path in args.compare or ()]  # a bad file fails before indexing
            if args.beir:
                report = evaluate.evaluate_beir(args.beir, settings, modes=modes, index_dir=args.index,
                                                progress=progress, show_build=not args.json,
                                                rerank_top=evaluate.RERANK_TOP if args.rerank else 0)
                if runs:
                    report = evaluate.compare_runs(report, runs)
            else:
                questions = evaluate.load_question_set(args.questions)
                report = evaluate.evaluate_question_set(_load(settings, _given(args)), questions, modes, args.k,
                                                        progress=progress, name=Path(args.questions).name,
                                                        follow_ups=not args.without_context)
        except ValueError as error:
            sys.exit(f"qa: {shown(str(error))}")
        finally:
            bar.close()
        written = report.write(args.out)
        if args.run_out:
            written |= {f"{path.stem} run": path for path in report.write_runs(args.run_out)}
        if args.json:
            print(as_json(report.as_dict()))
        else:
            echo(report.table())
            misses = report.misses()
            print(f"\n{len(misses)} misses (not answered by the first passage, or abstained wrongly)"
                  + (":" if misses else ""))
            for miss in misses[:40]:
                echo(f"[{miss['mode']}] {clipped(miss['id'], 60)} {clipped(miss['question'])}\n"
                     f"    expected: {clipped(miss['expected'])} — {clipped(miss['why'])}\n"
                     f"    got: {clipped(miss['got'])}")
            if len(misses) > 40:
                echo(f"… and {len(misses) - 40} more in {written['json']}")
        echo("wrote " + ", ".join(str(path) for path in written.values()), file=sys.stderr)
        return 0

    p = with_reader(with_index(commands.add_parser(
        "eval", help="score answers on a question set, or retrieval on a BEIR dataset, by mode",
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
    p.add_argument("-k", type=whole_number(*K_RANGE), default=10, metavar="N",
                   help=f"citations per answer, {_range(K_RANGE)} (default: 10)")
    with_fusion(p, defaults)
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
    p.set_defaults(run=cmd_eval)
    return parser


def _range(bounds: tuple[int, int]) -> str:
    return f"{bounds[0]} to {bounds[1]:,}"


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args) -> int:
    """Run the parsed command; a user's mistake ends in one line naming it, never a traceback."""
    try:
        status = args.run(args)
        sys.stdout.flush()  # inside the try: a reader that went away (`qa ask … | head`) is not a crash
        return status
    except UserError as error:
        sys.exit(f"qa: {shown(str(error))}")  # status 1, the message on stderr
    except BrokenPipeError:
        # The standard way (Python docs, "Note on SIGPIPE"): point stdout at devnull so that the
        # interpreter's last flush cannot fail again, and exit as a process killed by SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except OSError as error:  # a folder that cannot be made or written, a full disk: say which
        where = f"{error.filename}: " if error.filename else ""
        echo(f"qa: {where}{error.strerror or error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
