"""The citation checker beside the chat: pick an answer, then a citation, and see its quote
highlighted in the source document, with a check that the offsets still point at it."""

from __future__ import annotations

from html import escape

import gradio as gr

from qa.app.web_html import citation_label

CONTEXT_CHARS = 700  # shown on each side of a quote when checking a citation


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


def source_panel(text: str | None, citation: dict, whole: bool) -> str:
    """The citation checker: where the quote is, whether it matches, and the source around it."""
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
    return head + check + context_html(text, c["start"], c["end"], None if whole else CONTEXT_CHARS, answer)


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
        text = pipeline.retriever.backend.document_by_source(citation["source"]).text
    except KeyError:
        text = None
    return source_panel(text, citation, whole)


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
    source.change(None, js="() => document.querySelector('#qa-source mark')"
                           "?.scrollIntoView({block: 'center', behavior: 'smooth'})")
    return citation, whole, source
