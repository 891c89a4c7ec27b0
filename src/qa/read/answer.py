"""Extractive answers: the sentences of the retrieved passages that answer a question, cited.

Every sentence of the best passages is read by the reader (qa.read.reader), which scores how likely it
answers the question and marks the words that do. Nothing here writes text: every quote is
`document.text[start:end]` of a source document, and every answer span lies inside its quote.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.ingest.chunking import Chunk, sentence_spans
from qa.config import Settings
from qa.index.lexical import STOPWORDS
from qa.read.conversation import AUXILIARIES, QUESTION_WORDS, REFERRING
from qa.read.layout import (describes_document, echoes_question, introduces, is_non_answer, is_question,
                             question_parts, section_question)
from qa.read.overview import asks_for_overview, opening
from qa.read.nationalities import country_conflict
from qa.read.qualifiers import conflict, missing_name, missing_speaker
from qa.read.reader import MODEL_DIR, Reader, content_keys, preceding_context, word_overlap
from qa.read.unknown_names import check_names, misspelt_words, names_not_in, respell
from qa.retrieve import Hit, Retriever, reciprocal_rank_fusion, text_sha256

NO_ANSWER = "The sources do not answer this question."
UNSURE = "Not sure this answers the question: check the citation."  # shown with an unsure answer


class BadQuestion(ValueError):
    """A question that cannot be searched; the message says what is wrong."""


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    paragraph: int
    page: int | None
    start: int  # of the quote, in the document's text
    end: int
    quote: str
    passage: str
    passage_start: int
    passage_end: int
    score: float
    answer_start: int  # the words that answer, in the document's text, inside [start, end)
    answer_end: int
    text_sha256: str = ""  # of the document's extracted text, which start/end index (`qa show`)
    heading: str = ""  # the nearest heading at or before the quote, when the document has headings
    # PDF citations only (None for other documents, whose JSON leaves them out): the rectangles
    # [x0, y0, x1, y1] the quote and its answer words are drawn in on `page`, one a line, in PDF
    # points from the page's top-left corner (qa.ingest.pdf); the pages after `page` that a quote
    # running onto them is drawn on; or, instead, why the file cannot show them (`boxes_note`).
    boxes: tuple[tuple[float, float, float, float], ...] | None = None
    answer_boxes: tuple[tuple[float, float, float, float], ...] | None = None
    continued_on: tuple | None = None  # of qa.ingest.pdf_quotes.PageRegion: page, boxes, answer_boxes
    boxes_note: str | None = None
    # PDF citations: whether the quote's text was read by OCR from a scanned page (Settings.ocr),
    # so it may hold OCR's mistakes; None when the file cannot be read again (`boxes_note`).
    ocr: bool | None = None

    @property
    def answer(self) -> str:
        """The words that answer: `document.text[answer_start:answer_end]`."""
        return self.quote[self.answer_start - self.start:self.answer_end - self.start]

    def as_dict(self) -> dict:
        """The citation as JSON; one from a document other than a PDF has no page-region fields."""
        shown = asdict(self)
        if self.boxes is None and self.boxes_note is None:
            for name in PAGE_REGION_FIELDS:
                del shown[name]
        return shown

    def marked(self, before: str = "**", after: str = "**") -> str:
        """The quote with its answer words between `before` and `after` (for display only)."""
        a, b = self.answer_start - self.start, self.answer_end - self.start
        return f"{self.quote[:a]}{before}{self.quote[a:b]}{after}{self.quote[b:]}"


PAGE_REGION_FIELDS = ("boxes", "answer_boxes", "continued_on", "boxes_note", "ocr")


@dataclass(frozen=True)
class Quote:
    quote: str
    citation: int  # the n of the citation it comes from


@dataclass(frozen=True)
class Answer:
    question: str
    abstained: bool
    quotes: tuple[Quote, ...]
    citations: tuple[Citation, ...]  # when abstaining: the nearest passages, not an answer
    mode: str
    message: str | None = None  # why there is no answer
    error: str | None = None  # what is wrong with the question, when it cannot be searched
    hits: tuple[Hit, ...] = ()
    searched_for: str | None = None  # what retrieval was given, when not the question (a follow-up)
    unsure: bool = False  # answered, but scored where most near misses score (unsure_threshold)

    @property
    def text(self) -> str:
        """The answer as a reader sees it: quotes with their [n] markers, or the message."""
        if self.abstained:
            return self.message or NO_ANSWER
        return " ".join(f"“{q.quote}” [{q.citation}]" for q in self.quotes)

    def as_dict(self) -> dict:
        shown = {"question": self.question, "abstained": self.abstained,
                 "answer": [{"quote": q.quote, "citation": q.citation} for q in self.quotes],
                 "citations": [c.as_dict() for c in self.citations], "mode": self.mode,
                 "message": self.message, "error": self.error}
        if self.searched_for:  # only for a follow-up whose search carried words of the one before
            shown["searched_for"] = self.searched_for
        if self.unsure:  # only for an answer the reader is unsure of
            shown["unsure"] = True
        return shown


def check_question(question: str | None, settings: Settings) -> str:
    """The question with control characters and runs of white space folded, or BadQuestion."""
    if question is None or not question.strip():
        raise BadQuestion("The question is empty: type a question about your documents.")
    cleaned = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in question)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > settings.max_question_chars:
        raise BadQuestion(f"The question is {len(cleaned):,} characters long; ask in at most "
                          f"{settings.max_question_chars:,} characters.")
    if not any(ch.isalnum() for ch in cleaned):
        raise BadQuestion("The question has no words in it: ask with words, not only punctuation or symbols.")
    return cleaned


@dataclass(frozen=True)
class ScoredSentence:
    hit: Hit
    start: int  # in the document's text
    end: int
    score: float  # the combined probability that the sentence answers the question (qa.read.reader.combine)
    answer_start: int  # the reader's answer span, in the document's text, inside [start, end)
    answer_end: int
    reader_score: float = 0.0  # the reader's own probability, before combination


def answer_question(retriever: Retriever, question: str, mode: str | None = None,
                    k: int | None = None, reader: Reader | None = None,
                    search_query: str | None = None, typed: str | None = None) -> Answer:
    """Quote the sentences that best answer `question`, or abstain; never raises on bad input.
    `search_query`, when given, is what retrieval searches for instead (see qa.read.conversation);
    `typed`, what the user typed when `question` adds a conversation's words to it: only its
    names are looked up (a name carried from an earlier question was looked up then)."""
    settings = retriever.settings
    mode, k = mode or settings.mode, k or settings.k
    try:
        question = check_question(question, settings)
    except BadQuestion as error:
        return Answer(question=question or "", abstained=True, quotes=(), citations=(), mode=mode,
                      message=str(error), error=str(error))
    reader = reader or shared_reader(settings.reader_dir)
    query = " ".join(search_query.split()) if search_query else question
    searched_for = query if query != question else None
    # After a lead, the reader reads only what is asked; retrieval searches with both.
    asked = asked_part(question)
    hits = searched(retriever, query, asked if asked != query else None, mode, max(k, settings.answer_passages))
    if not hits:
        return Answer(question, True, (), (), mode, message=NO_ANSWER, searched_for=searched_for)
    if asks_for_overview(typed or question):
        return overview_answer(retriever, question, hits, mode, k, searched_for)
    known = retriever.backend.knows_word
    passages = [hit.chunk.text for hit in hits]
    missing, respelt = check_names(typed or question, known, passages)
    respelt = {word: spelling for word, spelling in respelt.items() if known(spelling)}
    respelt |= misspelt_words(typed or question, known, passages, reader.knows_word)
    # A name or word typed a little differently from the documents ("Zelenskiy" for "Zelenskyy",
    # "levvy", "doesnt") is asked again in their spelling, which search and the reader match; the
    # answer says what it searched. Before reading: these passages were found for the other spelling.
    if not missing and respelt and respell(question, respelt) != question:
        again = answer_question(retriever, respell(question, respelt), mode, k, reader,
                                respell(query, respelt), respell(typed, respelt) if typed else None)
        return replace(again, question=question, searched_for=again.searched_for or respell(query, respelt))
    sentences = read_sentences(reader, retriever, asked, hits)
    ranked = [introduced(s, retriever) or widened(s, retriever, asked) for s in _one_per_passage(sentences)[:k]]
    if not ranked:  # the passages were headings only
        return Answer(question, True, (), (), mode, message=NO_ANSWER, hits=tuple(hits))
    citations = tuple(_citation(n, s, retriever) for n, s in enumerate(ranked, start=1))
    best = ranked[0]
    # A name the index never holds, in what is asked or in its lead: whatever the nearest passages
    # say, the question is about something else.
    if missing:
        names = ", ".join(f"“{name}”" for name in missing)
        return Answer(question, True, (), citations, mode, hits=tuple(hits), searched_for=searched_for,
                      message=f"{NO_ANSWER[:-1]}: they never mention {names}.")
    if _evidence(best, reader) < abstain_threshold(settings, reader, asked):
        return Answer(question, True, (), citations, mode, message=NO_ANSWER, hits=tuple(hits),
                      searched_for=searched_for)
    # A passage that shares not one word with what is asked ("how do I descale a kettle" against a
    # how-to's steps) is about something else, however the reader scored its sentence.
    if shares_no_word(asked, best, retriever):
        return Answer(question, True, (), citations, mode, hits=tuple(hits), searched_for=searched_for,
                      message=f"{NO_ANSWER[:-1]}: the nearest passage [1] shares no word with the question.")
    # However well the reader scored it, a quote that names another year, number or day than the
    # question, or not the person it asks about, does not answer it. (Reading the next sentence
    # instead lost near misses on the dev set.)
    if mismatch := sentence_conflict(asked, best, retriever, typed):
        return Answer(question, True, (), citations, mode, hits=tuple(hits), searched_for=searched_for,
                      message=f"{NO_ANSWER[:-1]}: the nearest passage [1] {mismatch}.")
    # A name asked about that the quote's document never holds: the index has it, elsewhere.
    same = [hit.chunk.text for hit in hits if hit.chunk.source == best.hit.chunk.source]
    if absent := names_not_in(typed or question, _document_text(best, retriever), same):
        names = ", ".join(f"“{name}”" for name in absent)
        return Answer(question, True, (), citations, mode, hits=tuple(hits), searched_for=searched_for,
                      message=f"{NO_ANSWER[:-1]}: the document of the nearest passage [1] never mentions {names}.")
    quotes = [Quote(citations[0].quote, 1)]
    # A second passage that scores nearly as well is quoted too: answers often span sources.
    for n, sentence in enumerate(ranked[1:3], start=2):
        if sentence.score >= best.score - settings.second_quote_margin:
            quotes.append(Quote(citations[n - 1].quote, n))
    return Answer(question, False, tuple(quotes), citations, mode, hits=tuple(hits), searched_for=searched_for,
                  unsure=bool(_evidence(best, reader) < unsure_threshold(settings, reader, asked)))


def overview_answer(retriever: Retriever, question: str, hits: list[Hit], mode: str, k: int,
                    searched_for: str | None) -> Answer:
    """What the documents are about (qa.read.overview): how each document the hits come from opens,
    in their order, the first three quoted; no words are marked as the answer."""
    openings, sources = [], set()
    for hit in hits:
        if len(openings) == k:
            break
        if hit.chunk.source in sources:
            continue
        sources.add(hit.chunk.source)
        document = retriever.backend.document_by_source(hit.chunk.source)
        if span := opening(document, retriever.settings.max_quote_sentences):
            first, last = document.paragraphs[document.paragraph_at(span[0]) - 1]
            chunk = Chunk(hit.chunk.source, first, last, document.text[first:last], document.paragraph_at(first),
                          document.page_at(first))
            shown = replace(hit, chunk=chunk, rank=len(openings) + 1)
            openings.append(ScoredSentence(shown, span[0], span[1], hit.score, span[0], span[0]))
    if not openings:
        return Answer(question, True, (), (), mode, message=NO_ANSWER, hits=tuple(hits), searched_for=searched_for)
    citations = tuple(_citation(n, s, retriever) for n, s in enumerate(openings, start=1))
    quotes = tuple(Quote(c.quote, c.n) for c in citations[:3])
    return Answer(question, False, quotes, citations, mode, hits=tuple(hits), searched_for=searched_for)


def searched(retriever: Retriever, query: str, asked: str | None, mode: str, n: int) -> list[Hit]:
    """The `n` passages to read. For a question after a lead (`asked` its last sentence), those found
    for the whole question and those found for what it asks, merged by reciprocal rank: the lead's
    words alone pull the search toward where the story is told, not where the answer is."""
    hits = retriever.search(query, mode, n)
    if not asked:
        return hits
    both = [hits, retriever.search(asked, mode, n)]
    key = {(h.chunk.source, h.chunk.start): h for ranking in reversed(both) for h in ranking}
    ids = {chunk: i for i, chunk in enumerate(key)}
    fused = reciprocal_rank_fusion([[ids[(h.chunk.source, h.chunk.start)] for h in ranking] for ranking in both],
                                   retriever.settings.rrf_k)
    order = sorted(fused, key=lambda i: -fused[i])[:n]
    chunks = list(key)
    return [replace(key[chunks[i]], rank=rank, score=fused[i]) for rank, i in enumerate(order, start=1)]


def _evidence(sentence: ScoredSentence, reader: Reader) -> float:
    """What abstention compares with its threshold: the reader's own score or the combined one."""
    return sentence.reader_score if reader.card.get("abstain_on") == "reader" else sentence.score


def _document_text(sentence: ScoredSentence, retriever: Retriever) -> str:
    return retriever.backend.document_by_source(sentence.hit.chunk.source).text


def shares_no_word(question: str, sentence: ScoredSentence, retriever: Retriever) -> bool:
    """Whether the question has content words and its passage, the passage's heading and its
    document's title hold none of them (stems of four letters, as the reader's `word_overlap`)."""
    asked = content_keys(question)
    if not asked:
        return False
    document = retriever.backend.document_by_source(sentence.hit.chunk.source)
    around = f"{sentence.hit.title}\n{document.heading_at(sentence.start)}\n{sentence.hit.chunk.text}"
    return not asked & content_keys(around)


def sentence_conflict(question: str, sentence: ScoredSentence, retriever: Retriever,
                      typed: str | None = None) -> str | None:
    """Why a sentence cannot answer though the reader may score it well (qa.read.qualifiers): the
    question names a year, number, day… the sentence and the words before it in its paragraph, its
    heading and its title do not hold, and the sentence gives another; it lacks the kind asked; or
    its passage, heading and title never name the titled person asked about, or the one whose words
    are asked for (in `typed`, what the user typed, when the question carries a conversation's words)."""
    chunk = sentence.hit.chunk
    document = retriever.backend.document_by_source(chunk.source)
    quote = document.text[sentence.start:sentence.end]
    paragraph_start = document.paragraphs[document.paragraph_at(sentence.start) - 1][0]
    before = document.text[max(chunk.start, paragraph_start):sentence.start]
    context = f"{sentence.hit.title}\n{document.heading_at(sentence.start)}"
    # Names, numbers and years are the user's own: one carried from the question before is not asked.
    asked = asked_part(typed) if typed else question
    # A person named in the passage is often "he" or "the mayor" in the paragraphs after.
    if name := missing_name(asked, quote, f"{context}\n{chunk.text}"):
        return f"never names {name}"
    # Whose words are asked for ("What did the deputy council leader say …") is named in the passage.
    if speaker := missing_speaker(asked, f"{context}\n{chunk.text}\n{quote}"):
        return f"never names “{speaker}”"
    if clash := country_conflict(asked, quote, sentence.answer_start - sentence.start,
                                 sentence.answer_end - sentence.start):
        return clash
    return conflict(asked, quote, context, before)


def widened(sentence: ScoredSentence, retriever: Retriever, question: str) -> ScoredSentence:
    """For a question that asks for an explanation (why, how, what it means, what can be done)
    or yes or no (`asks_beyond_facts`), the sentence with its neighbours, up to
    `max_quote_sentences` in a row: those after it first (what follows a claim explains or
    qualifies it: "… opened a Friday program. It costs $18 a day"; the next paragraph's first when
    the sentence ends its own), then those before it in its paragraph; a factoid question's answer
    stays one sentence. The run stays inside the passage, which the citation shows, and stops at a
    heading."""
    limit = retriever.settings.max_quote_sentences
    if limit <= 1 or not asks_beyond_facts(question):
        return sentence
    chunk = sentence.hit.chunk
    document = retriever.backend.document_by_source(chunk.source)
    first, last = document.paragraphs[document.paragraph_at(sentence.start) - 1]
    first, last = max(first, chunk.start), min(last, chunk.end)
    spans = [(first + s, first + e) for s, e in sentence_spans(document.text[first:last])]
    # A sentence that ends its paragraph (news paragraphs are often one sentence) takes in the next
    # one's first: "… a visitor levy of £2 a night." / "The council says the levy was needed because …";
    # only one, so that the sentences before it in its paragraph still have room.
    after = ([(s, e) for s, e in spans if s >= sentence.end]
             or sentence_spans(document.text, sentence.end, chunk.end)[:1])
    before = [(s, e) for s, e in reversed(spans) if e <= sentence.start]
    start, end, taken = sentence.start, sentence.end, 1
    stops = lambda s, e: is_non_answer(document, s, e) or describes_document(document.text[s:e])  # noqa: E731
    for s, e in after[:limit - 1]:
        if stops(s, e) or e - start > MAX_QUOTE_CHARS:
            break
        end, taken = e, taken + 1
    for s, e in before[:limit - taken]:
        if stops(s, e) or end - s > MAX_QUOTE_CHARS:
            break
        start = s
    return replace(sentence, start=start, end=end)


def introduced(sentence: ScoredSentence, retriever: Retriever) -> ScoredSentence | None:
    """A sentence that ends with a colon ("We ask schools to bring one adult for every:") with what
    it introduces, or None when it does not: the list items after it, into the next paragraphs,
    while they are items ("- ", "1. "), or up to `max_quote_sentences` sentences of another kind
    (an HTML list's items are paragraphs of their own), as long as the quote stays inside the passage
    and MAX_QUOTE_CHARS. Whatever the question, such a sentence alone says nothing."""
    chunk = sentence.hit.chunk
    document = retriever.backend.document_by_source(chunk.source)
    if not introduces(document.text[sentence.start:sentence.end]):
        return None
    end, others, items = sentence.end, 0, False
    for s, e in sentence_spans(document.text, sentence.end, chunk.end):
        item = bool(_LIST_ITEM.match(document.text, s))
        if (items and not item) or is_non_answer(document, s, e) or e - sentence.start > MAX_QUOTE_CHARS:
            break
        others += not item
        if others > retriever.settings.max_quote_sentences:
            break
        end, items = e, items or item
    return replace(sentence, end=end) if end > sentence.end else None


_LIST_ITEM = re.compile(r"(?:[-*•·–]|\d{1,3}[.)]|\(?[a-z]\))\s")


MAX_QUOTE_CHARS = 600  # an explanation's run of sentences stops before it grows past this
_EXPLANATION = re.compile(
    r"^\s*(?:and |but |so |then )?(?:why\b|how\b(?!\s+(?:many|much|long|old|far|big|often|tall|large|high|"
    r"soon|fast|few|deep|wide|heavy|early|late)\b)|what\b.*\b(?:mean|means|meant|implications?|happens?|happened|"
    r"can|could|should|might|would|will)\b|explain\b|describe\b|in what way\b|is it true\b|"
    r"what(?:'s| is) the (?:point|reason|purpose|difference|effect|impact)\b)",
    re.IGNORECASE)


# A meaning asked for in a search box's words: "local multiplier meaning", "definition of a vehicle
# crossing", "define escalation spiral". A definition often takes the sentence after the term's.
_DEFINITION = re.compile(r"\b(?:meaning|definition)\b|^\s*define\b", re.IGNORECASE)


def asks_for_explanation(question: str) -> bool:
    """Whether the question asks why, how (not how many/much/long…), what something means, what
    can be done or what happened: answers that often take two or three sentences. Why or how may
    open a later clause: "Day trippers leave most of the rubbish, so why don't they pay?"."""
    return (bool(_EXPLANATION.search(question) or _DEFINITION.search(question))
            or any(_EXPLANATION.match(question[m.end():]) for m in _LATER_CLAUSE.finditer(question)))


_LATER_CLAUSE = re.compile(r"(?:[,;:–—]\s*|\s(?:so|but|then|and)\s+)(?=(?:why|how)\b)", re.IGNORECASE)


_YES_NO = re.compile(rf"^\s*(?:{AUXILIARIES})\b",
                     re.IGNORECASE)


def asks_beyond_facts(question: str) -> bool:
    """Why, how, what it means, what can be done, or yes or no: the kinds of question people type
    that SQuAD holds few of (about 8% of its questions). The reader scores their answers lower
    than a fact's, so they are calibrated apart (`abstain_threshold`). After a lead, its last
    sentence says the kind ("I saw a dog marked reserved. What does that mean?")."""
    if (last := _after_lead(question)) and is_question(last):
        question = last
    return asks_for_explanation(question) or bool(_YES_NO.match(question)) or _asks_yes_no_after_comma(question)


# "my son is 14, does he need a licence?": a situation, a comma, then a yes-no question ("In which era,
# did …" asks which, "Who, if anyone, does …" asks who).
_YES_NO_CLAUSE = re.compile(rf"\s*(?:and |so |but |then )?(?:{AUXILIARIES})\s+(?:I|we|he|she|it|they|you|my|our|"
                            r"his|her|their|the|this|that|these|those|there)\b[^?]*\??\W*$", re.IGNORECASE)
_ASKS_WH = re.compile(rf"\b(?:{QUESTION_WORDS})\b", re.IGNORECASE)


def _asks_yes_no_after_comma(question: str) -> bool:
    head, comma, tail = question.rpartition(",")
    return bool(comma and _YES_NO_CLAUSE.match(tail) and not _ASKS_WH.search(head))


def _after_lead(question: str) -> str | None:
    """The last sentence of a question of several sentences (a lead, then what is asked), else None."""
    spans = sentence_spans(question, typed=True)
    return question[spans[-1][0]:spans[-1][1]] if len(spans) > 1 else None


def asked_part(question: str) -> str:
    """What a question asks: its last sentence when a lead of other sentences comes first ("A group
    of senators announced … Which measure did they leave out?"), unless it does not ask (a
    follow-up's carried names), is too short to stand alone ("Why?"), says too little without
    its lead ("… What does that mean?") or the lead is the asker's own situation ("My dad is in the
    cottage hospital and I'm in a B&B nearby. do I have to pay the levy?"); else the whole question."""
    last = _after_lead(question)
    if last is None:
        return question
    content = [w for w in _WORD.findall(last.lower()) if len(w) > 1 and w not in STOPWORDS]
    stands = is_question(last) and len(last.split()) >= MIN_ASKED_WORDS and len(content) >= MIN_ASKED_CONTENT
    # The asker's own situation ("I bought my ticket at the kiosk.") is what the answer must fit;
    # a quiz's lead only sets the scene.
    own = _FIRST_PERSON.search(question[:len(question) - len(last)])
    return last if stands and not own else question


# A lead in the first person: it opens with I, my, we, our…, or has "I'm", "my", "we"… in it ("Joseph I
# gave", "the US" are not).
_FIRST_PERSON = re.compile(r"^\W*(?:I|I'm|I've|I'd|Im|My|We|We're|We've|Our)\b|\b(?:I'm|I've|I'd|I’m|I’ve|I’d|my|we|our|me)\b")


MIN_ASKED_WORDS = 4  # a last sentence this long asks on its own; a shorter one needs its lead
# Words of a last sentence besides stop words: one ("options" in "What are my options?", "mean" in
# "What does that mean?") leaves the reader the lead's situation to match, not the question's.
MIN_ASKED_CONTENT = 2
_WORD = re.compile(r"[^\W\d_]+")


def abstain_threshold(settings: Settings, reader: Reader, question: str | None = None) -> float:
    """Settings' threshold when set, else the one calibrated with the shipped reader (on the
    signal its card names: the combined score, or the reader's own probability); for a question
    that asks beyond facts (`asks_beyond_facts`), the one calibrated on such questions alone when
    the card has it: the reader scores their answers lower, so one threshold for all abstained on
    yes-no and why-questions it had answered right."""
    if settings.abstain_below is not None:
        return settings.abstain_below
    if kind := _calibrated_kind(reader, question):
        return float(kind["abstain_below"])
    return float(reader.card["abstain_below"])


def _calibrated_kind(reader: Reader, question: str | None) -> dict | None:
    """The card's calibration of the kind of question `question` is, if it has one."""
    if question is None or not asks_beyond_facts(question):
        return None
    return (reader.card.get("calibration_by_kind") or {}).get("beyond-facts")


UNSURE_NEAR_MISSES = 0.8  # share of the calibration's near misses that score below an unsure answer


def unsure_threshold(settings: Settings, reader: Reader, question: str | None = None) -> float:
    """Settings' `unsure_below` when set; else the lowest threshold of the reader's calibration
    curve (SQuAD questions asked with their answering paragraph removed; for a question beyond
    facts, that kind's curve when the card has one) below which at least UNSURE_NEAR_MISSES of
    those near misses score. An answer between the abstention threshold and this one is given,
    marked unsure: it scores where most near misses do."""
    if settings.unsure_below is not None:
        return settings.unsure_below
    if kind := _calibrated_kind(reader, question):
        curve = kind["curve"]
    else:
        calibration = reader.card.get("calibration") or {}
        curve = (calibration.get("curves") or {}).get(calibration.get("signal"), [])
    return next((float(row["threshold"]) for row in curve if row["near_miss_abstained"] >= UNSURE_NEAR_MISSES),
                abstain_threshold(settings, reader, question))


@lru_cache(maxsize=2)
def shared_reader(folder: Path | None = None) -> Reader:
    """The reader in `folder` (default: the one shipped in the package), loaded once per process."""
    return Reader(folder or MODEL_DIR)


def load_reader_ahead(folder: Path | None = None) -> threading.Thread:
    """Start loading the reader (`shared_reader`) and opening its side lanes in a thread, and return
    it: a process that answers one question (`qa ask`) leaves a core idle while it loads the index
    and the embedding model, and lanes opened by then read its sentences side by side. Join it
    before answering; a reader that cannot load raises when `shared_reader` is called again."""
    def load() -> None:
        try:
            shared_reader(folder).lanes()
        except Exception:  # noqa: BLE001 - raised again, with its message, by the caller's own load
            pass

    thread = threading.Thread(target=load, name="reader-ahead", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True)
class Candidates:
    """The sentences of some hits that could answer a question, with the evidence the reader's
    combination weighs besides the reader itself (qa.read.reader.combine)."""
    spans: list[tuple[Hit, int, int]]  # the passage, and the sentence's span in its document's text
    texts: list[str]
    contexts: list[str]  # the words before each sentence in its paragraph (qa.read.reader.preceding_context)
    cosine: np.ndarray  # each sentence's embedding similarity to the question
    overlap: np.ndarray  # each one's share of the question's words (qa.read.reader.word_overlap)
    # the similarity to the question of the question heading whose section holds each sentence
    # (qa.read.layout.section_question; 0 outside such a section)
    section: np.ndarray
    # for a sentence in the paragraph right under a question heading: its context with the heading
    # before it (as an FAQ reads), else ""
    headed: list[str]

    @property
    def ranks(self) -> np.ndarray:
        """The rank of each sentence's passage in retrieval."""
        return np.array([hit.rank for hit, _, _ in self.spans])

    def subset(self, keep: list[int]) -> "Candidates":
        return Candidates([self.spans[i] for i in keep], [self.texts[i] for i in keep],
                          [self.contexts[i] for i in keep], self.cosine[keep], self.overlap[keep],
                          self.section[keep], [self.headed[i] for i in keep])


def candidate_sentences(retriever: Retriever, question: str, hits: list[Hit]) -> Candidates:
    """Every sentence of the hits, with the words before it; a sentence that overlapping passages
    share is taken once, for the passage ranked first; non-answers (qa.read.layout) are left out."""
    seen, spans, texts, contexts, headings, headed, leaning = set(), [], [], [], [], [], {}
    for hit in hits:
        c = hit.chunk
        document = retriever.backend.document_by_source(c.source)
        for s, e in sentence_spans(c.text):
            start, end = c.start + s, c.start + e
            # A heading, title or question often echoes the question: it is never the answer.
            if ((c.source, start) in seen or is_non_answer(document, start, end)
                    or echoes_question(question, c.text[s:e]) or describes_document(c.text[s:e])):
                continue
            seen.add((c.source, start))
            paragraph_start = document.paragraphs[document.paragraph_at(start) - 1][0]
            spans.append((hit, start, end))
            texts.append(c.text[s:e])
            heading = section_question(document, start)
            headings.append(" ".join(document.text[heading[0]:heading[1]].split()) if heading else "")
            before = context_start(document, start, paragraph_start)
            contexts.append(preceding_context(document.text, before, start))
            if before < paragraph_start:  # "This is helpful …": judged with what "this" is
                leaning[len(texts) - 1] = " ".join(f"{contexts[-1]} {texts[-1]}".split())
            under = heading and document.paragraph_at(heading[0]) == document.paragraph_at(start) - 1
            headed.append(f"{question_parts(headings[-1])[0]} {contexts[-1]}" if under else "")
    query = retriever.embed_query(question)
    cosine = retriever.embed_sentences(texts) @ query if texts else np.zeros(0)
    if leaning:
        cosine[list(leaning)] = np.maximum(cosine[list(leaning)],
                                           retriever.embed_sentences(list(leaning.values())) @ query)
    asked = sorted(set(headings) - {""})
    similar = _heading_similarity(retriever, asked, query)
    section = np.array([similar.get(h, 0.0) for h in headings], dtype=float)
    # Shared words weighted by their rarity among all the candidates, read or not, as fitted.
    return Candidates(spans, texts, contexts, np.asarray(cosine), np.asarray(word_overlap(question, texts)),
                      section, headed)


# A sentence that opens by pointing back at what was said before: "This is …", "It means …", "Such …".
POINTS_BACK = REFERRING | {"that", "such"}  # at a sentence's start "that" and "such" point back too
_FIRST_WORD = re.compile(r"[\"“‘']?(\w+)")


def context_start(document, start: int, paragraph_start: int) -> int:
    """Where the words the reader sees before a sentence begin: its paragraph's start, or, for a
    sentence that opens its paragraph by pointing back ("This is helpful politically for the
    Kremlin."), the paragraph before, when that one states something (not a heading, label line
    or question). News paragraphs are often one sentence; SQuAD's, which the reader learned
    from, give such a sentence the words before it."""
    number = document.paragraph_at(start)
    first = _FIRST_WORD.match(document.text, start)
    if start != paragraph_start or number < 2 or not first or first.group(1).lower() not in POINTS_BACK:
        return paragraph_start
    s, e = document.paragraphs[number - 2]
    return paragraph_start if is_non_answer(document, s, e) else s


def _heading_similarity(retriever: Retriever, headings: list[str], query: np.ndarray) -> dict[str, float]:
    """How much each question heading asks what the user asks: its best matching question part."""
    parts = {heading: question_parts(heading) for heading in headings}
    every = sorted({part for some in parts.values() for part in some})
    similar = dict(zip(every, retriever.embed_sentences(every) @ query)) if every else {}
    return {heading: float(max(similar[part] for part in some)) for heading, some in parts.items()}


def read_sentences(reader: Reader, retriever: Retriever, question: str, hits: list[Hit]) -> list[ScoredSentence]:
    """The candidate sentences of the hits (`candidate_sentences`) that are worth reading, read."""
    settings = retriever.settings
    candidates = candidate_sentences(retriever, question, hits)
    ranks = candidates.ranks
    read = shortlist(list(ranks), reader.prescore(candidates.cosine, candidates.overlap, ranks),
                     settings.reader_sentences)
    # Under a question heading that asks what the question asks, the answer is likely: read it.
    strength = section_strength(candidates.section, settings)
    read = sorted(set(read) | set(np.flatnonzero(strength > 0).tolist()))
    chosen = candidates.subset(read)
    readings = reader.select(question, chosen.texts, chosen.contexts, chosen.cosine, chosen.overlap,
                             chosen.ranks)
    # Right under a question heading, a sentence is also read with the heading before it, as an FAQ
    # reads, and keeps the better reading: a heading that asks something else must not cost it.
    if under := [i for i, context in enumerate(chosen.headed) if context]:
        again = reader.select(question, [chosen.texts[i] for i in under], [chosen.headed[i] for i in under],
                              chosen.cosine[under], chosen.overlap[under], chosen.ranks[under])
        for i, reading in zip(under, again):
            readings[i] = max(readings[i], reading, key=lambda r: r.score)
    return [ScoredSentence(hit, start, end, 1 - (1 - r.score) * (1 - lift), start + r.answer_start,
                           start + r.answer_end, 1 / (1 + math.exp(-r.logit)))
            for (hit, start, end), r, lift in zip(chosen.spans, readings, strength[read])]


def section_strength(similarity: np.ndarray, settings: Settings) -> np.ndarray:
    """How much a question heading over a sentence says that it answers: 0 up to a similarity of
    `section_match`, then rising linearly to `section_weight` at 1. Combined with the reader's
    probability p as independent evidence: 1 - (1 - p)(1 - strength)."""
    above = np.clip((similarity - settings.section_match) / (1 - settings.section_match), 0, 1)
    return settings.section_weight * above


def shortlist(passages: list[int], prescores, limit: int | None) -> list[int]:
    """Which sentences the reader reads, in their order: all when `limit` is None, else the `limit`
    best by prescore and the best of each passage (so that every passage can still be cited)."""
    if limit is None or len(passages) <= limit:
        return list(range(len(passages)))
    order = sorted(range(len(passages)), key=lambda i: -prescores[i])
    chosen, seen = set(order[:limit]), set()
    for i in order:
        if passages[i] not in seen:
            seen.add(passages[i])
            chosen.add(i)
    return sorted(chosen)


def rerank(reader: Reader, retriever: Retriever, question: str, hits: list[Hit]) -> list[Hit]:
    """The hits reordered by their best sentence's reader score (ranks renumbered, scores replaced)."""
    best: dict[int, float] = {}
    for sentence in read_sentences(reader, retriever, asked_part(question), hits):
        best[sentence.hit.rank] = max(best.get(sentence.hit.rank, 0.0), sentence.score)
    ordered = sorted(hits, key=lambda h: (-best.get(h.rank, 0.0), h.rank))
    return [replace(h, rank=n, score=round(best.get(h.rank, 0.0), 4)) for n, h in enumerate(ordered, 1)]


def _one_per_passage(sentences: list[ScoredSentence]) -> list[ScoredSentence]:
    """Each passage's best sentence, best first (`read_sentences` already gave a sentence that
    overlapping passages share to one of them only, so no quote repeats)."""
    chosen, passages = [], set()
    for sentence in sorted(sentences, key=lambda s: -s.score):
        if sentence.hit.rank not in passages:
            chosen.append(sentence)
            passages.add(sentence.hit.rank)
    return chosen


def _citation(n: int, sentence: ScoredSentence, retriever: Retriever) -> Citation:
    c = sentence.hit.chunk
    document = retriever.backend.document_by_source(c.source)
    quote = c.text[sentence.start - c.start:sentence.end - c.start]
    return Citation(n=n, source=c.source, title=sentence.hit.title,
                    paragraph=document.paragraph_at(sentence.start), page=document.page_at(sentence.start),
                    start=sentence.start, end=sentence.end, quote=quote,
                    passage=c.text, passage_start=c.start, passage_end=c.end,
                    score=round(sentence.score, 4), answer_start=sentence.answer_start,
                    answer_end=sentence.answer_end, text_sha256=text_sha256(document),
                    heading=document.heading_at(sentence.start),
                    **page_regions(document, sentence.start, sentence.end,
                                   (sentence.answer_start, sentence.answer_end), retriever.settings))


def page_regions(document, start: int, end: int, answer: tuple[int, int] | None, settings: Settings) -> dict:
    """The Citation fields that place text[start:end] (and its `answer` words) on the pages of a
    PDF, read again from the sources folder (qa.ingest.pdf_quotes.indexed_pdf); {} for other documents."""
    if not document.pages or not document.source.lower().endswith(".pdf"):
        return {}
    from qa.ingest.pdf_quotes import NotAsIndexed, citation_regions, indexed_pdf

    try:
        _, pdf_text = indexed_pdf(Path(settings.sources_dir) / document.source, document.sha256,
                                  document.text, settings.max_document_chars, document.pages, (start, end),
                                  settings.ocr)
    except NotAsIndexed as error:
        return {"boxes_note": str(error)}
    page = document.page_at(start)
    regions = citation_regions(pdf_text, start, end, answer)
    here = next((r for r in regions if r.page == page), None)
    return {"boxes": here.boxes if here else (), "answer_boxes": here.answer_boxes if here else (),
            "continued_on": tuple(r for r in regions if r.page > page),
            "ocr": any(page <= number <= pdf_text.page_at(max(start, end - 1)) for number in pdf_text.ocr_pages)}

