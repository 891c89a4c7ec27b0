"""Near misses the reader cannot see: a question that pins its answer down with a year, a number,
an ordinal, a weekday, a month or a code the best passage does not hold, while the quote gives
another of the same kind ("in 2004" against a sentence about 2023, "the fifth grade" against the
eighth); that asks for a kind of answer the quote does not contain (a phone number, an amount,
a time of day, a year); that asks about a titled person the quote's passage never names
("Mayor Vasquez-Doyle" against a sentence about the deputy mayor); or that asks what someone said
whom the passage never names ("What did the deputy council leader say …" against a passage that
quotes only the council leader).

The reader scores how well a sentence answers; it was trained on questions whose qualifiers always
match, so a sentence that differs in one of them still scores high. These checks are closed-class
on purpose: common nouns and untitled names are paraphrased too often ("the city", "US") to be
compared word for word. See docs/results/natural-questions.md for what they catch and what they cost.
"""

from __future__ import annotations

import re

from qa.index.lexical import STOPWORDS
from qa.read.nationalities import mentions
from qa.read.unknown_names import TITLES

_NUMBER_WORDS = {word: n for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_ORDINALS = {word: n for n, word in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split(), start=1)}
_DAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
_MONTHS = frozenset("january february march april june july august september october november december".split())
# Codes (HCT-04, A4), ordinals in digits (14th), numbers with a decade's "s" (1990s), then words.
_TOKENS = re.compile(r"[A-Za-z]+-?\d+\b|\d+(?:st|nd|rd|th)\b|\d[\d,.:]*\d(?:'?s\b)?|\d(?:'?s\b)?"
                     r"|[A-Za-z]+(?:[-'’][A-Za-z]+)*")
_KINDS = {"year": "year", "number": "number", "ordinal": "ordinal", "day": "day", "month": "month",
          "code": "reference"}
_NAMED = {"phone": "phone number", "amount": "amount", "time": "time of day", "year": "year"}

_PHONE_ASKED = re.compile(r"\b(phone|telephone) number\b")
_PHONE = re.compile(r"\d[\d ]{5,}\d")
_AMOUNT_ASKED = re.compile(r"\bhow much\b.*\b(cost|costs|fee|price|charge|pay|fine)\b|\bhow much money\b"
                           r"|\bwhat (is|are|was) the (\w+ )?(fee|price|cost|fare|rate)\b")
_AMOUNT = re.compile(r"\d|[$£€¥]|\b(free|hundred|thousand|million|billion)\b", re.IGNORECASE)
_TIME_ASKED = re.compile(r"\bwhat time\b(?! of)")
_TIME = re.compile(r"\d{1,2}(:\d\d)?\s*(am|pm|a\.m\.|p\.m\.)|\bnoon\b|\bmidnight\b|\d{1,2}[:.]\d\d", re.IGNORECASE)
_YEAR_ASKED = re.compile(r"\b(what|which) year\b")
_DIGIT = re.compile(r"\d")
# A bound or a range of numbers ("more than 40 miles", "under 16", "21 or over", "30 to 59 minutes")
# is about every number on either side of it or within it, not one number: a question that names
# one ("I live 60 miles away", "my 15-year-old") is answered by it, not a near miss.
_N = r"(\d[\d,]*(?:\.\d+)?|" + "|".join(_NUMBER_WORDS) + r")"
_BOUND = re.compile(
    r"\b(?:(?:more|less|fewer|greater|longer|older|younger|later|earlier) than|over|under|above|below|"
    r"at least|at most|up to|within|aged)\s+(?:(?:the|age|aged|of)\s+){0,3}" + _N + r"\b"
    r"|\b" + _N + r"(?:\s+[a-z]+)?\s+(?:or|and) (?:more|over|above|older|under|less|fewer|younger|below)\b",
    re.IGNORECASE)
_RANGE = re.compile(r"\bbetween\s+" + _N + r"\s+and\s+" + _N + r"\b|\b" + _N + r"\s*(?:to|–|—)\s*" + _N + r"\b",
                    re.IGNORECASE)


def _qualifier(token: str, asked: bool) -> tuple[str, str] | None:
    """(kind, value) of a token that pins an answer down, or None. In a question, number words
    and "first" are left out: they are mostly idiom there ("on one charge", "first introduced")."""
    low = token.lower()
    if re.fullmatch(r"[a-z]+-?\d+", low):
        return "code", low.replace("-", "")
    if re.search(r"\d'?s$", low):  # a decade holds many years
        return None
    if ordinal := re.fullmatch(r"(\d+)(?:st|nd|rd|th)", low):
        return "ordinal", str(int(ordinal.group(1)))
    if low[0].isdigit():
        digits = low.replace(",", "").rstrip(".:")
        if re.fullmatch(r"(1[5-9]|20)\d\d", digits):
            return "year", digits
        try:
            return "number", str(float(digits))
        except ValueError:
            return "number", digits
    if asked and (low in _NUMBER_WORDS or low == "first"):
        return None
    if low in _NUMBER_WORDS:
        return "number", str(float(_NUMBER_WORDS[low]))
    if low in _ORDINALS:
        return "ordinal", str(_ORDINALS[low])
    if low in _DAYS:
        return "day", low
    if low in _MONTHS or token == "May":
        return "month", low
    return None


def qualifiers(text: str, asked: bool = False) -> set[tuple[str, str]]:
    """The (kind, value) pairs of `text`; a hyphenated word gives its parts too (fifth-grade)."""
    found = set()
    for token in _TOKENS.findall(text):
        parts = [token] if token[-1].isdigit() else [token, *token.split("-")]
        found.update(q for part in parts if (q := _qualifier(part, asked)))
    return found


def _held(wanted: tuple[str, str], held: set[tuple[str, str]]) -> bool:
    if wanted in held:
        return True
    if wanted[0] != "number":
        return False
    whole = lambda value: int(float(value)) if re.fullmatch(r"\d+(\.\d+)?", value) else None  # noqa: E731
    return any(kind == "number" and whole(value) is not None and whole(value) == whole(wanted[1])
               for kind, value in held)


def _number(text: str) -> float | None:
    low = text.lower().replace(",", "")
    if low in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[low])
    try:
        return float(low)
    except ValueError:
        return None


def _bounds(text: str) -> set[float]:
    """The numbers that `text` states as bounds ("under 16", "up to age 16", "21 or over")."""
    return {n for match in _BOUND.finditer(text) for g in match.groups() if g and (n := _number(g)) is not None}


def _bounded(value: str, text: str) -> bool:
    """Whether `text` bounds numbers on one side (any number is answered by it), or gives a range
    that holds `value`."""
    if _BOUND.search(text):
        return True
    wanted = _number(value)
    for match in _RANGE.finditer(text):
        low, high = (_number(n) for n in match.groups() if n is not None)
        if wanted is not None and low is not None and high is not None and low <= wanted <= high:
            return True
    return False


def conflict(question: str, quote: str, context: str, before: str = "") -> str | None:
    """Why the quote cannot answer `question` ("gives another year, not “2004”"), or None.
    `context` (its heading, its document's title) and `before` (the words before it in its
    paragraph) are what qualify the quote; a year in `before` dates the quote as if it said it
    ("In 2022 the river rose … The clean-up cost $112 million")."""
    held = qualifiers(f"{context} {before} {quote}")
    quoted = qualifiers(quote) | {(kind, value) for kind, value in qualifiers(before) if kind == "year"}
    asked_bounds = _bounds(question)  # a bound asked about ("up to age 16") must be the quote's own
    for kind, value in sorted(qualifiers(question, asked=True)):
        point = kind == "number" and _number(value) not in asked_bounds
        if _held((kind, value), held) or (point and _bounded(value, f"{before} {quote}")):
            continue
        others = sorted(v for k, v in quoted if k == kind and v != value)
        if others:
            return f"gives another {_KINDS[kind]}, not {_shown(question, kind, value)}"
    return _missing_kind(question.lower(), quote)


def _shown(question: str, kind: str, value: str) -> str:
    """The question's own words for a qualifier: "2004", "Sunday", "fifth"."""
    for token in _TOKENS.findall(question):
        for part in [token, *token.split("-")]:
            if _qualifier(part, asked=True) == (kind, value):
                return f"“{part}”"
    return value


def _missing_kind(asked: str, quote: str) -> str | None:
    """The kind of answer the question asks for when the quote holds none of it."""
    wanted = [("phone", _PHONE_ASKED, _PHONE), ("amount", _AMOUNT_ASKED, _AMOUNT),
              ("time", _TIME_ASKED, _TIME), ("year", _YEAR_ASKED, _DIGIT)]
    for name, asks, gives in wanted:
        if asks.search(asked) and not gives.search(quote):
            return f"gives no {_NAMED[name]}"
    return None


# A run of capitalised words, not the question's first; a title's period inside it ("Gen. Flynn").
_NAME_RUN = re.compile(r"(?<!^)(?<![.?!:]\s)(?<![\"“‘(])\b[A-Z][\w’'-]*(?:\.?\s+[A-Z][\w’'-]*)*")
_ALPHA = re.compile(r"[^\W\d_]+")


def _stem_held(word: str, held: set[str]) -> bool:
    """Whether a word of `held` is `word` or shares all but its ending ("Korean", "Korea")."""
    if word in held:
        return True
    root = word[:max(4, len(word) - 2)]
    return len(word) >= 4 and any(w.startswith(root) and len(w) <= len(word) + 3 for w in held)


def missing_name(question: str, quote: str, context: str) -> str | None:
    """A titled name of `question` ("Mayor Vasquez-Doyle", "Gen. Flynn") none of whose words
    after the title `quote` or its `context` holds, or None. Only titled names: an untitled one is
    as often a place, a people or an abbreviation the passage says otherwise ("US", "the English")."""
    held = {w.lower() for w in _ALPHA.findall(f"{context} {quote}")}
    for match in _NAME_RUN.finditer(question):
        words = [w.lower() for w in _ALPHA.findall(match.group())]
        if not words or words[0] not in TITLES:
            continue
        while words and words[0] in TITLES:
            words.pop(0)
        words = [w for w in words if len(w) > 1 and w not in STOPWORDS]
        if words and not any(_stem_held(w, held) for w in words):
            return match.group()
    return None


# "What did the deputy council leader say about …": who said it, named by up to six words.
_SPEAKER = re.compile(r"^\W*what\s+(?:did|does|do|has|have|had|will|would)\s+(?:the\s+|an?\s+)?"
                      r"(?P<speaker>[\w’'-]+(?:\s+[\w’'-]+){0,5}?)\s+"
                      r"(?:say|said|tell|told|claim|claimed|argue|argued|warn|warned|announce|announced)\b",
                      re.IGNORECASE)
# Words that end the speaker ("what did the minister mean when she said") or make it anyone: the
# passage may call critics opponents, and "the article" is the document itself.
_NOT_A_SPEAKER = frozenset("""i you he she it we they them me us people someone anyone everyone nobody
others critics experts officials residents locals opponents supporters analysts researchers scientists
studies study reports report article text document author writer source sources when that if mean means
meant about after before this these those his her their its what which who""".split())


def missing_speaker(question: str, passage: str) -> str | None:
    """The one whose words `question` asks for ("What did the deputy council leader say …") when
    `passage` (the quote, its paragraph's passage, heading and title) lacks a word of that name or
    role, or None. A country's or people's name counts as held when the passage names that country
    in any form ("Japanese", "Japan's")."""
    match = _SPEAKER.match(question)
    if not match:
        return None
    # "Japan's" reads as "Japan" and "s": the possessive's letter goes with the one-letter words.
    words = [w for w in map(str.lower, _ALPHA.findall(match.group("speaker")))
             if len(w) > 1 and w not in STOPWORDS]
    if not words or any(w in _NOT_A_SPEAKER for w in words):
        return None
    held = {w.lower() for w in _ALPHA.findall(passage)}
    countries = {key for _, _, key in mentions(passage)}
    for word in words:
        country = {key for _, _, key in mentions(word)}
        if not (_stem_held(word, held) or country & countries):
            return match.group("speaker")
    return None
