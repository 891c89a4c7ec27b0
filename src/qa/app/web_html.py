"""Answers as the chat shows them: each quote with its [n] marker and the numbered citations, as
HTML in which everything from a document or a question is escaped: it is text, never markup."""

from __future__ import annotations

import re
from html import escape

from qa.read.answer import UNSURE

SHORT_QUOTE_CHARS = 200  # of each further citation's quote shown in the chat; the rest expands


def where(citation: dict) -> str:
    """Where a citation points, for a reader: file, paragraph, page (and whether OCR read its text
    from a scan) and section heading."""
    page = f", page {citation['page']}" if citation.get("page") else ""
    page += " (read by OCR)" if citation.get("ocr") else ""
    heading = f" · {citation['heading']}" if citation.get("heading") else ""
    return f"{citation['source']}, ¶{citation['paragraph']}{page}{heading}"


def citation_label(citation: dict, abstained: bool) -> str:
    nearest = " (nearest passage, not an answer)" if abstained else ""
    return f"[{citation['n']}] {citation['title']} — {where(citation)}{nearest}"


def question_html(question: str) -> str:
    # One HTML block with no blank line: the chat's Markdown renderer leaves its inside alone.
    return f'<div class="qa-question">{escape(" ".join(question.split()) or "(empty question)")}</div>'


def answer_html(answer: dict) -> str:
    """The chat message for an answer: quotes with [n] markers, then the numbered citations."""
    if answer.get("error"):
        return f'<div class="qa-error">{escape(answer["error"])}</div>'
    parts = ['<div class="qa-answer">']
    if answer["abstained"]:
        parts.append(f'<p class="qa-abstain">{escape(answer["message"] or "")}</p>')
        if answer["citations"]:
            parts.append('<p class="qa-note">Nearest passages — <b>not an answer</b>:</p>')
    else:
        if answer.get("unsure"):
            parts.append(f'<p class="qa-unsure">{escape(UNSURE)}</p>')
        by_n = {c["n"]: c for c in answer["citations"]}
        for quote in answer["answer"]:
            parts.append(f'<blockquote class="qa-quote">“{_marked(quote["quote"], by_n.get(quote["citation"]))}” '
                         f'<sup class="qa-marker">[{quote["citation"]}]</sup></blockquote>')
    if answer["citations"]:
        # The right answer is often citation 2 or 3: each citation not quoted above shows its quote.
        quoted = set() if answer["abstained"] else {q["citation"] for q in answer["answer"]}
        parts.append('<ol class="qa-citations">')
        for c in answer["citations"]:
            excerpt = "" if c["n"] in quoted else f" — {citation_quote_html(c)}"
            parts.append(f'<li value="{int(c["n"])}"><b>{escape(c["title"])}</b> · '
                         f'<code>{escape(where(c))}</code>{excerpt}</li>')
        parts.append("</ol>")
    parts.append("</div>")
    return "".join(parts)


def citation_quote_html(citation: dict) -> str:
    """A citation's quote for the chat, its answer words in bold: whole when short, else its first
    ~SHORT_QUOTE_CHARS characters, with the whole quote in an expandable <details>."""
    quote = citation["quote"]
    flat = " ".join(quote.split())
    if len(flat) <= SHORT_QUOTE_CHARS:
        return f'<span class="qa-excerpt">“{_marked(quote, citation)}”</span>'
    cut = flat.rfind(" ", 0, SHORT_QUOTE_CHARS)  # end at a word
    short = flat[:cut if cut > SHORT_QUOTE_CHARS // 2 else SHORT_QUOTE_CHARS]
    return (f'<details class="qa-excerpt"><summary><span class="qa-short">“{escape(short)} …”</span></summary>'
            f'“{_marked(quote, citation)}”</details>')


def searched_for_html(answer: dict) -> str:
    """The line under a follow-up's answer that says what was searched for (nothing otherwise)."""
    if not answer.get("searched_for"):
        return ""
    return f'<div class="qa-searched-for">searched for: {_inline(answer["searched_for"])}</div>'


def _inline(text: str) -> str:
    # Line breaks inside a quote would end the chat's HTML block; HTML shows them as spaces anyway.
    return escape(" ".join(text.split()))


def _marked(quote: str, citation: dict | None) -> str:
    """A quote with the words that answer (its citation's answer span) in bold."""
    if not citation or citation.get("quote") != quote or "answer_start" not in citation:
        return _inline(quote)
    start = citation["start"]
    a, b = citation["answer_start"] - start, citation["answer_end"] - start
    flat = [escape(re.sub(r"\s+", " ", part)) for part in (quote[:a], quote[a:b], quote[b:])]
    return f'{flat[0]}<b class="qa-answer-words">{flat[1]}</b>{flat[2]}'
