import json
import os
import shutil

import numpy as np
import pytest

from qa.index.backend import IndexUnusable
from qa.config import Settings
from qa.index.dense import dimension
from qa.pipeline import update
from qa.retrieve import Retriever
from qa.index.store import Index


def _build(sources, index_dir, model, **settings):
    s = Settings(index_dir=index_dir, **settings)
    return update(s, model, sources, progress=False), s


def test_incremental_update_adds_changes_and_removes(sources_copy, tmp_path, model):
    index_dir = tmp_path / "index"
    first, settings = _build(sources_copy, index_dir, model)
    assert len(first.added) == 2 and first.embedded == first.chunks > 0

    again, _ = _build(sources_copy, index_dir, model)
    assert again.up_to_date and again.embedded == 0

    (sources_copy / "new.md").write_text("# Bees\n\nHoneybees dance to tell hive mates where flowers are.\n")
    article = sources_copy / "003_5763b751aeba3d4f.txt"
    article.write_text(article.read_text().replace("Wagner", "Vagner"))
    (sources_copy / "000_98eda58b59ac3056.txt").unlink()
    report, _ = _build(sources_copy, index_dir, model)
    assert report.added == ["new.md"]
    assert report.changed == ["003_5763b751aeba3d4f.txt"]
    assert report.removed == ["000_98eda58b59ac3056.txt"]
    assert report.embedded == report.chunks  # the one unchanged-looking document was edited

    index = Index.open(index_dir, settings)
    assert {d.source for d in index.documents()} == {"new.md", "003_5763b751aeba3d4f.txt"}
    hits = Retriever(index, model, settings).search("Why do bees dance?", k=1)
    assert hits[0].chunk.source == "new.md"
    assert hits[0].chunk.text.endswith("Honeybees dance to tell hive mates where flowers are.")
    assert "Vagner" in index.document_by_source("003_5763b751aeba3d4f.txt").text


def test_unchanged_documents_keep_their_vectors(sources_copy, tmp_path, model):
    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    (sources_copy / "extra.txt").write_text("Owls hunt at night. They fly silently.\n")
    report, settings = _build(sources_copy, index_dir, model)
    assert report.unchanged == ["000_98eda58b59ac3056.txt", "003_5763b751aeba3d4f.txt"]
    assert report.embedded == 1


def test_index_built_with_other_settings_asks_for_a_rebuild(sources_copy, tmp_path, model):
    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    with pytest.raises(IndexUnusable, match="chunk_chars=600, not 300.*--rebuild"):
        Index.open(index_dir, Settings(chunk_chars=300))
    with pytest.raises(IndexUnusable, match="model='all-MiniLM-L6-v2'.*--rebuild"):
        Index.open(index_dir, Settings(model="other-model"))
    report, _ = _build(sources_copy, index_dir, model, chunk_chars=300)
    assert "chunk_chars" in report.rebuilt_because
    with pytest.raises(IndexUnusable, match="dense_windows=300, not 0.*--rebuild"):
        Index.open(index_dir, Settings(chunk_chars=300, dense_windows=0))
    report, _ = _build(sources_copy, index_dir, model, chunk_chars=300, dense_windows=0)
    assert report.rebuilt_because == "previous index built with dense_windows=300, not 0" and report.windows == 0


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexUnusable, match="no index at .*qa index"):
        Index.open(tmp_path / "nowhere")


def _only_segment(index_dir):
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    [name] = json.loads((live / "manifest.json").read_text())["segments"]
    return index_dir / "segments" / name


@pytest.mark.parametrize("damage", ["truncate_vectors", "truncate_faiss", "garble_manifest", "delete_bm25"])
def test_damaged_index_gives_a_clear_error(sources_copy, tmp_path, model, damage):
    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    segment = _only_segment(index_dir)
    if damage == "truncate_vectors":
        os.truncate(segment / "vectors.f32", 100)
    elif damage == "truncate_faiss":
        os.truncate(segment / "dense.faiss", 100)
    elif damage == "garble_manifest":
        (live / "manifest.json").write_text("{not json")
    else:
        for f in (segment / "terms").iterdir():
            f.unlink()
    with pytest.raises(IndexUnusable, match="rebuild"):
        Index.open(index_dir)


# Killing a build at random moments: tests/test_robustness.py.


def test_a_missing_segment_is_named(sources_copy, tmp_path, model):
    import shutil

    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    shutil.rmtree(_only_segment(index_dir))
    with pytest.raises(IndexUnusable, match="gen-000001 names segment seg-000001, which is missing.*--rebuild"):
        Index.open(index_dir)


def test_tampered_index_file_of_the_same_size_is_caught(sources_copy, tmp_path, model):
    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    vectors_file = _only_segment(index_dir) / "vectors.f32"
    vectors = bytearray(vectors_file.read_bytes())
    vectors[-8:] = b"\xff" * 8
    vectors_file.write_bytes(bytes(vectors))
    with pytest.raises(IndexUnusable, match="vectors.f32 is damaged .*contents changed.*--rebuild"):
        Index.open(index_dir)


def test_a_folder_with_nothing_readable_keeps_the_previous_index(sources_copy, tmp_path, model):
    from qa.ingest.documents import NothingToIndex

    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    for path in sources_copy.iterdir():
        path.unlink()
    (sources_copy / "empty.txt").write_text("")
    with pytest.raises(NothingToIndex, match="(?s)no readable document.*empty.txt"):
        _build(sources_copy, index_dir, model)
    assert len(Index.open(index_dir).documents()) == 2


# ---------------------------------------------------------------- segments


QUESTIONS = ["How many soldiers does Russia recruit each month?", "Wagner mercenary rebellion",
             "Why do bees dance?", "garden tools and weather", "When did Russia invade Ukraine?"]


def _documents(count: int, round_: int = 0):
    from qa.ingest.documents import document_from_text, read_folder
    from conftest import SHIPPED_SOURCES

    shipped = read_folder(SHIPPED_SOURCES)[0]
    topics = ["garden tools", "weather fronts", "river bridges", "honeybee dances", "kite flying", "owl hunting"]
    extra = [document_from_text(f"note-{i:02d}.txt", " ".join(
        f"Note {i} on {topics[i % len(topics)]}, line {j}, version {round_ if i == 3 else 0}." for j in range(40)))
        for i in range(count)]
    return shipped + extra


class OneTextAtATime:
    """The real model, embedding each text alone: its int8 ONNX runtime scales activations per
    batch, so the same text embedded in another batch gets a (very slightly) different vector,
    which would blur the comparison with a fresh build."""

    def __init__(self, model) -> None:
        self._model = model
        self.get_embedding_dimension = self.get_sentence_embedding_dimension = lambda: dimension(model)

    def encode(self, texts, **options):
        return np.vstack([self._model.encode([text], **options) for text in texts])


@pytest.fixture
def steady_model(model):
    return OneTextAtATime(model)


def _results(index, model, question):
    """What a user sees of both searches: each hit's text and source, with its score."""
    from qa.index.dense import embed

    vector = embed(model, [question], batch_size=1)[0]
    return {kind: [(index.chunk(i).source, index.chunk(i).text, round(score, 4)) for i, score in hits]
            for kind, hits in (("bm25", index.lexical_search(question, 10)),
                               ("dense", index.dense_search(vector, 10)))}


def _same_as_a_fresh_build(index_dir, documents, model, tmp_path):
    from qa.index import store

    fresh_dir = tmp_path / f"fresh-{len(list(tmp_path.glob('fresh-*')))}"
    store.update(Settings(index_dir=fresh_dir), model, documents, progress=False)
    updated, fresh = Index.open(index_dir), Index.open(fresh_dir)
    assert updated.size == fresh.size
    for question in QUESTIONS:
        assert _results(updated, model, question) == _results(fresh, model, question), question
    updated.close(), fresh.close()


def _segments(index_dir) -> list[str]:
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    return json.loads((live / "manifest.json").read_text())["segments"]


def test_an_update_writes_one_small_segment_and_searches_like_a_fresh_build(tmp_path, steady_model):
    from qa.index import store

    model = steady_model

    index_dir = tmp_path / "index"
    settings = Settings(index_dir=index_dir)
    documents = _documents(8)
    store.update(settings, model, documents, progress=False)
    before = {d.source: d.chunks for d in Index.open(index_dir).documents()}
    [base] = _segments(index_dir)
    base_files = {p.name: p.stat().st_ino for p in (index_dir / "segments" / base).iterdir()}

    # One document changed, one added, one removed: only the first two are chunked and embedded.
    changed = _documents(9, round_=1)
    changed = [d for d in changed if d.source != "note-05.txt"]
    report = store.update(settings, model, changed, progress=False)
    assert (report.changed, report.added, report.removed) == (["note-03.txt"], ["note-08.txt"], ["note-05.txt"])
    after = {d.source: d.chunks for d in Index.open(index_dir).documents()}
    assert report.embedded == after["note-03.txt"] + after["note-08.txt"]
    assert _segments(index_dir)[0] == base and len(_segments(index_dir)) == 2
    # The big segment's files are the very same files: not rewritten, not copied.
    assert {p.name: p.stat().st_ino for p in (index_dir / "segments" / base).iterdir()} == base_files

    index = Index.open(index_dir, settings)
    # note-03's old chunks and note-05's: still on disk, never found
    assert index.masked == before["note-03.txt"] + before["note-05.txt"]
    assert "version 1" in index.document_by_source("note-03.txt").text
    for question in QUESTIONS:
        for hits in _results(index, model, question).values():
            assert all(source != "note-05.txt" and "version 0" not in text or source != "note-03.txt"
                       for source, text, _ in hits)
    index.close()
    _same_as_a_fresh_build(index_dir, changed, model, tmp_path)


def test_segments_are_merged_when_they_pile_up_and_compact_merges_all(tmp_path, steady_model, monkeypatch, capsys):
    from qa.index import store
    from qa.app.cli import main

    model = steady_model

    monkeypatch.setattr(store, "MAX_SEGMENTS", 3)
    index_dir = tmp_path / "index"
    settings = Settings(index_dir=index_dir)
    documents = _documents(6)
    store.update(settings, model, documents, progress=False)
    for round_ in range(1, 6):  # each round: one more small segment (note-03 changes)
        documents = _documents(6, round_)
        report = store.update(settings, model, documents, progress=False)
        note = next(d for d in Index.open(index_dir).documents() if d.source == "note-03.txt")
        assert report.embedded == note.chunks and len(_segments(index_dir)) <= 3
    # The small segments were merged into one beside the big one; nothing was embedded again.
    _same_as_a_fresh_build(index_dir, documents, model, tmp_path)
    # Only segments that a generation on disk names remain.
    named = set()
    for generation in index_dir.glob("gen-*"):
        named.update(json.loads((generation / "manifest.json").read_text())["segments"])
    assert {p.name for p in (index_dir / "segments").iterdir()} == named

    # Removing a third of the chunks passes the masked share: all segments merge into one.
    shipped_only = documents[:2]
    store.update(settings, model, shipped_only, progress=False)
    assert len(_segments(index_dir)) == 1 and Index.open(index_dir).masked == 0
    _same_as_a_fresh_build(index_dir, shipped_only, model, tmp_path)

    # qa index --compact after a small change: one segment again, same results.
    sources = tmp_path / "sources"
    sources.mkdir()
    for document in documents[:3]:
        (sources / document.source).write_text(document.text)
    assert main(["index", str(sources), "--index", str(index_dir), "-q"]) == 0
    (sources / "note-00.txt").write_text("Kites fly best in steady wind on open hills.")
    assert main(["index", str(sources), "--index", str(index_dir), "-q", "--compact"]) == 0
    assert "compacted, 2 segments merged into 1" in capsys.readouterr().out
    assert len(_segments(index_dir)) == 1
    index = Index.open(index_dir)
    hit = index.lexical_search("kites steady wind", 1)[0]
    assert index.chunk(hit[0]).source == "note-00.txt" and index.masked == 0


def test_a_big_merge_is_left_to_compact_which_the_web_app_runs_in_the_background(tmp_path, steady_model, monkeypatch):
    import threading

    from qa.index import store
    from qa.pipeline import load
    from qa.app.web import compact_in_background

    model = steady_model
    monkeypatch.setattr(store, "INLINE_MERGE_ROWS", 3)  # as a 1M-chunk index's merge is "big"
    index_dir = tmp_path / "index"
    settings = Settings(index_dir=index_dir)
    documents = _documents(6)
    store.update(settings, model, documents, progress=False)
    # Removing two thirds of the chunks passes the masked share, but the merge is not done inside
    # the update: it is reported due, and searches skip the masked rows meanwhile.
    kept = documents[:2]
    report = store.update(settings, model, kept, progress=False)
    assert report.compaction_due and "qa index --compact" in report.summary()
    assert len(_segments(index_dir)) == 1 and Index.open(index_dir).masked > 0
    _same_as_a_fresh_build(index_dir, kept, model, tmp_path)
    assert store.update(settings, model, kept, progress=False).compaction_due  # still due, nothing changed

    # The web app merges on a thread of its own, then answers from the merged index.
    pipeline = load(settings, model)
    pipeline.compaction_due = True
    compact_in_background(pipeline, threading.Lock()).join(120)
    assert pipeline.retriever.backend.masked == 0 and not pipeline.compaction_due
    assert Index.open(index_dir).masked == 0
    assert not store.update(settings, model, kept, progress=False).compaction_due
    _same_as_a_fresh_build(index_dir, kept, model, tmp_path)


def test_an_update_with_nothing_to_do_removes_what_a_killed_run_left(tmp_path, model):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "a.txt").write_text("Kiwis live in New Zealand.")
    settings = Settings(index_dir=tmp_path / "index")
    update(settings, model, sources, progress=False)
    (sources / "b.txt").write_text("Penguins live in Antarctica.")
    update(settings, model, sources, progress=False)
    live = (settings.index_dir / "CURRENT").read_text().strip()
    # A run killed after writing its generation but before removing the old ones or pointing
    # CURRENT at its own: copies stand in for what it left.
    for name in ("gen-000000", "gen-999999"):
        shutil.copytree(settings.index_dir / live, settings.index_dir / name)
    (settings.index_dir / "segments" / "seg-999999").mkdir()
    before = sorted(p.name for p in settings.index_dir.glob("gen-*"))
    assert update(settings, model, sources, progress=False).up_to_date
    after = sorted(p.name for p in settings.index_dir.glob("gen-*"))
    assert live in after and len(after) == 2 and "gen-999999" not in after and "gen-000000" not in after
    assert len(before) == 4
    assert not (settings.index_dir / "segments" / "seg-999999").exists()


def test_a_graph_index_ranks_and_scores_as_exact_search_does(sources_copy, tmp_path, model, capsys):
    """Past ann_threshold vectors a segment's graph holds 6-bit codes; its candidates are rescored
    from vectors.f32, so dense search gives the rows and cosines an exact index gives. Building a
    graph (minutes at a million chunks) shows a progress bar of its own; a flat index needs none."""
    from qa.index.dense import embed

    exact_settings = Settings(index_dir=tmp_path / "flat")
    update(exact_settings, model, sources_copy, progress=True)
    shown = capsys.readouterr().err
    assert "embedding chunks" in shown and "building the vector graph" not in shown
    graph_settings = Settings(index_dir=tmp_path / "graph", ann_threshold=10)
    update(graph_settings, model, sources_copy, progress=True)
    assert "building the vector graph" in capsys.readouterr().err
    exact, graph = Index.open(exact_settings.index_dir, exact_settings), Index.open(graph_settings.index_dir, graph_settings)
    [segment] = graph.segments
    assert segment.vector_count > 10 and segment.dense.kind == "hnsw" and segment.dense.coded
    assert not exact.segments[0].dense.coded
    for question in ("How many soldiers does Russia recruit each month?", "Who leads the Wagner group?"):
        vector = embed(model, [question], batch_size=1)[0]
        found, expected = graph.dense_search(vector, 5), exact.dense_search(vector, 5)
        assert [row for row, _ in found] == [row for row, _ in expected]
        np.testing.assert_allclose([s for _, s in found], [s for _, s in expected], rtol=0, atol=1e-5)
    exact.close(), graph.close()


def test_a_chunk_scores_its_best_window_and_an_index_without_windows_still_reads(sources_copy, tmp_path, model):
    from qa import pipeline
    from qa.ingest.chunking import chunk_windows
    from qa.index.dense import embed

    question = "How many soldiers does Russia recruit each month?"
    vector = embed(model, [question], batch_size=1)[0]
    report, with_windows = _build(sources_copy, tmp_path / "windows", model, dense_windows=300)
    plain_report, without = _build(sources_copy, tmp_path / "plain", model, dense_windows=0)
    windowed, plain = Index.open(with_windows.index_dir, with_windows), Index.open(without.index_dir, without)
    [segment] = windowed.segments
    assert segment.vector_count > segment.rows == plain.size == windowed.size
    assert plain.segments[0].vector_rows is None  # one vector a chunk: no vectors.chunk.npy
    assert report.windows == segment.vector_count - segment.rows and plain_report.windows == 0
    assert f"{report.embedded} embedded (and {report.windows} dense windows) in" in report.summary()
    assert "dense windows" not in plain_report.summary()

    found = dict(windowed.dense_search(vector, windowed.size))
    own = dict(plain.dense_search(vector, plain.size))
    assert found.keys() == own.keys() == set(range(windowed.size))
    improved = 0
    for number, score in found.items():
        chunk = windowed.chunk(number)
        document = windowed.document_by_source(chunk.source)
        windows = [w.text for w in chunk_windows(document, chunk, Settings(dense_windows=300))]
        # The best of the chunk's own cosine and its windows' (one batch: the int8 model's
        # vectors depend slightly on the batch).
        cosines = embed(model, [chunk.text, *windows], Settings().batch_size) @ vector
        assert score == pytest.approx(max(cosines[0], *cosines[1:]) if windows else cosines[0], abs=0.02)
        assert score >= own[number] - 0.02
        improved += score > own[number] + 0.02
    assert improved > 0

    # An index whose manifest predates dense windows is read, and updated, without them.
    manifest_path = without.index_dir / (without.index_dir / "CURRENT").read_text().strip() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["settings"]["dense_windows"]
    manifest_path.write_text(json.dumps(manifest))
    loaded = pipeline.load(Settings(index_dir=without.index_dir), model=model)
    assert loaded.settings.dense_windows == 0
    windowed.close(), plain.close()
