"""Follow-up questions: what to search for when a question leans on the one before it.

"How many of them are in training?" names nothing a retriever can find. When a question is a
follow-up, its search carries the names of the conversation so far; the answer is still quoted
only from the documents. Three rules, all here:

1. A question is a follow-up when it refers back (a pronoun or demonstrative: he, it, they, them,
   this, those …), opens with "and …", "what about …", "how about …", "what of …", or has fewer
   than three content words, unless it only asks who or what a name new to the conversation is
   ("What is Kursk?", or typed in lower case "who is mark rutte"), or brings a lower-case word of
   its own that the index holds and the reader's dictionary does not ("what happened in kursk":
   a name typed in lower case). An "it" that only props up a clause ("Is it true that …", "How
   long does it take to …") refers to nothing, "this year" is a time, and a pronoun after a lead
   of its own points into the lead ("I've just laid a new lawn. can I water it?").
2. Carried: the names (capitalised words) of the previous search (the previous question, or what it
   was expanded to, so a chain of follow-ups keeps its subject) and of the previous answer's first
   quote; when there are none, the previous question's content words. Each word once, only when
   the question lacks it (compared by stem), at most MAX_CARRIED; never a word the index does
   not hold (a name the documents never mention, asked about before, could only mislead).
   A follow-up that brings a name of its own changes the subject, unless it points back at a
   person ("What did he say about Kursk?"): referring back to a thing ("Has China said anything
   about it?"), it carries the previous question's names only, not those of its answer, and not
   a person the question or its answer gives a title ("Gen. Flynn", "Rep. Mike Turner": "it" is
   no person; with none left, its other content words, if any);
   without referring back ("What about China?"), the new name takes the old one's place and it
   carries the previous question's other content words. Referring back at a thing or a group
   without a new name ("How many of them are there?"), of the previous answer it carries only the
   names of the words the answer marked, when known: "them" is what was asked about or what
   answered it, not another person the quoted sentence names.
3. The query is the question followed by those words as written: readable, since it is shown
   ("searched for: …"), and it is what the reader reads too.

Why names and not every content word of the previous question: those words describe what was
asked before ("arrived … far east"), so the reader quoted the previous answer again (quote@1 of
follow-ups 0.647 against 0.824 with names; README, "Follow-up questions").
"""

from __future__ import annotations

import re
from typing import Callable

from qa.index.lexical import STOPWORDS, tokenize
from qa.ingest.chunking import sentence_spans
from qa.read.unknown_names import TITLES

# Words that point back to something said before. "that" is left out: it is far more often a
# conjunction ("Who confirmed that …") than a reference.
REFERRING = frozenset("""
    he she it they him her them his hers its their theirs this these those
""".split())
OPENINGS = ("and ", "what about ", "how about ", "what of ")
# "it" as a placeholder for the clause that follows: "is it true that …", "would it be possible
# to …", "it is said that …", "how long does it take to …", "what does it cost to …".
_PLACEHOLDER_IT = re.compile(
    r"\b(?:(?:is|was|isn't|wasn't|will|would|could|can|should|might|may)\s+it(?:\s+be)?"
    r"|it\s+(?:is|was|'s|’s|will\s+be|would\s+be|seems|seemed)"
    r"|(?:does|did|do|will|would)\s+it\s+(?:take|cost|mean|matter))"
    # Between them, up to two words, but no verb form of the thing itself ("can it be used to …").
    r"(?:\s+(?!\w+(?:ed|ing)\b)\w+|\s+(?:allowed|permitted|required|needed|supposed|expected)){0,2}?"
    r"\s+(?:that|to|whether|if|for)\b", re.IGNORECASE)
# "Who is Ra Mason?", "What is the Kremlin?": short, but asks about the name it gives.
_DEFINITION = re.compile(r"(?i:who|what)\s+(?i:is|are|was|were)\s+(?:(?i:the)\s+)?"
                         r"[A-Z][\w’'.-]*(?:\s+[A-Z][\w’'.-]*)*\s*\??")
# "who is mark rutte": typed in lower case, a person's name is still words of its own, with no
# article before them ("who is the mayor" leans on what was asked before).
_WHO_IS = re.compile(r"(?i:who)\s+(?i:is|was)\s+([\w’'.-]+(?:\s+[\w’'.-]+){0,2})\s*\??")
PERSONAL = frozenset("he she him her his hers".split())  # point back at a person: the previous answer's, often
SHORT = 3  # fewer content words than this: too little to search on alone
MIN_RARE_LETTERS = 4  # a shorter lower-case word outside the dictionary is more often a typo or a code
MAX_CARRIED = 12  # words carried from earlier turns: more would drown the follow-up's own
# Question fillers that are not stop words but name no subject of their own.
FILLERS = frozenset("many much else also kind sort".split())

# Words as written: numbers whole ("12,000"), hyphenated words whole ("Young-joon", "Secretary-General").
_WORD = re.compile(r"\d+(?:[.,]\d+)*|\w+(?:-\w+)*")


def content_words(text: str) -> list[str]:
    """The words of `text` that carry a topic, as written (stop words and fillers dropped)."""
    return [w for w in _WORD.findall(text) if w.lower() not in STOPWORDS and w.lower() not in FILLERS
            and not (len(w) == 1 and not w.isdigit())]


def names(quote: str) -> list[str]:
    """The capitalised words of `quote` (its people, places, organisations), stop words dropped."""
    return [w for w in _WORD.findall(quote) if w[0].isupper() and len(w) > 1 and w.lower() not in STOPWORDS]


def titled_persons(text: str) -> set[str]:
    """The words of the people `text` names with a title ("Gen. Charles Flynn": Gen, Charles,
    Flynn), the titles included."""
    found, words = set(), _WORD.findall(text)
    for i, word in enumerate(words):
        if word.lower() in TITLES and word[0].isupper():
            found.add(word)
            for after in words[i + 1:]:
                if not after[0].isupper():
                    break
                found.add(after)
    return found


# "this year", "these days": a time, not something said before.
_NOW = re.compile(r"\b(?:this|these)\s+(?:year|week|month|morning|afternoon|evening|summer|winter|spring|"
                  r"autumn|weekend|season|term|time|days)\b", re.IGNORECASE)


def referring(question: str) -> set[str]:
    """The words of `question` that point back (lower case), a placeholder "it" and "this year"
    left out, and those of its last sentence when a lead before it gives them something to point
    at ("I've just laid a new lawn. am I allowed to water it?")."""
    spans = sentence_spans(question, typed=True)
    if len(spans) > 1 and len(content_words(question[:spans[-1][0]])) >= SHORT:
        return _referring(question[:spans[-1][0]])
    # So does a situation before the last comma, when a question follows it: "my son is 14, does he
    # need a licence?" ("What could trigger it, according to him?" still points back).
    head, _, tail = question.rpartition(",")
    if _ASKS.match(tail) and (len(content_words(head)) >= SHORT or _OWN.search(head) and content_words(head)):
        return _referring(head)
    return _referring(question)


# The words a yes-no question opens with, and those of a question asking what, who, why, how…
AUXILIARIES = "is|are|was|were|do|does|did|can|could|will|would|should|has|have|had"
QUESTION_WORDS = "what|which|who|whom|whose|when|where|why|how"
_ASKS = re.compile(rf"\s*(?:and |so |but |then )?(?:{QUESTION_WORDS}|{AUXILIARIES})\b", re.IGNORECASE)
_OWN = re.compile(r"\b(?:i|i'm|i’m|im|i've|i’ve|ive|i'd|my|we|we're|we’re|our|me)\b", re.IGNORECASE)


def _referring(question: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(_NOW.sub(" ", _PLACEHOLDER_IT.sub(" ", question)))} & REFERRING


def is_follow_up(question: str) -> bool:
    """Whether `question` leans on the previous one: it refers back, opens with "and"/"what about",
    or is too short to search on alone."""
    return _points_back(question) or len(content_words(question)) < SHORT


def _points_back(question: str) -> bool:
    """Whether `question` refers back or opens with "and"/"what about", whatever its length."""
    lowered = " ".join(w.lower() for w in _WORD.findall(question)) + " "
    return bool(referring(question)) or lowered.startswith(OPENINGS)


def new_names(question: str, previous_question: str) -> list[str]:
    """The names of `question` that the previous one lacks; a sentence's first word ("Tell me …")
    is no name."""
    before = {stem for name in names(previous_question) for stem in tokenize(name)}
    inside = [m.group() for m in _WORD.finditer(question)
              if question[:m.start()].rstrip()[-1:] not in ("", ".", "!", "?")]
    return [w for w in names(" ".join(inside)) if not before.issuperset(tokenize(w))]


def carried_candidates(question: str, previous_question: str, previous_answer_quote: str | None,
                       previous_answer_words: str | None = None) -> list[str]:
    """The words rule 2 may carry, in order of preference. With `previous_answer_words` (the words
    the previous answer marked), a follow-up that points back at a thing or a group ("How many of
    them are there?") carries the names of those words, not of the whole quote: "them" is what
    was asked about or what answered it, not whoever else the quoted sentence names."""
    pointing = referring(question)
    if new_names(question, previous_question) and not pointing & PERSONAL:
        if pointing:  # "Has China said anything about it?": "it" is what was asked about before
            persons = titled_persons(f"{previous_question} {previous_answer_quote or ''}")
            return ([w for w in names(previous_question) if w not in persons]
                    or [w for w in content_words(previous_question) if w not in persons])
        # "What about China?": China takes the place of the previous question's names
        return [w for w in content_words(previous_question) if not w[0].isupper()]
    # "them" a thing or group: the names of what answered, not of everyone the quote names
    thing = pointing and not pointing & PERSONAL
    answered = previous_answer_words if previous_answer_words is not None and thing else previous_answer_quote
    return names(previous_question) + names(answered or "") or content_words(previous_question)


def carried_words(question: str, previous_question: str, previous_answer_quote: str | None,
                  known: Callable[[str], bool] | None = None, previous_answer_words: str | None = None) -> list[str]:
    """The words a follow-up leaves implicit (rule 2 above), as written, in order; with `known`
    (is a word in the index?), not those the documents never hold: they could only mislead."""
    have, carried = set(tokenize(question)), []
    for word in carried_candidates(question, previous_question, previous_answer_quote, previous_answer_words):
        stems = tokenize(word)
        if stems and not have.issuperset(stems) and (known is None or known(word)):
            carried.append(word)
            have.update(stems)
    return carried[:MAX_CARRIED]


def search_query(question: str, previous_question: str | None, previous_answer_quote: str | None,
                 known: Callable[[str], bool] | None = None, previous_answer_words: str | None = None,
                 dictionary: Callable[[str], bool] | None = None) -> str:
    """What to search for: `question` itself, or, for a follow-up, the question followed by the
    words it leaves implicit (see the module's rules). Readable: it is shown to the user. With
    `known` (is a word in the index?) and `dictionary` (is it a word of the reader's dictionary?),
    a short question that brings a rare word of its own stands alone (`_brings_its_own_subject`)."""
    if not previous_question or not any(ch.isalnum() for ch in question) or not is_follow_up(question):
        return question
    if _DEFINITION.fullmatch(question.strip()) and new_names(question, previous_question):
        return question  # "What is Kursk?" names its own subject, however short
    before = f"{previous_question} {previous_answer_quote or ''}"
    if _asks_who_someone_new_is(question, before):
        return question
    if known and dictionary and _brings_its_own_subject(question, before, known, dictionary):
        return question
    carried = carried_words(question, previous_question, previous_answer_quote, known, previous_answer_words)
    return f"{question} {' '.join(carried)}" if carried else question


def _asks_who_someone_new_is(question: str, before: str) -> bool:
    """"who is mark rutte": who someone is, named in words of their own (no stop word, no word that
    points back) that the conversation so far never used."""
    asked = _WHO_IS.fullmatch(question.strip())
    if not asked:
        return False
    words = asked.group(1).split()
    seen = {w.lower() for w in _WORD.findall(before)}
    return (len(content_words(asked.group(1))) == len(words) and not referring(asked.group(1))
            and not any(w.lower().strip("’'.-") in seen for w in words))


def _brings_its_own_subject(question: str, before: str, known: Callable[[str], bool],
                            dictionary: Callable[[str], bool]) -> bool:
    """"what happened in kursk" after "is china involved": a short question that points back at
    nothing and holds a lower-case word the index holds, the reader's dictionary does not (a name
    typed in lower case, or a rare word) and the conversation so far never used names its own
    subject; carrying the previous question's words would search for that one instead."""
    if _points_back(question):
        return False
    seen = set(tokenize(before))
    return any(word.islower() and len(word) >= MIN_RARE_LETTERS and known(word) and not dictionary(word)
               and not set(tokenize(word)) <= seen for word in content_words(question))


def query_after(question: str, previous: dict | None, known: Callable[[str], bool] | None = None,
                dictionary: Callable[[str], bool] | None = None) -> str:
    """`search_query` after the previous answer, given as its JSON (`Answer.as_dict()`): its search
    (so a chain of follow-ups keeps its subject), its first quote and the words that quote's
    citation marks as the answer. A previous question that could not be searched, or none, leaves
    `question` as it is."""
    if not previous or previous.get("error"):
        return question
    quotes = previous.get("answer") or []
    return search_query(question, previous.get("searched_for") or previous.get("question"),
                        quotes[0]["quote"] if quotes else None, known, _answer_words(previous), dictionary)


def _answer_words(previous: dict) -> str | None:
    """The words the previous answer's first quote marks as the answer, from its citation; None
    when it has none (an abstention) or the JSON lacks the offsets."""
    quotes = previous.get("answer") or []
    if not quotes:
        return None
    cited = next((c for c in previous.get("citations") or [] if c.get("n") == quotes[0].get("citation")), None)
    try:
        start = cited["answer_start"] - cited["start"]
        return cited["quote"][start:start + cited["answer_end"] - cited["answer_start"]]
    except (TypeError, KeyError):
        return None
