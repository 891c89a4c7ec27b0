"""Questions about something the documents never mention: a name in the question (a capitalised
word after its first) that no indexed chunk holds, and that no word of the passages read spells
closely ("Portugese" for "Portuguese", "Gruyeres" for "Gruyères"). Whatever the reader makes of
the nearest passages, they are about something else, so qa abstains and says which name it did
not find, as a search engine says it found nothing for a word.

Only names are looked up: common nouns are paraphrased too often ("car" for "vehicle") for their
absence to mean that the documents cannot answer. See docs/results/natural-questions.md for what
this catches and what it costs.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable, Iterable

from qa.index.lexical import STOPWORDS
from qa.read.nationalities import COUNTRY_OF, mentions

# A run of capitalised words, not the question's first word or one that opens a sentence in it.
_NAME = re.compile(r"(?<!^)(?<![.?!:]\s)(?<![\"“‘(])\b[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*")
_WORD = re.compile(r"[^\W\d_]+")
# Words of a title or role before a name ("Mr. Putin", "Mayor Vasquez-Doyle"): an abbreviated one
# is often in no document ("Mr"), and none names anyone on its own.
TITLES = frozenset("""mr mrs ms miss dr prof professor sir dame lord lady mayor deputy superintendent president
vice prime minister secretary senator sen rep representative governor gov general gen colonel col captain capt
lieutenant lt sergeant sgt admiral chancellor chief director judge justice councillor councilman councilwoman
king queen prince princess pope bishop father sister brother saint st ambassador commissioner inspector officer
chairman chairwoman chair board member principal coach""".split())
_CONTRACTED = frozenset({"ll", "re", "ve"})  # what is left of "will", "are" and "have" in "I'll", "We're", "I've"
MIN_TYPO_LETTERS = 5  # a shorter word a letter away from another is as often a word of its own
MAX_MISSING = 3  # names missing that are looked for and named: the first few say why


def fold(text: str) -> str:
    """Lower case without accents: "Gruyères" and "Gruyeres" are one spelling."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of `a` and `b`, or `limit + 1` once it is sure to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _spelled_in(word: str, words: dict[str, str]) -> str | None:
    """The word of `words` (folded: as found) that spells `word` a little differently, an edit for
    every four letters and at least one, the closest first; None when none does."""
    limit = max(1, len(word) // 4)
    best = min(((_distance(word, w, limit), w) for w in words), default=(limit + 1, ""))
    return words[best[1]] if best[0] <= limit else None


def _shown(name: str) -> str:
    """The name as the message quotes it: without a possessive ("FBI's": FBI) or the stop words
    that open a title-cased question's run ("Is The Boiling Point": Boiling Point)."""
    words = re.sub(r"(?:['’]s?)+$", "", name).split()
    while len(words) > 1 and words[0].lower() in STOPWORDS:
        words.pop(0)
    return " ".join(words)


def unknown_names(question: str, known: Callable[[str], bool], passages: Iterable[str]) -> list[str]:
    """The names of `question` with a word that `known` (is it in the index?) says no to and that
    no word of `passages` (nor two of them run together: "YenYen") spells closely."""
    return check_names(question, known, passages)[0]


def check_names(question: str, known: Callable[[str], bool],
                passages: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """`unknown_names`, and the words of the other names that the index lacks but a word of the
    passages spells closely, each with that spelling ({"Zelenskiy": "Zelenskyy"}): asked again
    in the documents' spelling, the question is searched and read as the documents write it."""
    missing, respelt, words = [], {}, None
    for match in _NAME.finditer(question):
        if len(missing) == MAX_MISSING:  # enough to say why; a long list of them only costs time
            break
        for token in _WORD.findall(match.group()):
            low = token.lower()
            if len(low) < 2 or low in STOPWORDS or low in TITLES or low in _CONTRACTED or known(token):
                continue
            if words is None:  # the passages' words, read only when a word is not in the index
                words = _passage_words(passages)
            # A short word a letter away is another word ("Hay" and "day", "Wain" and "wasn't").
            spelling = _spelled_in(fold(token), words) if len(token) >= MIN_TYPO_LETTERS else words.get(fold(token))
            if spelling is None:
                missing.append(_shown(match.group()))
                break
            # An acronym a letter away is another acronym ("SMTP", "MTP"), not a typo: not respelt.
            if spelling and fold(spelling) != fold(token) and not token.isupper():
                respelt[token] = spelling
    return missing, respelt


def names_not_in(question: str, document: str, passages: Iterable[str]) -> list[str]:
    """The names of `question` (as `check_names` finds them) that `document`, the text a quote
    comes from, never holds, nor spells closely in `passages`: a quote from a document that never
    names what is asked about ("What was one city that Dell tested retail stores in?" against
    another company's page) is about something else. Acronyms count as held ("NYC" is often
    spelt out), and so does a word opening the same way ("Brazilian" where "Brazil" is written) or
    a country's name for its people's ("Norwegian" where "Norway" is)."""
    folded, countries = _document_forms(document)

    def holds(token: str) -> bool:
        if token.isupper():
            return True
        word = fold(token)
        if word in COUNTRY_OF:  # "Norwegian" where "Norway" is written
            return COUNTRY_OF[word] in countries
        stem = re.escape(word[:5]) if len(word) >= 6 else re.escape(word) + r"(?![^\W\d_])"
        return re.search(r"(?<![^\W\d_])" + stem, folded) is not None

    return check_names(question, holds, passages)[0]


@lru_cache(maxsize=16)
def _document_forms(document: str) -> tuple[str, frozenset[str]]:
    """A document folded, and the countries it names: read once, not at every question (a long
    document takes tens of milliseconds to fold)."""
    return fold(document), frozenset(country for _, _, country in mentions(document))


def _passage_words(passages: Iterable[str]) -> dict[str, str]:
    """The passages' words, folded, each with a spelling as found; two words run together map to ""."""
    words: dict[str, str] = {}
    for passage in passages:
        found = _WORD.findall(passage)
        folded = [fold(w) for w in found]
        for f, w in zip(folded, found):
            words[f] = words.get(f) or w  # a word as found wins over two run together
        for a, b in zip(folded, folded[1:]):  # two words run together: not a respelling
            words.setdefault(a + b, "")
    return words


# Contractions typed without their apostrophe, which the reader's word pieces do not know as such.
CONTRACTIONS = {"whats": "what's", "dont": "don't", "doesnt": "doesn't", "didnt": "didn't", "isnt": "isn't",
                "wasnt": "wasn't", "werent": "weren't", "arent": "aren't", "havent": "haven't", "hasnt": "hasn't",
                "hadnt": "hadn't", "cant": "can't", "couldnt": "couldn't", "shouldnt": "shouldn't",
                "wouldnt": "wouldn't", "im": "I'm", "ive": "I've", "youre": "you're", "theyre": "they're"}


def misspelt_words(question: str, known: Callable[[str], bool], passages: Iterable[str],
                   is_word: Callable[[str], bool]) -> dict[str, str]:
    """The question's lower-case words typed as the documents do not spell them, each with the
    spelling to ask in: a contraction without its apostrophe ("doesnt"), and a word of at least
    MIN_TYPO_LETTERS letters that neither the index nor `is_word` (a dictionary) knows and that
    a word of the passages spells closely ("levvy": "levy", "membrship": "membership")."""
    respelt, words = {}, None
    for token in _WORD.findall(question):
        if not token.islower():
            continue  # names are check_names's
        if token in CONTRACTIONS:
            respelt[token] = CONTRACTIONS[token]
        elif len(token) >= MIN_TYPO_LETTERS and token not in STOPWORDS and not known(token) and not is_word(token):
            words = _passage_words(passages) if words is None else words
            spelling = (_spelled_in(token, words) or "").lower()
            # Another ending ("agriculturalists", "agricultural") is another word, not a typo.
            if spelling and not (token.startswith(fold(spelling)) or fold(spelling).startswith(token)) \
                    and known(spelling):
                respelt[token] = spelling
    return respelt


def respell(text: str, respelt: dict[str, str]) -> str:
    """`text` with each word of `respelt` in its documents' spelling."""
    for word, spelling in respelt.items():  # a word as _WORD finds it: "libary" in "libary2" too
        text = re.sub(rf"(?<![^\W\d_]){re.escape(word)}(?![^\W\d_])", spelling, text)
    return text
