"""The citation checker beside the chat: pick an answer, then a citation, and see its quote
highlighted in the source document, with a check that the offsets still point at it; a quote from
a PDF is also shown on its page as drawn, with a link that opens the PDF there."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import threading
from html import escape
from pathlib import Path
from urllib.parse import quote as url_quoted

import gradio as gr
from gradio.utils import get_upload_folder

from qa.app.web_html import citation_label

CONTEXT_CHARS = 700  # shown on each side of a quote when checking a citation
PAGE_DPI = 150  # as `qa show --render` draws pages
# The PDFs whose pages were shown, copied for the browser to open: at most this many are kept.
PDF_COPIES = 8


def context_html(text: str, start: int, end: int, around: int | None = CONTEXT_CHARS,
                 answer: tuple[int, int] | None = None) -> str:
    """The document around `text[start:end]` with that span highlighted (and the `answer` span
    inside it in bold); the whole document when `around` is None. Every piece is escaped."""
    lo = 0 if around is None else max(0, start - around)
    hi = len(text) if around is None else min(len(text), end + around)
    # Start and stop at white space so that the context does not begin mid-word.
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return ('<div class="qa-doc">' + ("…" if lo > 0 else "") + escape(text[lo:start])
            + f'<mark class="qa-span">{_span_html(text, start, end, answer)}</mark>'
            + escape(text[end:hi]) + ("…" if hi < len(text) else "") + "</div>")


def _span_html(text: str, start: int, end: int, answer: tuple[int, int] | None) -> str:
    if not answer or not start <= answer[0] <= answer[1] <= end:
        return escape(text[start:end])
    a, b = answer
    return (escape(text[start:a]) + f'<b class="qa-answer-words">{escape(text[a:b])}</b>'
            + escape(text[b:end]))


def source_panel(text: str | None, citation: dict, whole: bool, page: str = "") -> str:
    """The citation checker: where the quote is, whether it matches, the `page` it is drawn on
    (HTML from `page_html`, for a PDF) and the source's text around it."""
    c = citation
    head = (f'<div class="qa-source-head"><b>[{int(c["n"])}] {escape(c["title"])}</b><br>'
            f'file <code>{escape(c["source"])}</code> · ¶{int(c["paragraph"])}'
            + (f' · page {int(c["page"])}' if c.get("page") else "")
            + f' · characters <code>{int(c["start"])}–{int(c["end"])}</code></div>')
    if text is None:
        return head + ('<div class="qa-error">This document is no longer in the index (it was removed '
                       'or renamed since the answer was given); ask again.</div>')
    if text[c["start"]:c["end"]] != c["quote"]:
        return head + ('<div class="qa-error">This document changed since the answer was given, so the '
                       'offsets no longer point at the quote; ask again.</div>')
    check = ('<div class="qa-check">✓ The highlighted span is exactly the quoted text '
             f'(characters {int(c["start"])}–{int(c["end"])} of {len(text):,}).</div>')
    answer = (c["answer_start"], c["answer_end"]) if "answer_start" in c else None
    return head + check + page + context_html(text, c["start"], c["end"], None if whole else CONTEXT_CHARS, answer)


def page_html(pipeline, document, citation: dict) -> str:
    """For a citation from a PDF whose offsets still point at its quote: its page drawn with the
    quote yellow and the answer words orange, the page number, and a link that opens the PDF at
    that page; a note instead when the file cannot show it; "" for other documents."""
    c = citation
    if "boxes" not in c and "boxes_note" not in c:
        return ""
    from qa.ingest.pdf_quotes import NotAsIndexed, highlighted_page, indexed_pdf

    settings = pipeline.settings
    try:
        data, pdf_text = indexed_pdf(Path(settings.sources_dir) / document.source, document.sha256,
                                     document.text, settings.max_document_chars, document.pages,
                                     (c["start"], c["end"]), settings.ocr)
    except NotAsIndexed as error:
        return f'<div class="qa-note qa-page-note">The page cannot be shown: {escape(str(error))}</div>'
    answer = (c["answer_start"], c["answer_end"]) if "answer_start" in c else None
    page, image = highlighted_page(data, pdf_text, c["start"], c["end"], answer, dpi=PAGE_DPI)
    png = io.BytesIO()
    image.save(png, format="PNG", optimize=False)
    width, height = pdf_text.page_sizes[page - 1]
    first = next(iter(c.get("boxes") or ()), None)
    # A mark over the quote's first line: what the checker scrolls into view.
    mark = "" if first is None else (
        f'<span class="qa-page-mark" style="position:absolute; left:{100 * first[0] / width:.3f}%; '
        f'top:{100 * first[1] / height:.3f}%; width:{100 * (first[2] - first[0]) / width:.3f}%; '
        f'height:{100 * (first[3] - first[1]) / height:.3f}%"></span>')
    link = _pdf_link(data, document.source, document.sha256)
    name = escape(document.source.rsplit("/", 1)[-1])
    # A scanned page's quote is OCR's reading of it: the page shows what was printed.
    read = " · <b>text read by OCR</b>: compare it with the page" if c.get("ocr") else ""
    return (f'<div class="qa-page" data-page="{page}"><div class="qa-page-head">Page {page} of {name}, as drawn{read} · '
            f'<a class="qa-page-link" href="{escape(link)}#page={page}" target="_blank" rel="noopener noreferrer">'
            f'open the PDF at page {page}</a></div>'
            f'<div style="position:relative; margin:0.3em 0 0.6em 0; border:1px solid var(--border-color-primary)">'
            f'<img class="qa-page-image" alt="page {page} of {name}, the quote highlighted" '
            f'src="data:image/png;base64,{base64.b64encode(png.getvalue()).decode()}" '
            f'style="display:block; width:100%; height:auto">'
            f'{mark}</div></div>')


_COPYING = threading.Lock()
_SERVED: list[Path] = []  # the copies' folders handed to Gradio to serve


def _pdf_link(data: bytes, source: str, sha256: str) -> str:
    """A URL that serves `data` (a PDF source's bytes, checked against its index entry) to the
    browser, inline. The app never serves the sources folder itself: a copy of each PDF shown
    goes to a folder of its own in the app's temp folder, which Gradio serves (behind its login,
    when the app has one) and in which nothing else is ever written; the oldest copies go."""
    folder = Path(get_upload_folder()).resolve() / "qa-pdfs"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", source.rsplit("/", 1)[-1])[-100:]
    target = folder / sha256[:24] / (name if name.lower().endswith(".pdf") else f"{name}.pdf")
    with _COPYING:
        if folder not in _SERVED:
            folder.mkdir(parents=True, exist_ok=True)
            gr.set_static_paths([folder])  # served inline (as a PDF) only from a folder allowed so
            _SERVED.append(folder)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            partial.write_bytes(data)
            os.replace(partial, target)
        os.utime(target.parent)  # the newest shown
        kept = sorted((d for d in folder.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
        for old in kept[PDF_COPIES:]:
            shutil.rmtree(old, ignore_errors=True)
    return "gradio_api/file=" + url_quoted(str(target))


def citation_choices(answers: list, selected: int | None):
    """The checker's list of the citations of answer `selected` (none when there is none)."""
    answer = answers[selected] if answers and selected is not None else None
    if not answer or not answer["citations"]:
        return gr.Radio(choices=[], value=None, label="Citations")
    label = (f"Nearest passages for: {answer['question']}" if answer["abstained"]
             else f"Citations for: {answer['question']}")
    return gr.Radio(choices=[(citation_label(c, answer["abstained"]), c["n"]) for c in answer["citations"]],
                    value=answer["citations"][0]["n"], label=label)


def citation_panel(pipeline, answers: list, selected: int | None, n: int | None, whole: bool) -> str:
    """The checker's panel for citation `n` of answer `selected`, its document read from the index."""
    if selected is None or not answers or n is None:
        return '<div class="qa-hint">Ask a question, then pick a citation to see it in its source.</div>'
    citations = {c["n"]: c for c in answers[selected]["citations"]}
    if n not in citations:
        return ""
    citation = citations[n]
    try:
        document = pipeline.retriever.backend.document_by_source(citation["source"])
    except KeyError:
        return source_panel(None, citation, whole)
    text = document.text
    page = page_html(pipeline, document, citation) if text[citation["start"]:citation["end"]] == citation["quote"] else ""
    return source_panel(text, citation, whole, page)


def checker_for(pipeline, answers: list, selected: int | None, whole: bool) -> tuple:
    """The checker's citation list and panel for answer `selected`, its first citation picked."""
    citations = answers[selected]["citations"] if answers and selected is not None else []
    first = citations[0]["n"] if citations else None
    return citation_choices(answers, selected), citation_panel(pipeline, answers, selected, first, whole)


def citation_checker(pipeline, answers: gr.State, selected: gr.State, chatbot: gr.Chatbot) -> tuple:
    """The checker's column contents, as (citation, whole, source); call inside its column.
    Clicking an answer in `chatbot` lists its citations; picking one shows it in its source."""
    gr.Markdown("### Check a citation\nClick an earlier answer to check its citations.")
    citation = gr.Radio(choices=[], label="Citations", elem_id="qa-citations")
    whole = gr.Checkbox(label="Show the whole document", value=False, elem_id="qa-whole")
    source = gr.HTML(citation_panel(pipeline, [], None, None, False), elem_id="qa-source", js_on_load=None)

    def show_citation(answers: list, selected: int | None, n: int | None, whole: bool) -> str:
        return citation_panel(pipeline, answers, selected, n, whole)

    def pick_answer(answers, whole, evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        selected = min(int(index) // 2, len(answers) - 1) if answers else None
        return (selected, *checker_for(pipeline, answers, selected, whole))

    chatbot.select(pick_answer, [answers, whole], [selected, citation, source], api_visibility="private")
    for trigger in (citation.change, whole.change):
        trigger(show_citation, [answers, selected, citation, whole], source, api_visibility="private",
                show_progress="hidden")
    # Into view: the quote on its page when there is one (the text below then scrolls inside its
    # own box), else the quote in the text.
    source.change(None, js="""() => {
        const root = document.querySelector('#qa-source'), mark = root?.querySelector('.qa-doc mark');
        const page = root?.querySelector('.qa-page-mark'), doc = root?.querySelector('.qa-doc');
        if (page && mark && doc) {
            doc.scrollTop += mark.getBoundingClientRect().top - doc.getBoundingClientRect().top - doc.clientHeight / 2;
        }
        (page || mark)?.scrollIntoView({block: 'center', behavior: 'smooth'});
    }""")
    return citation, whole, source
