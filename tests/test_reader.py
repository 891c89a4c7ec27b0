"""The shipped reader: loads offline from the installed package, prefers the sentence that
answers, and marks answer words inside it."""

from __future__ import annotations

import numpy as np
import pytest

from qa.answer import shared_reader
from qa.reader import (MODEL_DIR, Encoded, Reader, ReaderUnavailable, best_span, combine, encode_pairs,
                       scored_span, whole_words)

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


def test_whole_words_widens_a_word_piece_span():
    text = "the recruiting of soldiers"
    assert whole_words(text, 7, 13) == (4, 14)  # "cruiti" → "recruiting"
    assert whole_words(text, 0, 3) == (0, 3)


def test_whole_words_takes_the_partner_of_a_quotation_mark_or_bracket_the_span_opens():
    text = 'It used a "translating device" (a TD) to read.'
    assert text[slice(*whole_words(text, 8, 29))] == 'a "translating device"'
    assert text[slice(*whole_words(text, 11, 30))] == '"translating device"'
    assert text[slice(*whole_words(text, 31, 35))] == "(a TD)"
    assert text[slice(*whole_words(text, 32, 37))] == "(a TD)"
    assert text[slice(*whole_words(text, 34, 37))] == "TD)"  # its partner is not beside it
    assert text[slice(*whole_words(text, 23, 29))] == "device"
    assert text[slice(*whole_words(text, 10, 29))] == '"translating device"'


def test_long_inputs_are_cut_to_the_model_limit(reader):
    [encoded] = encode_pairs(reader.tokenizer, "why " * 100, ["word " * 300], ["before " * 100])
    assert len(encoded.ids) <= 128 and encoded.ids[encoded.first - 1] == reader.tokenizer.token_to_id("[SEP]")


def test_a_missing_model_says_how_to_get_one(tmp_path):
    with pytest.raises(ReaderUnavailable, match="train_reader"):
        Reader(tmp_path)


def test_a_length_penalty_prefers_the_shorter_of_two_close_spans():
    # Four one-letter tokens "a b c d" after two question tokens: the span a…d scores 6 without a
    # penalty, against 5.5 for "a" alone; at 0.2 a token, a…d costs 0.6 and "a" wins.
    encoded = Encoded(ids=[0] * 8, type_ids=[0] * 8, first=2, offsets=[(0, 1), (2, 3), (4, 5), (6, 7)])
    starts = np.array([0, 0, 3.0, 0, 0, 0, 0, 0])
    ends = np.array([0, 0, 2.5, 0, 0, 3.0, 0, 0])
    assert best_span(starts, ends, encoded) == (0, 7)
    assert best_span(starts, ends, encoded, length_penalty=0.2) == (0, 1)
    assert scored_span(starts, ends, encoded) == (0, 7, 6.0)
    assert scored_span(starts, ends, encoded, length_penalty=0.2) == (0, 1, 5.5)


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
