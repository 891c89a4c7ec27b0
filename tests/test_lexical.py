import numpy as np
from rank_bm25 import BM25Okapi

from qa.ingest.chunking import chunk_document
from qa.ingest.documents import read_folder
from qa.index.lexical import BLOCK, LexicalIndex, TermCounter, TermCounts, count_terms, tokenize, top_k


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


def _shipped_tokens():
    from conftest import SHIPPED_SOURCES

    return [tokenize(c.text) for d in read_folder(SHIPPED_SOURCES)[0] for c in chunk_document(d)]


QUESTIONS = RARE_TERM_QUESTIONS + ("Russia Ukraine war troops", "When did the invasion start?",
                                   "Russia Russia army")


def test_scores_equal_those_of_bm25s_lucene():
    """Our scorer replaced bm25s (to take statistics across segments); on one segment it must give
    bm25s's scores, common words and repeated words included."""
    import bm25s

    tokens = _shipped_tokens()
    reference = bm25s.BM25(method="lucene")
    reference.index([t or ["\x00"] for t in tokens], show_progress=False)
    ours = LexicalIndex.build(tokens)
    for question in QUESTIONS:
        known = [t for t in tokenize(question) if t in reference.vocab_dict]
        np.testing.assert_allclose(ours.scores(question), reference.get_scores(known), rtol=1e-5, atol=1e-6)


def test_segments_with_removed_rows_rank_exactly_like_a_fresh_build():
    """Chunks spread over three segments, some rows of each removed (a changed document's old
    chunks): the same scores, hence rankings, as one index of the remaining chunks."""
    tokens = _shipped_tokens()
    rng = np.random.default_rng(7)
    parts = np.array_split(np.arange(len(tokens)), [10, 25])
    live = [rng.random(len(part)) > 0.3 for part in parts]
    segmented = LexicalIndex([count_terms([tokens[i] for i in part]) for part in parts], live)
    kept = np.concatenate([part[m] for part, m in zip(parts, live)])
    fresh = LexicalIndex.build([tokens[i] for i in kept])
    assert segmented.size == fresh.size == len(kept)
    rows = np.concatenate(live)  # segment rows, in order; only live ones compare
    position = np.cumsum(rows) - 1  # a live row's chunk number in the fresh build
    for question in QUESTIONS:
        np.testing.assert_allclose(segmented.scores(question)[rows], fresh.scores(question), rtol=1e-6)
        assert not segmented.scores(question)[~rows].any()  # removed rows never score
        got = [int(position[i]) for i, _ in segmented.search(question, 5)]
        assert got == [i for i, _ in fresh.search(question, 5)], question


def test_merged_counts_equal_counts_of_the_same_rows(tmp_path):
    tokens = _shipped_tokens()
    first, second = count_terms(tokens[:12]), count_terms(tokens[12:])
    first.save(tmp_path / "first")
    first = TermCounts.load(tmp_path / "first")  # memory-mapped, as an opened index holds it
    merger = TermCounter()
    merger.add_rows(first, np.array([0, 3, 5, 11]))
    merger.add_rows(second, np.arange(second.size))
    merged = LexicalIndex([merger.finish()], [None])
    direct = LexicalIndex.build([tokens[i] for i in [0, 3, 5, 11, *range(12, len(tokens))]])
    for question in QUESTIONS:
        np.testing.assert_allclose(merged.scores(question), direct.scores(question), rtol=1e-6)


def test_search_survives_unknown_words_and_saves(tmp_path):
    index = LexicalIndex.build([tokenize("red apples"), tokenize("green pears"), []])
    assert index.search("zebra", 3) == []
    count_terms([tokenize("red apples"), tokenize("green pears"), []]).save(tmp_path / "terms")
    loaded = LexicalIndex([TermCounts.load(tmp_path / "terms")], [None])
    assert [i for i, _ in loaded.search("pears", 3)] == [1]


def test_top_k_by_blocks_equals_a_full_sort():
    """At a million rows top_k looks only into the blocks that can hold the best scores: the same
    rows, in the same order (ties by row), as sorting everything, with many ties and zeros."""
    rng = np.random.default_rng(3)
    for n in (1_000_000, 300 * BLOCK + 17, 5_000):
        scores = np.round(rng.random(n).astype(np.float32) * 20) / 4  # 81 values: ties everywhere
        scores[rng.random(n) < 0.8] = 0  # most rows share no word with the question
        for k in (1, 10, 50):
            order = np.lexsort((np.arange(n), -scores))
            expected = [int(i) for i in order[:k] if scores[i] > 0]
            assert top_k(scores, k).tolist() == expected, (n, k)
    sparse = np.zeros(200 * BLOCK, dtype=np.float32)
    sparse[[5, 70_000, 150_000]] = [1.0, 3.0, 1.0]
    assert top_k(sparse, 10).tolist() == [70_000, 5, 150_000]  # fewer positive rows than k
    assert top_k(np.zeros(200 * BLOCK, dtype=np.float32), 10).tolist() == []


def test_knows_a_word_only_while_a_live_row_holds_it():
    first = count_terms([tokenize("Kites fly in steady wind"), tokenize("Owls hunt voles")])
    second = count_terms([tokenize("Gliders need rising air")])
    both = LexicalIndex([first, second], [None, None])
    assert both.knows("kite") and both.knows("Owls") and both.knows("gliders")
    assert not both.knows("Kadamba") and not both.knows("the")  # unknown, and a stop word
    without_owls = LexicalIndex([first, second], [np.array([True, False]), None])
    assert not without_owls.knows("owls") and without_owls.knows("wind")
    assert without_owls.frequency(tokenize("owls")[0]) == 0
