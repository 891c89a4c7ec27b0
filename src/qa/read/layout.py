"""Where a sentence stands in its document: lines that only label (titles, headings, bylines, dates,
photo credits), questions the text itself asks, and the question a section answers.

None of these is an answer; a question heading ("What could the U.S. do about it?", an FAQ entry)
tells instead where the answer is: in the paragraphs under it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from qa.index.lexical import STOPWORDS
from qa.ingest.chunking import sentence_spans
from qa.ingest.documents import Document

MAX_LABEL_WORDS = 20  # a line this short with no closing punctuation labels; it does not state
MAX_TITLE_WORDS = 40  # a document's first line labels up to this long: headlines run longer than bylines
SECTION_PARAGRAPHS = 12  # how far under a question heading its answer may still be
ECHO_MIN_WORDS = 6  # shorter sentences share most of their words with any question on topic
ECHO_SHARE = 0.9  # a sentence this much made of the question's own words adds nothing to it
FRONT_BLOCK_LINES = 6  # headline, caption, credit, date… typed as one block of lines, no blank line between
MAX_LEAD_LABEL_WORDS = 8  # "Why We Wrote This", "Key Points": a label typed above its text
MAX_ASIDE_WORDS = 20  # a teaser for another article is a headline and a line under it, this short
ASIDE_SHARE = 0.3  # below this share of its words found elsewhere, a short paragraph is off its document's topic
MIN_ASIDE_DOCUMENT_WORDS = 400  # in a shorter document (a small FAQ) every short paragraph's words are new
_WORDS = re.compile(r"\w+")
_VISIBLE = re.compile(r"\S")
_LINE_BREAK = re.compile(r"[ \t\r]*\n[ \t]*")
_CLOSERS = "\"'”’»)]*_ \t"
_STATEMENT_ENDS = ".!…;:。！"


def is_question(sentence: str) -> bool:
    """Whether the sentence asks: it ends with a question mark (closing quotes aside)."""
    return sentence.rstrip(_CLOSERS).endswith(("?", "？"))


def introduces(sentence: str) -> bool:
    """Whether the sentence ends with a colon: what it introduces follows ("… one adult for every:")."""
    return sentence.rstrip(_CLOSERS).endswith(":")


def is_label_line(document: Document, start: int, end: int, max_words: int = MAX_LABEL_WORDS) -> bool:
    """Whether text[start:end] is a paragraph of one line, of at most `max_words` words, that does
    not end like a statement: a title, heading, byline, date or credit in a plain-text document.
    A line of a hard-wrapped paragraph is not one; table rows (" | ") and list items state things."""
    first, last = _unit(document, start)
    return _is_label(document.text, first, last, start, end, max_words)


def is_label_above(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is a line that only labels the text typed under it, with no blank
    line between ("Why We Wrote This" / "A small village has spent …"): at a line's start, at
    most MAX_LEAD_LABEL_WORDS words in title case, no closing punctuation, the next line opening
    in upper case. A hard-wrapped sentence's first line is longer or not in title case."""
    below = _LINE_BREAK.match(text, end)  # matched in place: this runs for every candidate sentence
    before = start
    while before > 0 and text[before - 1] in " \t":
        before -= 1
    if below is None or below.end() >= len(text) or (before > 0 and text[before - 1] != "\n"):
        return False
    words = text[start:end].split()
    return (1 <= len(words) <= MAX_LEAD_LABEL_WORDS and text[below.end()].isupper()
            and words[-1].rstrip(_CLOSERS)[-1:] not in _STATEMENT_ENDS + "?,"
            and all(word[0].isupper() or word[0].isdigit() for word in words if len(word) > 3))


def _front_block(document: Document, offset: int) -> list[tuple[int, int]] | None:
    """The lines of the paragraph holding `offset` when it is the document's first and reads as
    front matter typed line under line (headline, caption, credit, date): 2 to FRONT_BLOCK_LINES
    lines, none opening in lower case, as a hard-wrapped sentence's next line would."""
    paragraphs = document.paragraphs
    if not paragraphs or len(paragraphs) > 1 and offset >= paragraphs[1][0]:
        return None
    text, (start, last) = document.text, paragraphs[0]
    lines = []
    while start < last and len(lines) <= FRONT_BLOCK_LINES:  # a long paragraph is not read through
        end = text.find("\n", start, last)
        end = last if end < 0 else end
        line = text[start:end]
        if line.strip():
            lines.append((start + len(line) - len(line.lstrip()), start + len(line.rstrip())))
        start = end + 1
    if not 2 <= len(lines) <= FRONT_BLOCK_LINES or any(text[s].islower() for s, _ in lines):
        return None
    return lines


def _unit(document: Document, offset: int) -> tuple[int, int]:
    """The paragraph holding `offset`, or its line in a front-matter block (`_front_block`)."""
    if lines := _front_block(document, offset):
        return next(((s, e) for s, e in lines if offset <= e), lines[-1])
    return document.paragraphs[document.paragraph_at(offset) - 1]


def _next_unit(document: Document, offset: int) -> tuple[int, int] | None:
    """The paragraph, or front-matter line, after the one holding `offset`; None after the last."""
    lines = _front_block(document, offset) or []
    after = [(s, e) for s, e in lines if s > offset]
    if after:
        return after[0]
    number = document.paragraph_at(offset)
    return document.paragraphs[number] if number < len(document.paragraphs) else None


def _is_label(text: str, first: int, last: int, start: int, end: int, max_words: int) -> bool:
    # (first, last): the paragraph that holds text[start:end].
    if text[first:start].strip() or text[end:last].strip() or "\n" in text[first:last]:
        return False
    line = text[start:end].strip()
    if not line or " | " in line or line[0] in "-*•·–" or len(line.split()) > max_words:
        return False
    return not line.rstrip(_CLOSERS).endswith(tuple(_STATEMENT_ENDS))


# A photo credit: "Ahn Young-joon/AP" (a name of two to four capitalised words, then the agency's),
# "AP Photo/Ahn Young-joon", "Photo: Jo Lindqvist", "Getty Images".
_NAME_CREDIT = re.compile(r"(?:[A-Z][\w.'’-]*\s+){1,3}[A-Z][\w.'’-]*"  # the photographer
                          r"\s?/\s?[A-Z][\w&.'’-]*(?:\s+[A-Z&][\w&.'’-]*){0,3}")  # the agency or paper
_WORD_CREDIT = re.compile(r"(?:photo(?:graph)?|image|illustration|credit|courtesy|file photo)s?\b.*"
                          r"|.*\b(?:getty images|reuters|ap photo|afp|shutterstock)\b.*", re.IGNORECASE)


# A credit closing its caption's own line: "… since last winter. Photo: Ellen Marsh", "… Photograph:
# Jo Lindqvist/Harwick Herald".
_CREDIT_AT_END = re.compile(r"(?:^|(?<=[.!?”\"')\]])\s+)\(?(?:photo(?:graph)?|picture|image|illustration)s?\s*"
                            r"(?:credit)?\s*:\s*[^.!?:]{2,60}\)?\s*$", re.IGNORECASE | re.MULTILINE)


def is_caption(document: Document, start: int, end: int) -> bool:
    """Whether text[start:end] lies in a photo caption: a paragraph of one line right before a
    credit line ("Ahn Young-joon/AP"), or one that ends with its credit ("… Photo: Ellen Marsh").
    It describes a picture, not what the text reports."""
    first, last = _unit(document, start)
    credit = _next_unit(document, start)
    if "\n" in document.text[first:last].strip():
        return False
    if _CREDIT_AT_END.search(document.text, first, last):
        return True
    if credit is None:
        return False
    credit_start, credit_end = credit
    return (is_label_line(document, credit_start, credit_end)
            and any(credit.fullmatch(document.text[credit_start:credit_end].strip())
                    for credit in (_NAME_CREDIT, _WORD_CREDIT)))


def is_aside(document: Document, start: int, end: int) -> bool:
    """Whether text[start:end] lies in a teaser for another article, left in a page's text between
    two paragraphs ("Elon Musk is spending big to boost Trump's turnout. Republicans worry it might
    flop."): a paragraph of one line, not the first or the last nor right under a heading or label
    line, of two or more sentences and at most MAX_ASIDE_WORDS words, few of whose words (under
    ASIDE_SHARE) the rest of a document of MIN_ASIDE_DOCUMENT_WORDS words or more uses. A
    one-sentence paragraph of a news story is often as short and as new ("Anyone caught breaking
    the ban can be fined up to £1,000."), so one sentence never counts; the paragraph under a
    heading answers it."""
    first, last = _unit(document, start)
    paragraph = document.text[first:last].strip()
    number = document.paragraph_at(first)
    if (number < 2 or number >= len(document.paragraphs) or "\n" in paragraph
            or len(paragraph.split()) > MAX_ASIDE_WORDS
            or not paragraph.rstrip(_CLOSERS).endswith(tuple(_STATEMENT_ENDS)) or len(sentence_spans(paragraph)) < 2):
        return False
    before_start, before_end = document.paragraphs[number - 2]
    if document.is_heading(before_start, before_end) or is_label_line(document, before_start, before_end):
        return False
    keys = {word[:5] for word in _WORDS.findall(paragraph.lower())
            if len(word) > 2 and word not in STOPWORDS and not word.isdigit()}
    lowered, words = _read_once(document.text)
    if not keys or words < MIN_ASIDE_DOCUMENT_WORDS:
        return False
    own = paragraph.lower()
    elsewhere = sum(lowered.count(key) > own.count(key) for key in keys)
    return elsewhere < ASIDE_SHARE * len(keys)


@lru_cache(maxsize=16)
def _read_once(text: str) -> tuple[str, int]:
    """A document lower-cased and its number of words: once, as asides are looked for at every question."""
    return text.lower(), len(text.split())


def is_non_answer(document: Document, start: int, end: int) -> bool:
    """A heading, a label line, a question, a photo caption or a teaser for another article (`is_aside`):
    text a quote must never be. The document's first line is a label up to MAX_TITLE_WORDS long: a
    headline runs longer than a byline."""
    text = document.text
    if (document.is_heading(start, end) or is_question(text[start:end]) or is_caption(document, start, end)
            or is_label_above(text, start, end) or is_aside(document, start, end)):
        return True
    visible = _VISIBLE.search(text)
    first_line = visible is not None and visible.start() == start
    return is_label_line(document, start, end, MAX_TITLE_WORDS if first_line else MAX_LABEL_WORDS)


# "This guide explains who can register, what to bring …": a sentence about the document itself.
_ABOUT_DOCUMENT = re.compile(
    r"[\"“]?(?:this|these|the following)\s+(?:\w+\s+){0,2}?(?:page|guide|guidance|policy|document|leaflet|"
    r"booklet|faqs?|factsheet|fact sheet|section|notice|website|site|handbook|article|report|statement|"
    r"questions and answers|q&a)s?\b[^.;:]{0,60}?\b(?:explains?|describes?|sets? out|answers?|"
    r"tells? you|outlines?|summari[sz]es?|lists?|gives? (?:you )?(?:information|details|guidance|answers)|"
    r"provides? (?:information|details|guidance))\b",
    re.IGNORECASE)


def describes_document(sentence: str) -> bool:
    """Whether the sentence says what its document covers ("This policy explains when you can
    claim …"): it shares the words of every question on its topic and answers none of them."""
    return bool(_ABOUT_DOCUMENT.match(sentence.lstrip()))


def echoes_question(question: str, sentence: str) -> bool:
    """Whether the sentence only repeats the question: nearly all of its words (of six or more)
    are in the question, as when a question opens with a lead taken from the document."""
    words = _WORDS.findall(sentence.lower())
    if len(words) < ECHO_MIN_WORDS:
        return False
    asked = set(_WORDS.findall(question.lower()))
    return sum(word in asked for word in words) >= ECHO_SHARE * len(words)


def section_question(document: Document, start: int) -> tuple[int, int] | None:
    """The span of the question heading whose section holds `start`: the nearest paragraph before
    it that is a label line or heading and asks a question, with no other heading between, within
    SECTION_PARAGRAPHS paragraphs; None when the section is not opened by a question."""
    number = document.paragraph_at(start) - 1
    for s, e in reversed(document.paragraphs[max(0, number - SECTION_PARAGRAPHS):number + 1]):
        if s < start and (document.is_heading(s, e) or _is_label(document.text, s, e, s, e, MAX_LABEL_WORDS)):
            return (s, e) if is_question(document.text[s:e]) else None
        first_line = document.text.find("\n", s, min(e, start))
        asked = document.text[s:first_line] if first_line > 0 else ""
        if is_question(asked) and len(asked.split()) <= MAX_LABEL_WORDS:
            return s, first_line  # "Q: …?" on its paragraph's first line, the answer below it
    return None


# A dash or semicolon between questions, or "and" before a question word, joins two questions.
_JOINED = re.compile(r"\s+[–—]\s+(?:and\s+)?|\s*;\s*(?:and\s+)?|,?\s+and\s+(?=(?:what|how|why|when|where|who|which)\b)",
                     re.IGNORECASE)
MIN_PART_WORDS = 4  # a shorter piece of a heading is a phrase, not a question of its own
# What marks a line as a heading or an FAQ entry, not what it asks: "## ", "Q: ", "3. ", "**…**".
_MARKUP = re.compile(r"^(?:\s*(?:#{1,6}\s+|Q\s*[:.]\s*|\d{1,3}[.)]\s+|\*\*|__))+|(?:\*\*|__)\s*$")


def question_parts(heading: str) -> list[str]:
    """The heading and, when it joins several questions ("What are the implications – and what might
    they do about it?"), each of them: a user's question may ask only one."""
    heading = _MARKUP.sub("", heading).strip()
    parts = [part.strip(" ,;–—") for part in _JOINED.split(heading)]
    return [heading] + [part for part in parts if part != heading and len(part.split()) >= MIN_PART_WORDS]

