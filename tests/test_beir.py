"""The BEIR path at a realistic size, without network: SQuAD paragraphs of articles the reader
never trained on as the corpus, their questions as queries (bench/datasets/beir_from_squad.py)."""

import json
from pathlib import Path

import pytest

from bench.datasets.beir_from_squad import squad_path, write_squad_beir
from qa.app.cli import main
from qa.evaluation.evaluate import load_beir

SQUAD = squad_path()
pytestmark = pytest.mark.skipif(SQUAD is None, reason="needs ../shared/train/squad-v1.1-train.json.gz")


@pytest.fixture(scope="module")
def squad_beir(tmp_path_factory) -> Path:
    # The first four held-out articles: 237 paragraphs; 200 of their questions.
    return write_squad_beir(tmp_path_factory.mktemp("squad") / "squad-beir", SQUAD, articles=4, queries=200)


def test_squad_held_out_articles_load_as_a_beir_collection(squad_beir):
    dataset = load_beir(squad_beir)
    assert len(dataset.corpus) == 237 and len(dataset.queries) == 200
    assert dataset.summary() == ""  # nothing skipped: every judged paragraph is in the corpus
    assert all(len(judged) == 1 for judged in dataset.qrels.values())
    query = next(iter(dataset.qrels))
    title, text = dataset.corpus[next(iter(dataset.qrels[query]))]
    assert title and len(text) > 100
    # The same call writes the same set: the sample of questions is seeded.
    again = write_squad_beir(squad_beir.parent / "again", SQUAD, articles=4, queries=200)
    assert (again / "queries.jsonl").read_text() == (squad_beir / "queries.jsonl").read_text()


def test_hybrid_beats_both_its_parts_on_squad_held_out_articles(squad_beir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["eval", "--beir", str(squad_beir), "--index", str(tmp_path / "index"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("squad-beir: 237 documents")
    metrics = json.loads((out / "report.json").read_text())["metrics"]
    assert set(metrics) == {"bm25", "dense", "hybrid"}
    for mode, values in metrics.items():
        assert values["ndcg@10"] > 0.75, mode  # one relevant paragraph among 237 on a few topics
        assert values["recall@100"] > 0.95, mode
    # Measured (README, "Fusion"): nDCG@10 bm25 0.931, dense 0.876, hybrid 0.956 (RRF, k 60: 0.921);
    # MRR@10 0.916, 0.848, 0.944. The margin asked for is half the one measured.
    for metric in ("ndcg@10", "mrr@10"):
        assert metrics["hybrid"][metric] >= max(metrics["bm25"][metric], metrics["dense"][metric]) + 0.01, metric
