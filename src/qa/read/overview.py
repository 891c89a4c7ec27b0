"""Questions about the documents themselves: "What is this article about?", "Summarise it".

Such a question names nothing to search for, and no sentence answers it the way a sentence answers
"Who confirmed it?": the reader would quote whatever scores best (or nothing). What a newcomer
wants is how each document opens, so that is quoted, verbatim: its first statement paragraph
after the headline, the photo caption, the credit and the date (`opening`). The documents are
those the search finds, in its order: after a question about one of them ("What is it about?"
as a follow-up searches with the conversation's names) that one first.
"""

from __future__ import annotations

import re

from qa.ingest.chunking import sentence_spans
from qa.ingest.documents import Document
from qa.read.layout import is_label_line, is_non_answer, is_question

_DOCUMENT = r"(?:article|document|text|story|piece|report|paper|file|source|page|post|essay|book|news|collection)s?"
_WHICH = r"(?:this|the|these|those|that|my|your|it|they|them)"
# The whole question must be one of these: "What is the article about the fire?" asks something else.
_OVERVIEW = re.compile(rf"""
    (?:so|and|ok(?:ay)?|hi|hello)?[\s,]*
    (?:
        what(?:'s|’s|\s+is|\s+are|\s+was|\s+were)\s+{_WHICH}(?:\s+{_DOCUMENT})?\s+(?:all\s+)?about
      | (?:(?:can|could)\s+you\s+)?(?:please\s+)?(?:summari[sz]e|sum\s+up|give\s+(?:me\s+)?(?:a|an|the)\s+
        (?:short\s+|quick\s+|brief\s+)?(?:summary|overview|gist))(?:\s+(?:of\s+)?{_WHICH}(?:\s+{_DOCUMENT})?)?
        (?:\s+for\s+me)?(?:\s+please)?
      | what(?:'s|’s|\s+is|\s+are)\s+the\s+(?:gist|summary|topic|main\s+(?:point|idea|topic|story)s?)
        (?:\s+of\s+{_WHICH}(?:\s+{_DOCUMENT})?)?
      | tl;?\s*dr
    )
    [\s?.!]*""", re.IGNORECASE | re.VERBOSE)
FRONT_PARAGRAPHS = 6  # a headline, caption, credit, byline and date all come within this many paragraphs
MAX_OPENING_CHARS = 600  # an opening quote stops before it grows past this (as an explanation's run does)


def asks_for_overview(question: str) -> bool:
    """Whether `question` asks what the documents are about, and nothing else."""
    return _OVERVIEW.fullmatch(" ".join(question.split())) is not None


def opening(document: Document, max_sentences: int = 3) -> tuple[int, int] | None:
    """The span of how `document` opens: up to `max_sentences` sentences (at most MAX_OPENING_CHARS)
    of its first paragraph that states something, after its front matter; None when nothing does.

    The front matter runs through the last label line (a credit, byline or date; not a question
    or heading, which open sections) among the first FRONT_PARAGRAPHS paragraphs: a photo caption
    before a credit is front matter too, though it reads as a statement."""
    text, paragraphs = document.text, document.paragraphs
    front = 0
    for number, (start, end) in enumerate(paragraphs[:FRONT_PARAGRAPHS], start=1):
        if (is_label_line(document, start, end) and not is_question(text[start:end])
                and not document.is_heading(start, end)):
            front = number
    for start, end in paragraphs[front:] + paragraphs[:front]:
        spans = [(start + a, start + b) for a, b in sentence_spans(text[start:end])]
        stated = [(a, b) for a, b in spans if not is_non_answer(document, a, b)]
        if not stated:
            continue
        first = stated[0][0]
        last = stated[0][1]
        for a, b in spans[spans.index(stated[0]) + 1:][:max_sentences - 1]:
            if is_non_answer(document, a, b) or b - first > MAX_OPENING_CHARS:
                break
            last = b
        return first, last
    return None
