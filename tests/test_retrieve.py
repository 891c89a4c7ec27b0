import pytest

from qa.config import Settings
from qa.index.store import Index
from qa.retrieve import fuse_rankings, ranking_confidence, reciprocal_rank_fusion, weighted_fusion


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert max(fused, key=fused.get) == 1
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[4] == pytest.approx(1 / 63)


def test_weighted_fusion_normalises_each_retriever():
    fused = weighted_fusion([[(1, 10.0), (2, 5.0), (3, 0.0)], [(3, 0.9), (2, 0.5), (1, 0.1)]], [0.5, 0.5])
    assert fused[1] == pytest.approx(0.5) and fused[3] == pytest.approx(0.5)
    assert fused[2] == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)


def test_ranking_confidence_is_how_far_the_best_stands_out():
    assert ranking_confidence([9.0, 1.0, 1.0, 1.0]) == pytest.approx(3 ** 0.5)  # (9 - 3) / sqrt(12)
    assert ranking_confidence([4.0, 3.0, 2.0, 1.0]) < ranking_confidence([9.0, 1.0, 1.0, 1.0])
    assert ranking_confidence([0.5, 0.5, 0.5]) == 1.0 and ranking_confidence([2.0, 1.0]) == 1.0


def test_a_confident_retriever_outweighs_an_even_one():
    # BM25 has one clear winner (item 1); dense ranks item 2 first by a hair among even scores.
    bm25 = [(1, 20.0)] + [(n, 2.0 - 0.01 * n) for n in range(2, 20)]
    dense = [(n, 0.60 - 0.001 * n) for n in range(2, 20)] + [(1, 0.55)]
    fixed = fuse_rankings(bm25, dense, Settings(dense_weight=0.6, confidence_power=0.0))
    scaled = fuse_rankings(bm25, dense, Settings(dense_weight=0.6, confidence_power=2.0))
    assert fixed[0][0] == 2 and scaled[0][0] == 1
    # Equal confidence leaves the weights as they are.
    same = weighted_fusion([[(1, 3.0), (2, 2.0), (3, 1.0)], [(3, 3.0), (2, 2.0), (1, 1.0)]], [0.25, 0.75], 2.0)
    assert same[3] == pytest.approx(0.75) and same[1] == pytest.approx(0.25)


def test_fusion_ties_go_to_the_dense_favourite():
    ranked = fuse_rankings([(7, 3.0)], [(8, 0.9)], Settings(fusion="rrf"))
    assert [item for item, _ in ranked] == [8, 7]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
@pytest.mark.parametrize("question, source", [
    ("How many soldiers does Russia recruit each month?", "003_5763b751aeba3d4f.txt"),
    ("Which mercenary group nearly rebelled against Moscow?", "003_5763b751aeba3d4f.txt"),
    ("Who is the U.S. Army's top commander in the Pacific?", "000_98eda58b59ac3056.txt"),
    ("What did Cuba accuse Moscow of operating?", "000_98eda58b59ac3056.txt"),
])
def test_each_mode_finds_the_right_document(retriever, mode, question, source):
    hits = retriever.search(question, mode=mode, k=3)
    assert hits[0].chunk.source == source
    assert [h.rank for h in hits] == [1, 2, 3]


def test_hits_say_why_they_were_chosen(retriever):
    hits = retriever.search("How many soldiers does Russia recruit each month?", mode="hybrid", k=5)
    top = hits[0]
    assert "25,000 to 30,000" in top.chunk.text
    assert top.bm25_rank is not None and top.dense_rank is not None
    assert top.dense_score > 0.3 and top.bm25_score > 0
    document = retriever.backend.document_by_source(top.chunk.source)
    assert document.text[top.chunk.start:top.chunk.end] == top.chunk.text


def test_hybrid_runs_bm25_beside_the_vector_search_with_the_same_results(retriever):
    """The local index may be searched from two threads: hybrid runs BM25 on a second one, and
    ranks exactly as when both searches run one after the other. Milvus searches in turn."""
    question = "How many soldiers does Russia recruit each month?"
    local = isinstance(retriever.backend, Index)
    assert (retriever._lexical_thread is not None) == local
    together = retriever.search(question, mode="hybrid", k=10)
    pool, retriever._lexical_thread = retriever._lexical_thread, None
    try:
        in_turn = retriever.search(question, mode="hybrid", k=10)
    finally:
        retriever._lexical_thread = pool
    assert [(h.chunk.source, h.chunk.start, h.score, h.bm25_rank, h.dense_rank) for h in together] == \
           [(h.chunk.source, h.chunk.start, h.score, h.bm25_rank, h.dense_rank) for h in in_turn]
