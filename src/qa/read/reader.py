"""The reader: a cross-encoder trained here that reads (question, sentence) and says how likely
the sentence answers the question, and which of its words are the answer.

It is all-MiniLM-L6-v2 fine-tuned on SQuAD 1.1 (`training/train_reader.py`) with two heads: a
relevance logit from the [CLS] token and start/end logits over the sentence's tokens. It ships in
the package as int8 ONNX with its tokenizer and runs in ONNX Runtime; nothing is downloaded.

The encoding (`encode_pairs`) is shared with training, so the model sees at run time exactly the
inputs it was trained on: [CLS] question [SEP] sentence [SEP] preceding words [SEP].
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.errors import UserError
from qa.sessions import Lanes, cores, open_session, side_by_side

MODEL_DIR = Path(__file__).parents[1] / "models" / "reader"
MODEL_FILE = "reader-int8.onnx"

QUESTION_TOKENS = 40  # questions longer than this are cut (the start carries the question word)
CONTEXT_TOKENS = 24  # words just before the sentence: who "he" is, what "it" refers to
MAX_TOKENS = 128  # question, sentence and context in one input, as in training
MAX_ANSWER_TOKENS = 30  # an answer span longer than this is a sentence, not an answer
CONTEXT_CHARS = 160  # characters before the sentence that may hold those tokens
SPAN_EXTRA_WORDS = 3  # a shown span may be this much longer than the answer it holds (span@1's slack)
MAX_ANSWER_WORDS = 25  # the same bound on spans counted in words
MAX_LANES = 4  # one-thread sessions that read a question's sentences side by side, at most
LANE_MIN = 2  # pairs a call needs before its pairs are shared among them
LANE_PATIENCE = 48  # pairs read on the main session before the others open (about three questions)
SPAN_WORD_COST = 0.02  # the covering span's cost of a word, where the model card has none fitted
WORD = re.compile(r"\S+")


class ReaderUnavailable(UserError):
    """The reader model is not where qa was told to find it, or cannot be loaded from there."""


@dataclass(frozen=True)
class Encoded:
    ids: list[int]
    type_ids: list[int]
    first: int  # index of the sentence's first token
    offsets: list[tuple[int, int]]  # character span in the sentence of each sentence token


@dataclass(frozen=True)
class Reading:
    score: float  # probability that the sentence answers the question
    answer_start: int  # the answer's characters within the sentence
    answer_end: int
    logit: float = 0.0  # the cross-encoder's own relevance logit
    span_score: float = 0.0  # its best span's start + end logit, unpenalised (0 unless the combination weighs it)


def content_keys(text: str) -> set[str]:
    """The text's content words as BM25 tokenizes them, stems cut to four letters (numbers whole)."""
    from qa.index.lexical import tokenize

    return {t if t[0].isdigit() else t[:4] for t in tokenize(text)}


def word_overlap(question: str, sentences: list[str]) -> list[float]:
    """Share of the question's content words (IDF-weighted over these sentences) in each sentence;
    stems cut to four letters, so that "invaded" meets "invasion"."""
    wanted, sets = content_keys(question), [content_keys(s) for s in sentences]
    if not wanted:
        return [0.0] * len(sentences)
    idf = {t: math.log(1 + len(sets) / (1 + sum(t in ts for ts in sets))) for t in wanted}
    total = sum(idf.values())
    return [sum(idf[t] for t in wanted & ts) / total for ts in sets]


def combine(weights: dict, logit: np.ndarray, cosine: np.ndarray, overlap: np.ndarray,
            ranks: np.ndarray | None = None, span: np.ndarray | None = None) -> np.ndarray:
    """The answer probability from the pieces of evidence, weighted by a logistic regression
    fitted on held-out SQuAD questions (`train_reader.py fit-combiner`): the reader's logit, the
    embedding model's cosine similarity, the shared words, and, when the weights have them, the
    retrieval rank of the sentence's passage (as 1/rank) and the reader's best span score."""
    z = (weights["bias"] + weights["reader"] * np.asarray(logit) + weights["cosine"] * np.asarray(cosine)
         + weights["overlap"] * np.asarray(overlap))
    z = z + passage_term(weights, ranks, len(z))
    if weights.get("span") and span is not None:
        z = z + weights["span"] * np.asarray(span)
    return 1 / (1 + np.exp(-z))


def passage_term(weights: dict, ranks, n: int) -> np.ndarray:
    """The passage rank's part of the combination: `weights["passage"]` / rank (0 without it)."""
    if not weights.get("passage") or ranks is None:
        return np.zeros(n)
    return weights["passage"] / np.asarray(ranks, dtype=float)


def load_tokenizer(path: Path):
    """The model's word-piece tokenizer, without the padding and truncation its file may set:
    `encode_pairs` cuts and pads, the same way in training and at run time."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def preceding_context(text: str, paragraph_start: int, start: int) -> str:
    """The words just before `start` in its paragraph: the context the reader sees."""
    return text[max(paragraph_start, start - CONTEXT_CHARS):start]


def encode_pairs(tokenizer, question: str, sentences: list[str], contexts: list[str]) -> list[Encoded]:
    """[CLS] question [SEP] sentence [SEP] context [SEP], cut to MAX_TOKENS; the context keeps its
    last words, the sentence its first ones."""
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    q_ids = tokenizer.encode(question, add_special_tokens=False).ids[:QUESTION_TOKENS]
    sentence_encodings = tokenizer.encode_batch(sentences, add_special_tokens=False)
    context_encodings = tokenizer.encode_batch(contexts, add_special_tokens=False)
    encoded = []
    for s, c in zip(sentence_encodings, context_encodings):
        c_ids = c.ids[-CONTEXT_TOKENS:] if c.ids else []
        room = MAX_TOKENS - len(q_ids) - len(c_ids) - 4
        s_ids, offsets = s.ids[:room], [tuple(o) for o in s.offsets[:room]]
        ids = [cls, *q_ids, sep, *s_ids, sep, *c_ids, sep]
        type_ids = [0] * (len(q_ids) + 2) + [1] * (len(s_ids) + len(c_ids) + 2)
        encoded.append(Encoded(ids, type_ids, len(q_ids) + 2, offsets))
    return encoded


def pad_batch(batch: list[Encoded]) -> dict[str, np.ndarray]:
    """The model's inputs for a batch, padded to its longest pair."""
    width = max(len(e.ids) for e in batch)
    ids = np.zeros((len(batch), width), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for row, e in enumerate(batch):
        ids[row, :len(e.ids)] = e.ids
        types[row, :len(e.ids)] = e.type_ids
        mask[row, :len(e.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def scored_span(start_logits: np.ndarray, end_logits: np.ndarray, encoded: Encoded) -> tuple[int, int, float]:
    """Character span (in the sentence) of the single best-scoring answer and its score (start +
    end logit): start <= end, at most MAX_ANSWER_TOKENS tokens, both inside the sentence. The
    score is a feature of the combination; the span shown is `covering_span`'s."""
    n = len(encoded.offsets)
    if n == 0:
        return 0, 0, 0.0
    starts = start_logits[encoded.first:encoded.first + n]
    ends = end_logits[encoded.first:encoded.first + n]
    length = np.arange(n)[None, :] - np.arange(n)[:, None]
    pair = np.where((length >= 0) & (length < MAX_ANSWER_TOKENS), starts[:, None] + ends[None, :], -np.inf)
    i, j = np.unravel_index(int(np.argmax(pair)), pair.shape)
    return encoded.offsets[i][0], encoded.offsets[j][1], float(pair[i, j])


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def covering_span(sentence: str, start_logits: np.ndarray, end_logits: np.ndarray, encoded: Encoded,
                  word_cost: float = SPAN_WORD_COST, slack: int = SPAN_EXTRA_WORDS) -> tuple[int, int]:
    """Character span (in the sentence) of the whole words most likely to hold the entire answer
    with at most `slack` words to spare, less `word_cost` a word.

    The start and end logits give a distribution over answer spans, P(s, e) = p_start(s) p_end(e)
    on the sentence's words (s <= e, at most MAX_ANSWER_WORDS). The best single span (`scored_span`)
    often cuts an answer short ("Roads" for "The Roads", "PAL" for "PAL LaserDiscs"), because
    the model's belief is split between readings that differ by a word or two. A shown span
    [a, b] holds the answer whenever the answer is [a + i, b - j] with i + j <= slack, so its
    worth is the sum of those few probabilities; the word cost makes it grow only where a word
    brings at least that much probability. Measured on 600 unseen SQuAD training questions'
    answering sentences (stage 4 reader): span@1 0.613 with the best span (its length penalty
    0.05 a token), 0.715 with this at word cost 0.02."""
    words = [(m.start(), m.end()) for m in WORD.finditer(sentence)]
    n = len(encoded.offsets)
    if n == 0 or not words:
        return 0, 0
    count = len(words)
    token_word = np.minimum(np.searchsorted([e for _, e in words], [a for a, _ in encoded.offsets], side="right"),
                            count - 1)
    p_start = np.bincount(token_word, softmax(start_logits[encoded.first:encoded.first + n]), minlength=count)
    p_end = np.bincount(token_word, softmax(end_logits[encoded.first:encoded.first + n]), minlength=count)
    length = np.arange(count)[None, :] - np.arange(count)[:, None]  # b - a, in words less one
    allowed = (length >= 0) & (length < MAX_ANSWER_WORDS)
    spans = np.where(allowed, p_start[:, None] * p_end[None, :], 0.0)
    spans /= max(spans.sum(), 1e-12)
    held = np.zeros_like(spans)
    for i in range(min(slack, count - 1) + 1):  # held[a, b] = sum of spans[a + i, b - j] over i + j <= slack
        for j in range(min(slack - i, count - 1) + 1):
            held[:count - i, j:] += spans[i:, :count - j]
    worth = np.where(allowed, held - word_cost * (length + 1), -np.inf)
    a, b = np.unravel_index(int(np.argmax(worth)), worth.shape)
    return trim_edges(sentence, words[a][0], words[b][1])


TRAILING = ",;:"
PAIRS = (("(", ")"), ("[", "]"), ("“", "”"))
OPENING = dict(PAIRS)
CLOSING = {closing: opening for opening, closing in PAIRS}
SENTENCE_CLOSERS = ')]”’"\' \t\n'  # what may follow a sentence's full stop: a quotation or bracket it ends


def trim_edges(text: str, start: int, end: int) -> tuple[int, int]:
    """Whole words shown without what only clutters their edges: a trailing comma, semicolon or
    colon, the sentence's full stop (also before a closing quotation mark or bracket; not an
    abbreviation's: "U.S."), and a quotation mark or bracket whose partner is not inside the span."""
    while end - start > 1:
        span = text[start:end]
        first, last = span[0], span[-1]
        if last in TRAILING or (last == "." and not text[end:].strip(SENTENCE_CLOSERS)
                                and span.split()[-1].count(".") == 1):
            end -= 1
        elif first in OPENING and span.count(first) > span.count(OPENING[first]):
            start += 1
        elif last in CLOSING and span.count(last) > span.count(CLOSING[last]):
            end -= 1
        elif span.count('"') % 2 and '"' in (first, last):
            start, end = (start + 1, end) if first == '"' else (start, end - 1)
        else:
            break
    return close_brackets(text, start, end)


def close_brackets(text: str, start: int, end: int) -> tuple[int, int]:
    """A bracket the span opens inside and leaves open ("200 mm (7.9") takes its partner when
    that is at most a few words on ("200 mm (7.9 in)"); otherwise the span stops before it."""
    for opening, closing in PAIRS:
        span = text[start:end]
        if span.count(opening) > span.count(closing):
            at = start + span.rindex(opening)
            partner = text.find(closing, end)
            if partner != -1 and len(text[end:partner].split()) <= 3 and opening not in text[end:partner]:
                end = partner + 1
            elif text[start:at].strip():
                end = start + len(text[start:at].rstrip())
    return start, end


class Reader:
    """The shipped reader, loaded once per process."""

    def __init__(self, folder: Path = MODEL_DIR, threads: int | None = None, lanes: int | None = None) -> None:
        folder = Path(folder)
        if not (folder / MODEL_FILE).exists():
            raise ReaderUnavailable(f"no reader model in {folder} ({MODEL_FILE} is missing): give a folder "
                                    f"that training/train_reader.py export wrote, or reinstall qa "
                                    f"(pip install -e .) for the shipped one")
        self._file = folder / MODEL_FILE
        # A question's sentences are read one at a time (see `outputs`), which leaves a session's
        # second thread little to share: one-thread sessions side by side, each reading its share,
        # answer sooner (qa.sessions). The main session, one-thread too, is the first; the others open
        # once the process has read a few questions (qa.sessions.Lanes). `threads` keeps one session.
        count = 1 if threads else max(1, min(lanes or cores(), MAX_LANES))
        try:
            self._session = open_session(self._file, threads or (1 if count > 1 else None))
            self._lanes = Lanes(self._session, count, lambda: open_session(self._file, 1), LANE_PATIENCE)
            self.tokenizer = load_tokenizer(folder / "tokenizer.json")
            self.card = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
            if not isinstance(self.card, dict):
                raise ValueError("reader.json holds no JSON object")
        except Exception as error:  # onnxruntime, tokenizers and json each fail in their own way
            why = " ".join(str(error).split())[:200]
            raise ReaderUnavailable(f"the reader model in {folder} cannot be loaded ({type(error).__name__}: {why}): "
                                    f"give a folder that training/train_reader.py export wrote, or reinstall qa "
                                    f"(pip install -e .) for the shipped one") from error

    def select(self, question: str, sentences: list[str], contexts: list[str], cosine,
               overlap=None, ranks=None) -> list[Reading]:
        """`read`, with each score the combined answer probability (`combine`) when the model
        card has combination weights; `cosine`: each sentence's similarity to the question;
        `overlap`: its `word_overlap`, when already computed over all the candidates; `ranks`: the
        retrieval rank of each sentence's passage (None: not weighed)."""
        readings = self.read(question, sentences, contexts)
        weights = self.card.get("combine")
        if not weights or not readings:
            return readings
        overlap = word_overlap(question, sentences) if overlap is None else overlap
        scores = combine(weights, [r.logit for r in readings], cosine, overlap, ranks,
                         [r.span_score for r in readings])
        return [replace(r, score=float(p)) for r, p in zip(readings, scores)]

    def prescore(self, cosine, overlap, ranks=None) -> np.ndarray:
        """What the combination (`combine`) makes of each sentence before the reader reads it: the
        cosine, shared-words and passage rank terms, to choose which sentences are worth reading."""
        weights = self.card.get("combine") or {"cosine": 1.0, "overlap": 1.0}
        return (weights["cosine"] * np.asarray(cosine) + weights["overlap"] * np.asarray(overlap)
                + passage_term(weights, ranks, len(cosine)))

    def outputs(self, question: str, sentences: list[str], contexts: list[str] | None = None):
        """The model's own outputs for each sentence, in the order given: (its encoding, the
        relevance logit, the start and end logits over the pair's tokens)."""
        if not sentences:
            return []
        contexts = contexts if contexts is not None else [""] * len(sentences)
        # One pair a run. The int8 model quantizes a run's activations with one scale for the whole
        # batch, so in a batch a sentence's score would depend on the sentences read with it (and
        # on their padding); alone it does not, and nothing is padded. It was also the fastest on
        # busy 2 cores: 95 ms for 26 pairs, against 105 ms in batches of 8 and 200 ms in batches of 32.
        pairs = encode_pairs(self.tokenizer, question, sentences, contexts)
        results: list = [None] * len(pairs)

        def read(session, which: range) -> None:
            for i in which:
                relevance, starts, ends = session.run(None, pad_batch([pairs[i]]))
                results[i] = (pairs[i], float(relevance[0]), starts[0], ends[0])

        lanes = self._lanes.for_call(len(pairs)) if len(pairs) >= LANE_MIN else []
        if len(lanes) > 1:
            side_by_side(len(lanes), lambda k: read(lanes[k], range(k, len(pairs), len(lanes))))
        else:
            read(self._session, range(len(pairs)))
        return results

    def knows_word(self, word: str) -> bool:
        """Whether `word` is one of the reader's own word pieces: a word of its dictionary."""
        return self.tokenizer.token_to_id(word.lower()) is not None

    def lanes(self) -> list:
        """The one-thread sessions that share a call's pairs, opened now if they are not yet; none
        where there is a single lane."""
        return self._lanes.opened()

    def read(self, question: str, sentences: list[str], contexts: list[str] | None = None) -> list[Reading]:
        """One `Reading` per sentence, in the order given."""
        word_cost = float(self.card.get("span_word_cost", SPAN_WORD_COST))
        # The best span's score is only worth a second pass when the combination weighs it.
        weighs_span = bool((self.card.get("combine") or {}).get("span"))
        readings = []
        for sentence, (pair, logit, starts, ends) in zip(sentences, self.outputs(question, sentences, contexts)):
            start, end = covering_span(sentence, starts, ends, pair, word_cost)
            readings.append(Reading(float(1 / (1 + np.exp(-logit))), start, end, logit=logit,
                                    span_score=scored_span(starts, ends, pair)[2] if weighs_span else 0.0))
        return readings
