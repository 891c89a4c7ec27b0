"""The shipped reader: loads offline from the installed package, prefers the sentence that
answers, and marks answer words inside it."""

from __future__ import annotations

import numpy as np
import pytest

from qa.read.answer import load_reader_ahead, shared_reader
from qa.read.reader import (LANE_PATIENCE, MAX_LANES, MODEL_DIR, Encoded, Reader, ReaderUnavailable, combine, covering_span,
                            encode_pairs, scored_span, trim_edges)
from qa.sessions import cores

PARAGRAPH = ("The Normans were the people who in the 10th and 11th centuries gave their name to "
             "Normandy, a region in France. They were descended from Norse raiders and pirates from "
             "Denmark, Iceland and Norway. Their identity emerged initially in the first half of the "
             "10th century.")


@pytest.fixture(scope="module")
def reader() -> Reader:
    return shared_reader()


def test_the_reader_ships_inside_the_package():
    assert (MODEL_DIR / "reader-int8.onnx").is_file() and (MODEL_DIR / "tokenizer.json").is_file()
    assert MODEL_DIR.parent.parent.name == "qa"
    assert 0 < Reader().card["abstain_below"] < 1


def test_answering_sentence_ranks_above_a_same_paragraph_distractor(reader):
    sentences = ["They were descended from Norse raiders and pirates from Denmark, Iceland and Norway.",
                 "Their identity emerged initially in the first half of the 10th century."]
    contexts = ["The Normans were the people who gave their name to Normandy. ", ""]
    answer, distractor = reader.read("From which countries did the Norse raiders come?", sentences, contexts)
    assert answer.score > distractor.score
    shown = sentences[0][answer.answer_start:answer.answer_end]
    assert any(country in shown for country in ("Denmark", "Iceland", "Norway")) and len(shown) < len(sentences[0])


def test_spans_lie_inside_their_sentence_and_keep_whole_words(reader):
    sentences = [PARAGRAPH[:100], PARAGRAPH[100:190], "", "a", "ünïcödé — 朝鲜军队 " * 40]
    for sentence, reading in zip(sentences, reader.read("Where is Normandy?", sentences)):
        assert 0 <= reading.answer_start <= reading.answer_end <= len(sentence)
        assert 0.0 <= reading.score <= 1.0


def test_trim_edges_drops_what_clutters_a_span_but_keeps_what_belongs_to_it():
    text = 'It used a "translating device" (a TD), said the U.S. Army; then it ended.'

    def shown(words: str) -> str:  # the words as whole-word span, trimmed
        start = text.index(words)
        return text[slice(*trim_edges(text, start, start + len(words)))]

    assert shown('a "translating device"') == 'a "translating device"'  # the quotation's partner is inside
    assert shown('"translating') == "translating"  # an opening quotation mark without its partner goes
    assert shown("(a TD),") == "(a TD)"  # the bracket's partner is inside; the comma goes
    assert shown("TD),") == "TD"  # a closing bracket without its partner goes
    assert shown("U.S. Army;") == "U.S. Army"  # the semicolon goes
    assert shown("the U.S.") == "the U.S."  # an abbreviation keeps its full stop
    assert shown("it ended.") == "it ended"  # the sentence's full stop goes
    assert trim_edges(text, 5, 5) == (5, 5) and trim_edges(",", 0, 1) == (0, 1)
    rain = "It gets less than 200 mm (7.9 in) of rain (a desert climate by any measure)."

    def shown_in_rain(words: str) -> str:
        start = rain.index(words)
        return rain[slice(*trim_edges(rain, start, start + len(words)))]

    assert shown_in_rain("200 mm (7.9") == "200 mm (7.9 in)"  # an open bracket takes its partner nearby
    assert shown_in_rain("of rain (a desert") == "of rain"  # or, when that is far, the span stops before it
    said = "He said “the United States needs to consider taking military action.”"
    start = said.index("taking")
    # The full stop ends the sentence inside its quotation: it goes, as does the unpartnered mark.
    assert said[slice(*trim_edges(said, start, len(said)))] == "taking military action"
    assert said[slice(*trim_edges(said, start, len(said) - 1))] == "taking military action"


def encoded_words(text: str, first: int = 2) -> Encoded:
    """An encoding of `text` with one token a word, after `first` question tokens."""
    import re

    offsets = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    return Encoded(ids=[0] * (first + len(offsets) + 1), type_ids=[0] * (first + len(offsets) + 1),
                   first=first, offsets=offsets)


def test_the_covering_span_takes_the_words_that_hold_the_answer_under_either_reading():
    # The model is torn between "Roads" (start there, 0.45) and "The Roads" (start one word
    # earlier, 0.40), ending on "Roads" either way: the best single span is "Roads", which cuts
    # the answer short under the second reading; the covering span holds both.
    text = "He wrote The Roads in 1850."
    encoded = encoded_words(text)
    starts = np.full(len(encoded.ids), -20.0)
    ends = np.full(len(encoded.ids), -20.0)
    starts[2 + 2], starts[2 + 3] = np.log(0.40), np.log(0.45)  # "The", "Roads"
    ends[2 + 3] = 0.0  # "Roads"
    assert text[slice(*scored_span(starts, ends, encoded)[:2])] == "Roads"
    assert text[slice(*covering_span(text, starts, ends, encoded))] == "The Roads"
    # A word that brings less probability than it costs is left out, however slack the test.
    starts[2 + 2] = np.log(0.01)
    assert text[slice(*covering_span(text, starts, ends, encoded, word_cost=0.05))] == "Roads"
    # The sentence's full stop is not shown even when the answer ends the sentence.
    starts[2 + 2], ends[2 + 3], ends[2 + 5] = -20.0, -20.0, 0.0
    assert text[slice(*covering_span(text, starts, ends, encoded))] == "Roads in 1850"


def test_the_covering_span_follows_word_pieces_to_whole_words():
    text = "the recruiting of soldiers"
    pieces = Encoded(ids=[0] * 8, type_ids=[0] * 8, first=2, offsets=[(0, 3), (4, 6), (6, 10), (10, 14), (15, 17)])
    starts, ends = np.full(8, -20.0), np.full(8, -20.0)
    starts[2 + 2], ends[2 + 2] = 0.0, 0.0  # the piece "crui" alone
    assert text[slice(*covering_span(text, starts, ends, pieces))] == "recruiting"
    assert covering_span("", starts, ends, Encoded([0] * 3, [0] * 3, 2, [])) == (0, 0)
    for words in ("one", "one two", "one two three"):  # no more words than the slack: all of them
        flat = np.zeros(len(encoded_words(words).ids))
        assert covering_span(words, flat, flat, encoded_words(words)) == (0, len(words))


def test_lanes_side_by_side_read_as_one_session_does():
    question = "Who confirmed that North Korea is sending troops to Russia?"
    sentences = [f"Sentence {n}: Lloyd Austin confirmed it on day {n}." * (1 + n % 3) for n in range(7)]
    one, two = Reader(lanes=1), Reader(lanes=2)
    alone = two.outputs(question, sentences)
    assert not two._lanes._open  # a process's first question reads on the main session: opening costs what lanes save
    for _ in range(LANE_PATIENCE // len(sentences)):
        two.outputs(question, sentences)
    shared = two.outputs(question, sentences)
    assert len(two._lanes._open) == 2 and not one._lanes._open and not one.lanes()  # now shared between two sessions
    assert all(a[1] == s[1] for a, s in zip(alone, shared))
    for (pair, logit, starts, ends), (pair1, logit1, starts1, ends1) in zip(shared, one.outputs(question, sentences)):
        assert pair == pair1 and logit == logit1  # the same to the bit: each pair still runs alone
        assert np.array_equal(starts, starts1) and np.array_equal(ends, ends1)
    assert two.read(question, sentences[:1]) == one.read(question, sentences[:1])  # one pair: the main session


def test_a_failing_reader_lane_raises_in_the_caller():
    reader = Reader(lanes=2)
    sentences = ["Lloyd Austin confirmed it.", "It was Tuesday.", "Nobody else did."]
    reader.lanes()  # opened now, as after a few questions

    class Broken:
        def run(self, *args):
            raise RuntimeError("lane broke")

    reader.lanes()[1] = Broken()
    with pytest.raises(RuntimeError, match="lane broke"):
        reader.outputs("Who confirmed it?", sentences)


def test_qa_ask_loads_the_reader_ahead_with_its_lanes_open(tmp_path):
    load_reader_ahead(tmp_path).join()  # no model there: nothing is raised in the thread...
    with pytest.raises(ReaderUnavailable, match="train_reader"):
        shared_reader(tmp_path)  # ...but where answers load it, with its message
    load_reader_ahead(None).join()
    lanes = min(cores(), MAX_LANES)
    assert len(shared_reader(None)._lanes._open) == (lanes if lanes > 1 else 0)  # the first question shares them


def test_long_inputs_are_cut_to_the_model_limit(reader):
    [encoded] = encode_pairs(reader.tokenizer, "why " * 100, ["word " * 300], ["before " * 100])
    assert len(encoded.ids) <= 128 and encoded.ids[encoded.first - 1] == reader.tokenizer.token_to_id("[SEP]")


def test_a_missing_model_says_how_to_get_one(tmp_path):
    with pytest.raises(ReaderUnavailable, match="train_reader"):
        Reader(tmp_path)


def test_the_best_single_span_and_its_score():
    # Four one-letter tokens "a b c d" after two question tokens: the span a…d scores 6, against
    # 5.5 for "a" alone.
    encoded = Encoded(ids=[0] * 8, type_ids=[0] * 8, first=2, offsets=[(0, 1), (2, 3), (4, 5), (6, 7)])
    starts = np.array([0, 0, 3.0, 0, 0, 0, 0, 0])
    ends = np.array([0, 0, 2.5, 0, 0, 3.0, 0, 0])
    assert scored_span(starts, ends, encoded) == (0, 7, 6.0)


def test_combine_weighs_the_passage_rank_and_span_score_only_when_fitted_with_them():
    logit, cosine, overlap = np.array([1.0, 2.0]), np.array([0.5, 0.1]), np.array([0.2, 0.4])
    ranks, span = np.array([1, 4]), np.array([3.0, 8.0])
    three = {"bias": -1.0, "reader": 0.5, "cosine": 2.0, "overlap": 1.0}
    z = -1.0 + 0.5 * logit + 2.0 * cosine + 1.0 * overlap
    # Weights without the two terms ignore ranks and span scores (a card fitted before them).
    assert np.allclose(combine(three, logit, cosine, overlap, ranks, span), 1 / (1 + np.exp(-z)))
    five = {**three, "passage": 1.5, "span": 0.1}
    z5 = z + 1.5 / ranks + 0.1 * span
    assert np.allclose(combine(five, logit, cosine, overlap, ranks, span), 1 / (1 + np.exp(-z5)))
    # Without ranks or span scores (a sentence read outside retrieval), those terms are left out.
    assert np.allclose(combine(five, logit, cosine, overlap), 1 / (1 + np.exp(-z)))


def test_a_reading_carries_its_best_span_score_when_the_combination_weighs_it():
    sentence = "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway."
    question = "From which countries did the Norse originate?"
    reader = Reader()
    assert "span" not in reader.card["combine"] and reader.read(question, [sentence])[0].span_score == 0.0
    reader.card = {**reader.card, "combine": {**reader.card["combine"], "span": 0.1}}
    (pair, _, starts, ends), = reader.outputs(question, [sentence])
    reading, = reader.read(question, [sentence])
    assert reading.span_score == pytest.approx(scored_span(starts, ends, pair)[2])

