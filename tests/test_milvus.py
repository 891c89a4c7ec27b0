"""The Milvus backend on milvus-lite: incremental updates, parity with the embedded index, the CLI.

The retrieval and answer tests (test_retrieve.py, test_answer.py) also run on Milvus, through the
backend-parametrised `shipped_index` fixture in conftest.py.
"""

import json
import subprocess
import sys

import pytest

from conftest import DEV_SET, SHIPPED_SOURCES
from qa.index.backend import IndexUnusable
from qa.config import Settings
from qa.evaluation.evaluate import evaluate_question_set, load_question_set
from qa.index.milvus import SLICE_CHARS, WINDOWS, MilvusIndex
from qa.pipeline import open_backend, update
from qa.retrieve import Retriever, reciprocal_rank_fusion

KIWI = "The kiwi is a flightless bird that lives only in New Zealand. It lays very large eggs."
BEES = "Honey bees dance to tell each other where the flowers are. The waggle dance points the way."
OWLS = "Owls hunt at night. Their soft feathers let them fly without a sound."



def hit_rates(retriever: Retriever, mode: str) -> dict[str, float]:
    """hit@1 and hit@3 on the development set, scored by the evaluator `qa eval` uses."""
    metrics = evaluate_question_set(retriever, load_question_set(DEV_SET), modes=(mode,)).metrics[mode]
    return {"hit@1": metrics["hit@1"], "hit@3": metrics["hit@3"]}


def windows_of(index: MilvusIndex, source: str) -> int:
    rows = index.client.query(WINDOWS, filter=f'source == "{source}"', output_fields=["count(*)"])
    return rows[0]["count(*)"]


@pytest.fixture(scope="module")
def milvus_index(milvus_shipped) -> MilvusIndex:
    """The shipped sources in milvus-lite with default settings: the session's (tests/conftest.py)."""
    return milvus_shipped


def test_incremental_updates_touch_only_what_changed(model, tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "kiwi.txt").write_text(KIWI)
    (sources / "bees.txt").write_text(BEES)
    # Longer than one VARCHAR slice, and not ASCII: stored in several rows, read back exactly.
    long_text = "\n\n".join(f"Paragraph {n}: the café’s über-long ledger, entry {n}." for n in range(900))
    (sources / "ledger.md").write_text(long_text)
    # Windows of 50 characters: even these short chunks have some, and updates must delete them.
    settings = Settings(backend="milvus", uri=str(tmp_path / "milvus.db"), chunk_chars=300, dense_windows=50)

    first = update(settings, model, sources, progress=False)
    assert sorted(first.added) == ["bees.txt", "kiwi.txt", "ledger.md"] and first.embedded == first.chunks
    index = MilvusIndex.open(settings)
    assert len(long_text) > 2 * SLICE_CHARS
    assert min(windows_of(index, source) for source in ("bees.txt", "kiwi.txt", "ledger.md")) > 0
    assert first.windows == sum(windows_of(index, s) for s in ("bees.txt", "kiwi.txt", "ledger.md"))
    assert index.document_by_source("ledger.md").text == long_text
    kiwi_before = {d.source: d for d in index.documents()}["kiwi.txt"]
    kiwi_windows = windows_of(index, "kiwi.txt")

    again = update(settings, model, sources, progress=False)
    assert again.up_to_date and again.embedded == 0 and again.chunks == first.chunks

    (sources / "bees.txt").write_text(BEES.replace("Honey bees", "Bumble bees"))
    (sources / "ledger.md").unlink()
    (sources / "owls.txt").write_text(OWLS)
    report = update(settings, model, sources, progress=False)
    assert (report.added, report.changed, report.removed, report.unchanged) == \
        (["owls.txt"], ["bees.txt"], ["ledger.md"], ["kiwi.txt"])
    assert report.embedded == 2 and report.chunks == 3

    index = MilvusIndex.open(settings)
    documents = {d.source: d for d in index.documents()}
    assert set(documents) == {"kiwi.txt", "bees.txt", "owls.txt"} and index.size == 3
    assert documents["kiwi.txt"] == kiwi_before
    assert windows_of(index, "ledger.md") == 0 and windows_of(index, "kiwi.txt") == kiwi_windows
    assert windows_of(index, "bees.txt") > 0
    retriever = Retriever(index, model, settings)
    for mode in ("bm25", "dense"):
        hits = retriever.search("Which bees dance?", mode=mode, k=5)
        assert hits[0].chunk.text.startswith("Bumble bees"), mode
        assert all(h.chunk.source != "ledger.md" for h in hits)
    assert retriever.search("ledger entry café", mode="bm25", k=5) == []


def test_a_differently_built_index_is_rebuilt_or_refused(model, tmp_path):
    settings = Settings(backend="milvus", uri=str(tmp_path / "milvus.db"))
    with pytest.raises(IndexUnusable, match="qa index"):
        MilvusIndex.open(settings)
    update(settings, model, SHIPPED_SOURCES, progress=False)
    with pytest.raises(IndexUnusable, match="chunk_chars=600, not 400"):
        MilvusIndex.open(settings.with_(chunk_chars=400))
    report = update(settings.with_(chunk_chars=400), model, SHIPPED_SOURCES, progress=False)
    assert "chunk_chars" in report.rebuilt_because and len(report.added) == 2


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_dev_set_hit_rates_match_the_embedded_index(local_index, milvus_index, model, mode):
    settings = Settings()
    local = hit_rates(Retriever(local_index, model, settings), mode)
    milvus = hit_rates(Retriever(milvus_index, model, settings), mode)
    print(f"{mode}: local {local}, milvus {milvus}")
    for metric in local:
        assert milvus[metric] == pytest.approx(local[metric], abs=0.05), metric


def test_both_backends_know_the_same_names(local_index, milvus_index):
    # qa.read.unknown_names asks the backend whether any chunk holds a word of a question's name
    for word, known in (("Pyongyang", True), ("Rutte", True), ("Kadamba", False), ("Australia", False)):
        assert local_index.knows_word(word) is known and milvus_index.knows_word(word) is known, word


def test_milvus_rrf_ranker_agrees_with_our_fusion(model, tmp_path):
    # Milvus's ranker fuses each chunk's own vector, not its best window: compared without windows.
    settings = Settings(backend="milvus", uri=str(tmp_path / "milvus.db"), dense_windows=0)
    update(settings, model, SHIPPED_SOURCES, progress=False)
    milvus_index = open_backend(settings)
    retriever = Retriever(milvus_index, model, settings)
    question = "How many soldiers does Russia recruit each month?"
    vector = retriever.embed_query(question)
    depth = retriever.settings.candidates
    ours = reciprocal_rank_fusion([[i for i, _ in milvus_index.lexical_search(question, depth)],
                                   [i for i, _ in milvus_index.dense_search(vector, depth)]],
                                  retriever.settings.rrf_k)
    theirs = milvus_index.hybrid_search(question, vector, k=10)
    assert len(theirs) == 10
    for item, score in theirs:
        assert score == pytest.approx(ours[item], rel=1e-5)
    assert [s for _, s in theirs] == pytest.approx(sorted(ours.values(), reverse=True)[:10], rel=1e-5)


def test_cli_indexes_and_answers_on_milvus(tmp_path):
    uri = str(tmp_path / "milvus.db")
    indexed = subprocess.run([sys.executable, "-m", "qa.app.cli", "index", str(SHIPPED_SOURCES), "-q",
                              "--backend", "milvus", "--uri", uri], capture_output=True, text=True)
    assert indexed.returncode == 0, indexed.stderr
    assert "2 added" in indexed.stdout
    asked = subprocess.run([sys.executable, "-m", "qa.app.cli", "ask", "Which mercenary group nearly rebelled?",
                            "--backend", "milvus", "--uri", uri, "--json"],
                           capture_output=True, text=True, check=True)
    assert "Wagner" in json.loads(asked.stdout)["citations"][0]["quote"]
    missing = subprocess.run([sys.executable, "-m", "qa.app.cli", "ask", "Anything?", "--backend", "milvus",
                              "--uri", str(tmp_path / "none.db")], capture_output=True, text=True)
    assert missing.returncode != 0 and "qa index" in missing.stderr and "Traceback" not in missing.stderr


def test_a_milvus_index_is_read_with_the_settings_it_was_built_with(model, tmp_path):
    from qa.pipeline import index_settings, load

    settings = Settings(backend="milvus", uri=str(tmp_path / "milvus.db"))
    assert index_settings(settings) == settings and not (tmp_path / "milvus.db").exists()
    (tmp_path / "kiwi.txt").write_text(KIWI)
    update(settings.with_(chunk_chars=300), model, tmp_path, progress=False)
    assert index_settings(settings).chunk_chars == 300
    assert load(settings, model).settings.chunk_chars == 300  # not refused as "not 600"


def test_beir_evaluation_runs_on_milvus_too(model, tmp_path):
    from conftest import ROOT
    from qa.evaluation.evaluate import evaluate_beir

    settings = Settings(backend="milvus")
    report = evaluate_beir(ROOT / "tests" / "data" / "beir-sample", settings, model, modes=("bm25", "hybrid"),
                           index_dir=tmp_path / "index", show_build=False)
    assert (tmp_path / "index" / "milvus.db").exists() and not (tmp_path / "index" / "CURRENT").exists()
    assert report.metrics["hybrid"]["recall@100"] == 1.0  # 40 documents: every relevant one is ranked
    # Milvus's BM25 ranks only chunks sharing a word with the query (milvus-lite does not stem).
    assert all(0.7 <= metrics["ndcg@10"] <= 1.0 for metrics in report.metrics.values())
