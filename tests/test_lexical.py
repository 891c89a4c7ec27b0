from rank_bm25 import BM25Okapi

from qa.chunking import chunk_document
from qa.documents import read_folder
from qa.lexical import LexicalIndex, tokenize


def test_tokenize_stems_drops_stopwords_and_keeps_numbers():
    assert tokenize("How many troops were killed? Some 12,000 troops.") == [
        "mani", "troop", "kill", "12,000", "troop"]


RARE_TERM_QUESTIONS = ("How many soldiers are recruited each month?", "Wagner mercenary group rebellion",
                       "naval transport ships far east", "Who is the top commander in the Pacific?",
                       "nonlethal aid policy", "human trafficking network in Cuba")


def test_bm25s_ranks_like_rank_bm25_on_the_shipped_sources():
    """bm25s replaces the rank-bm25 the user named, for speed; both must rank alike.

    They differ only in the IDF of a word found in more than half of the chunks, which rank-bm25
    floors at a quarter of the mean IDF and Lucene's IDF keeps positive; these questions avoid such words.
    """
    from conftest import SHIPPED_SOURCES

    chunks = [c for d in read_folder(SHIPPED_SOURCES)[0] for c in chunk_document(d)]
    tokens = [tokenize(c.text) for c in chunks]
    ours = LexicalIndex.build(tokens)
    reference = BM25Okapi(tokens, k1=1.5, b=0.75)
    for question in RARE_TERM_QUESTIONS:
        scores = reference.get_scores(tokenize(question))
        expected = [i for i in sorted(range(len(chunks)), key=lambda i: -scores[i]) if scores[i] > 0][:5]
        got = [i for i, _ in ours.search(question, 5)]
        assert got == expected, question


def test_search_survives_unknown_words_and_saves(tmp_path):
    index = LexicalIndex.build([tokenize("red apples"), tokenize("green pears"), []])
    assert index.search("zebra", 3) == []
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert [i for i, _ in loaded.search("pears", 3)] == [1]
