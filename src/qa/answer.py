"""Extractive answers: the sentences of the retrieved passages that answer a question, cited.

Nothing here writes text: every quote is `document.text[start:end]` of a source document.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import asdict, dataclass

from qa.chunking import sentence_spans
from qa.config import Settings
from qa.dense import embed
from qa.lexical import tokenize
from qa.retrieve import Hit, Retriever, text_sha256

NO_ANSWER = "The sources do not answer this question."

# How much each piece of evidence counts in a sentence's score (see `score_sentences`).
SEMANTIC_WEIGHT, LEXICAL_WEIGHT, RANK_WEIGHT = 0.6, 0.35, 0.05
# A sentence without the kind of answer asked for ("how many" and no number) keeps this share.
WRONG_TYPE_FACTOR = 0.75
VAGUE_DATE_FACTOR = 0.9  # "when" answered by "this summer" rather than a date
UNTERMINATED_FACTOR = 0.7
SCRAP_FACTOR = 0.5
_TERMINATED = re.compile(r"[.!…][\"'”’)\]]*$")


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
    text_sha256: str = ""  # of the document's extracted text, which start/end index (`qa show`)


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

    @property
    def text(self) -> str:
        """The answer as a reader sees it: quotes with their [n] markers, or the message."""
        if self.abstained:
            return self.message or NO_ANSWER
        return " ".join(f"“{q.quote}” [{q.citation}]" for q in self.quotes)

    def as_dict(self) -> dict:
        return {"question": self.question, "abstained": self.abstained,
                "answer": [{"quote": q.quote, "citation": q.citation} for q in self.quotes],
                "citations": [asdict(c) for c in self.citations], "mode": self.mode,
                "message": self.message, "error": self.error}


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
    start: int
    end: int
    score: float
    semantic: float
    lexical: float


def answer_question(retriever: Retriever, question: str, mode: str | None = None,
                    k: int | None = None) -> Answer:
    """Quote the sentences that best answer `question`, or abstain; never raises on bad input."""
    settings = retriever.settings
    mode, k = mode or settings.mode, k or settings.k
    try:
        question = check_question(question, settings)
    except BadQuestion as error:
        return Answer(question=question or "", abstained=True, quotes=(), citations=(), mode=mode,
                      message=str(error), error=str(error))
    hits = retriever.search(question, mode, max(k, settings.answer_passages))
    if not hits:
        return Answer(question, True, (), (), mode, message=NO_ANSWER)
    sentences = score_sentences(retriever, question, hits)
    ranked = _one_per_passage(sentences)[:k]
    citations = tuple(_citation(n, s, retriever) for n, s in enumerate(ranked, start=1))
    best = ranked[0]
    if best.score < settings.abstain_below:
        return Answer(question, True, (), citations, mode, message=NO_ANSWER, hits=tuple(hits))
    quotes = [Quote(citations[0].quote, 1)]
    # A second passage that scores nearly as well is quoted too: answers often span sources.
    for n, sentence in enumerate(ranked[1:3], start=2):
        if sentence.score >= best.score - settings.second_quote_margin:
            quotes.append(Quote(citations[n - 1].quote, n))
    return Answer(question, False, tuple(quotes), citations, mode, hits=tuple(hits))


def score_sentences(retriever: Retriever, question: str, hits: list[Hit]) -> list[ScoredSentence]:
    """Every sentence of the hits, scored by meaning, shared words and passage rank, and
    discounted when it lacks the kind of answer asked for or is a heading or a question."""
    spans = []
    for hit in hits:
        c = hit.chunk
        for s, e in sentence_spans(c.text):
            spans.append((hit, c.start + s, c.start + e, c.text[s:e]))
    texts = [text for *_, text in spans]
    question_vector = retriever.embed_query(question)
    semantic = embed(retriever.model, texts, retriever.settings.batch_size) @ question_vector
    lexical = lexical_overlap(question, texts)
    wanted = answer_type(question)
    scored = []
    for (hit, start, end, text), sem, lex in zip(spans, semantic, lexical):
        score = SEMANTIC_WEIGHT * float(sem) + LEXICAL_WEIGHT * lex + RANK_WEIGHT / hit.rank
        if wanted:
            score *= _type_factor(text, wanted, question)
        if text.endswith("?") or len(text) < 25:
            score *= SCRAP_FACTOR  # questions and scraps rarely answer anything
        elif not _TERMINATED.search(text):
            score *= UNTERMINATED_FACTOR  # a title, heading or caption rather than a statement
        scored.append(ScoredSentence(hit, start, end, score, float(sem), lex))
    return scored


def _word_keys(text: str) -> set[str]:
    # Stems cut to four letters, so that "invaded" meets "invasion" (Snowball: invad / invas).
    return {t if t[0].isdigit() else t[:4] for t in tokenize(text)}


def lexical_overlap(question: str, sentences: list[str]) -> list[float]:
    """Share of the question's content words (IDF-weighted over these sentences) in each sentence."""
    wanted = _word_keys(question)
    if not wanted:
        return [0.0] * len(sentences)
    token_sets = [_word_keys(s) for s in sentences]
    count = len(sentences)
    idf = {t: math.log(1 + count / (1 + sum(t in ts for ts in token_sets))) for t in wanted}
    total = sum(idf.values())
    return [sum(idf[t] for t in wanted & ts) / total for ts in token_sets]


_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"


def answer_type(question: str) -> str | None:
    """The kind of answer a question asks for: number, date, person, or None."""
    q = question.lower()
    if re.match(r"\s*how (many|much|big|large|long|old|far)\b", q):
        return "number"
    if re.match(r"\s*(when|what year|what date)\b", q):
        return "date"
    if re.match(r"\s*(who|whom)\b", q):
        return "person"
    return None


def _type_factor(sentence: str, wanted: str, question: str) -> float:
    """1 when the sentence holds the kind of answer asked for, less when it does not."""
    if wanted == "number":
        found = re.search(r"\d|\b(million|billion|thousand|hundred|dozen|few|several)\b", sentence, re.I)
    elif wanted == "date":
        if re.search(rf"\b(1[89]\d\d|20\d\d)\b|\b{_MONTHS}\s+\d", sentence, re.I):
            return 1.0
        vague = r"\b(yesterday|today|ago|week|month|year|summer|winter|spring|autumn)\b"
        return VAGUE_DATE_FACTOR if re.search(vague, sentence, re.I) else WRONG_TYPE_FACTOR
    else:  # a person: a capitalised name that the question does not already give
        asked = set(re.findall(r"[A-Z][a-z]+", question))
        names = re.findall(r"\b[A-Z][a-z]+(?:\s+[A-Z]\.)?\s+[A-Z][a-z]+", sentence)
        found = any(set(name.replace(".", " ").split()) - asked for name in names)
    return 1.0 if found else WRONG_TYPE_FACTOR


def _one_per_passage(sentences: list[ScoredSentence]) -> list[ScoredSentence]:
    """Each passage's best sentence, best first; a sentence that overlapping passages share
    is quoted once, and the later passage offers its next-best sentence instead."""
    chosen, passages, spans = [], set(), set()
    for sentence in sorted(sentences, key=lambda s: -s.score):
        passage = sentence.hit.rank
        span = (sentence.hit.chunk.source, sentence.start)
        if passage not in passages and span not in spans:
            chosen.append(sentence)
            passages.add(passage)
            spans.add(span)
    return chosen


def _citation(n: int, sentence: ScoredSentence, retriever: Retriever) -> Citation:
    c = sentence.hit.chunk
    document = retriever.backend.document_by_source(c.source)
    quote = c.text[sentence.start - c.start:sentence.end - c.start]
    return Citation(n=n, source=c.source, title=sentence.hit.title,
                    paragraph=document.paragraph_at(sentence.start), page=document.page_at(sentence.start),
                    start=sentence.start, end=sentence.end, quote=quote,
                    passage=c.text, passage_start=c.start, passage_end=c.end,
                    score=round(sentence.score, 4), text_sha256=text_sha256(document))

