import os

import pytest

from qa.backend import IndexUnusable
from qa.config import Settings
from qa.pipeline import update
from qa.retrieve import Retriever
from qa.store import Index


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


def test_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexUnusable, match="no index at .*qa index"):
        Index.open(tmp_path / "nowhere")


@pytest.mark.parametrize("damage", ["truncate_vectors", "truncate_faiss", "garble_manifest", "delete_bm25"])
def test_damaged_index_gives_a_clear_error(sources_copy, tmp_path, model, damage):
    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    if damage == "truncate_vectors":
        os.truncate(live / "vectors.npy", 100)
    elif damage == "truncate_faiss":
        os.truncate(live / "dense.faiss", 100)
    elif damage == "garble_manifest":
        (live / "manifest.json").write_text("{not json")
    else:
        for f in (live / "bm25").iterdir():
            f.unlink()
    with pytest.raises(IndexUnusable, match="rebuild"):
        Index.open(index_dir)


# Killing a build at random moments: tests/test_robustness.py.


def test_tampered_index_file_of_the_same_size_is_caught(sources_copy, tmp_path, model):
    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    live = index_dir / (index_dir / "CURRENT").read_text().strip()
    vectors = bytearray((live / "vectors.npy").read_bytes())
    vectors[-8:] = b"\xff" * 8
    (live / "vectors.npy").write_bytes(bytes(vectors))
    with pytest.raises(IndexUnusable, match="vectors.npy is damaged .*contents changed.*--rebuild"):
        Index.open(index_dir)


def test_a_folder_with_nothing_readable_keeps_the_previous_index(sources_copy, tmp_path, model):
    from qa.documents import NothingToIndex

    index_dir = tmp_path / "index"
    _build(sources_copy, index_dir, model)
    for path in sources_copy.iterdir():
        path.unlink()
    (sources_copy / "empty.txt").write_text("")
    with pytest.raises(NothingToIndex, match="(?s)no readable document.*empty.txt"):
        _build(sources_copy, index_dir, model)
    assert len(Index.open(index_dir).documents()) == 2
