"""Resumable builds: a big build commits a loadable index step by step, keeps what it embedded in a
durable build cache, and a build killed at random moments finishes with nothing embedded twice and
the index an uninterrupted build makes."""

import collections
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.index.lexical import TermCounts
from qa.index.store import Index
from qa.index.store_build import BuildProgress, Piece, cut_blocks, group_steps
from qa.index.store_cache import BuildCache, block_key
from qa.index.store_files import live_generation, read_manifest
from qa.pipeline import update
from qa.retrieve import Retriever

# Small steps and blocks, so that a build of a few hundred chunks has many of both.
SMALL = {"commit_chunks": 20, "batch_size": 4, "device": "cpu"}
BUILD = """
import sys
from pathlib import Path
from qa.config import Settings
from qa.pipeline import model_for, update
settings = Settings(index_dir=Path(sys.argv[2]), **{small!r})
update(settings, model_for(settings), Path(sys.argv[1]), progress=False)
""".format(small=SMALL)

WORDS = ("river bridge owl kite garden weather harbour lantern meadow copper orchard signal ferry glacier "
         "market quarry violin beacon canyon thistle archive compass tunnel pepper falcon granite").split()


def _corpus(folder: Path, documents: int, seed: int) -> None:
    """`documents` text files of six paragraphs of made-up sentences, none alike."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for d in range(documents):
        paragraphs = []
        for p in range(6):
            sentences = [f"Record {seed}.{d}.{p}.{s} says the {rng.choice(WORDS)} near the {rng.choice(WORDS)} "
                         f"held {rng.randint(2, 900)} {rng.choice(WORDS)}s and one {rng.choice(WORDS)}."
                         for s in range(rng.randint(3, 6))]
            paragraphs.append(" ".join(sentences))
        (folder / f"doc-{seed}-{d:03d}.txt").write_text("\n\n".join(paragraphs) + "\n")


def test_blocks_hold_whole_documents_and_cut_only_a_big_one():
    # Texts per chunk (a chunk's own and its windows') of four documents, blocks of at most 6 texts.
    blocks = cut_blocks([[1, 2], [3], [2, 2, 2, 2], [1]], limit=6)
    assert [b.pieces for b in blocks] == [
        (Piece(0, 0, 2), Piece(1, 0, 1)),  # 6 texts: both fit
        (Piece(2, 0, 3),),                  # a document of 8 texts: blocks of its own, cut between chunks
        (Piece(2, 3, 4),),
        (Piece(3, 0, 1),)]
    assert [b.ends_document for b in blocks] == [True, False, True, True]
    assert [b.texts for b in blocks] == [6, 6, 2, 1]
    # A step ends with a document, once it holds enough chunks.
    steps = group_steps(blocks, commit_chunks=4)
    assert [[b.pieces[0].document for b in step] for step in steps] == [[0, 2, 2], [3]]
    # Cut from any step's first document on, the rest comes out the same: a resumed build embeds
    # the very blocks an uninterrupted one does.
    assert cut_blocks([[1]], limit=6)[0].pieces == (Piece(0, 0, 1),)


def test_the_progress_line_says_documents_chunks_speed_and_time_left():
    line = BuildProgress(documents=12, documents_total=800, chunks=5_000, chunks_total=40_000,
                         chunks_per_second=38.2).line()
    assert line == "12 of 800 documents, 5,000 of 40,000 chunks embedded, 38 chunks/s, about 15 min left"
    assert BuildProgress(0, 3, 0, 30, None).line() == "0 of 3 documents, 0 of 30 chunks embedded"


def test_the_build_cache_keeps_whole_blocks_and_drops_a_torn_last_one(tmp_path):
    settings = Settings(index_dir=tmp_path)
    first, second = np.random.default_rng(1).random((2, 3, 4), dtype=np.float32)
    cache = BuildCache(tmp_path, settings, 4)
    cache.add(block_key(["a", "b", "c"]), first)
    cache.add(block_key(["d", "e", "f"]), second)
    cache.close()
    # Killed while writing a third block: its record is cut short.
    path = next(tmp_path.glob("build-cache-*.bin"))
    whole = path.stat().st_size
    with open(path, "ab") as f:
        f.write(block_key(["g"]) + b"\x01\x00\x00\x00" + b"\x00" * 7)
    cache = BuildCache(tmp_path, settings, 4)
    assert len(cache) == 2 and path.stat().st_size == whole
    assert np.array_equal(cache.vectors(block_key(["a", "b", "c"])), first)
    assert np.array_equal(cache.vectors(block_key(["d", "e", "f"])), second)
    assert cache.vectors(block_key(["a", "b"])) is None  # a block is its texts, in order
    cache.close()
    # A byte changed in the last record (a power cut): that record goes, the first stays.
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    cache = BuildCache(tmp_path, settings, 4)
    assert len(cache) == 1 and cache.vectors(block_key(["d", "e", "f"])) is None
    cache.close()
    # Another shape of index: this cache is not for it, and goes.
    BuildCache(tmp_path, Settings(index_dir=tmp_path, chunk_chars=300), 4).remove()
    assert not list(tmp_path.glob("build-cache-*.bin"))
    # A link planted under its name is replaced, never followed: the file it names is untouched.
    (tmp_path / "elsewhere.txt").write_text("not the cache's")
    path.symlink_to(tmp_path / "elsewhere.txt")
    BuildCache(tmp_path, settings, 4).close()
    assert not path.is_symlink() and (tmp_path / "elsewhere.txt").read_text() == "not the cache's"


def test_a_build_commits_loadable_steps_and_merges_them_once_at_its_end(tmp_path, model):
    sources = tmp_path / "sources"
    _corpus(sources, 20, seed=1)
    settings = Settings(index_dir=tmp_path / "index", **SMALL)
    seen = []

    def look(progress: BuildProgress) -> None:
        live = live_generation(settings.index_dir)
        manifest = read_manifest(live) if live else {"segments": [], "documents": []}
        seen.append((progress, len(manifest["segments"]), len(manifest["documents"]), manifest.get("partial")))

    report = update(settings, model, sources, progress=False, on_progress=look)
    progress = [p for p, *_ in seen]
    assert progress[0].chunks == 0 and progress[-1].chunks == progress[-1].chunks_total == report.chunks
    assert progress[-1].documents == progress[-1].documents_total == 20
    assert all(a.chunks <= b.chunks for a, b in zip(progress, progress[1:]))
    # While it ran, each step was committed as one more segment (none merged), marked partial.
    segments = [s for _, s, _, _ in seen]
    assert segments[-1] >= 3 and all(later - s in (0, 1) for s, later in zip(segments, segments[1:]))
    partial = [p for *_, p in seen if p]
    assert partial and all(p["documents"] == 20 and p["chunks"] == report.chunks for p in partial)
    assert [p["documents_done"] for p in partial] == sorted(p["documents_done"] for p in partial)
    # At its end, one segment; the build cache is gone.
    index = Index.open(settings.index_dir, settings)
    assert len(index.segments) == 1 and index.partial is None and index.partial_notice() is None
    assert not list(settings.index_dir.glob("build-cache-*"))
    index.close()


def test_a_build_killed_ten_times_embeds_nothing_twice_and_ends_as_an_uninterrupted_one(tmp_path, model,
                                                                                          monkeypatch):
    sources = tmp_path / "sources"
    _corpus(sources, 3, seed=2)  # a complete index to start from: it answers through every kill
    settings = Settings(index_dir=tmp_path / "start", **SMALL)
    update(settings, model, sources, progress=False)
    _corpus(sources, 30, seed=3)  # then a build of 30 more documents: 156 chunks, 8 steps, 27 blocks

    # The uninterrupted build, for reference; what it embeds is logged.
    reference = tmp_path / "reference"
    shutil.copytree(settings.index_dir, reference)
    monkeypatch.setenv("QA_EMBED_LOG", str(tmp_path / "reference.log"))
    update(settings.with_(index_dir=reference), model, sources, progress=False)
    monkeypatch.delenv("QA_EMBED_LOG")

    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir)
    command = [sys.executable, "-c", BUILD, str(sources), str(index_dir)]
    log = tmp_path / "killed.log"
    log.touch()
    env = {**os.environ, "QA_EMBED_LOG": str(log)}

    rng = random.Random(20260205)
    seen = []
    for _ in range(10):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Killed a random number of texts into the run (a block logs its texts once it is durable),
        # then a moment more: kills land while embedding, writing a segment, committing or merging.
        _wait_for_texts(process, log, _lines(log) + rng.randint(1, 40))
        time.sleep(rng.uniform(0, 0.4))
        process.send_signal(signal.SIGKILL)
        process.wait()
        index = Index.open(index_dir, settings)  # loadable after every kill
        hits = Retriever(index, model, settings).search("What does record 2.1.2.0 say?", k=5)
        assert "doc-2-001.txt" in [hit.chunk.source for hit in hits]
        assert (index.partial is None) == (index.partial_notice() is None)
        seen.append((_lines(log), len(index.documents()), len(index.segments), index.partial is not None))
        index.close()
    subprocess.run(command, env=env, check=True)

    embedded = _embedded(log)
    assert embedded and max(embedded.values()) == 1, "a text was embedded twice"
    assert set(embedded) == set(_embedded(tmp_path / "reference.log"))
    _assert_same_index(index_dir, reference)
    assert not list(index_dir.glob("build-cache-*"))
    print(f"\nafter each kill (texts embedded so far, documents, segments, partial): {seen}")


def _embedded(log: Path) -> collections.Counter:
    """How many times each text (by SHA-256) was embedded, from a build's QA_EMBED_LOG: its
    "embedded" lines, and once each text of a block the log shows only "cached" (a run killed after
    the block reached the build cache, before its lines were written)."""
    lines = [line.split() for line in log.read_text().splitlines()]
    embedded = collections.Counter(text for how, _, text in lines if how == "embedded")
    fresh = {key for how, key, _ in lines if how == "embedded"}
    only_cached = {(key, text) for how, key, text in lines if how == "cached" and key not in fresh}
    embedded.update(text for _, text in only_cached)
    return embedded


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _wait_for_texts(process: subprocess.Popen, log: Path, texts: int) -> None:
    """Until `texts` texts are logged as embedded, or `process` ends."""
    while _lines(log) < texts and process.poll() is None:
        time.sleep(0.02)


def _assert_same_index(index_dir: Path, reference: Path) -> None:
    """The same documents, chunks, offsets, vectors (within 1e-6) and BM25 term counts."""
    mine, theirs = read_manifest(live_generation(index_dir)), read_manifest(live_generation(reference))
    strip = lambda entries: [{k: v for k, v in e.items() if k != "indexed_at"} for e in entries]  # noqa: E731
    assert strip(mine["documents"]) == strip(theirs["documents"])
    assert "partial" not in mine and len(mine["segments"]) == len(theirs["segments"])
    for a, b in zip(mine["segments"], theirs["segments"]):
        a, b = index_dir / "segments" / a, reference / "segments" / b
        assert (a / "documents.jsonl").read_bytes() == (b / "documents.jsonl").read_bytes()
        with np.load(a / "chunks.npz") as x, np.load(b / "chunks.npz") as y:
            assert sorted(x.files) == sorted(y.files)
            assert all(np.array_equal(x[k], y[k]) for k in x.files)
        assert (a / "vectors.chunk.npy").exists() == (b / "vectors.chunk.npy").exists()
        if (a / "vectors.chunk.npy").exists():
            assert np.array_equal(np.load(a / "vectors.chunk.npy"), np.load(b / "vectors.chunk.npy"))
        x, y = np.fromfile(a / "vectors.f32", dtype=np.float32), np.fromfile(b / "vectors.f32", dtype=np.float32)
        assert x.shape == y.shape and np.abs(x - y).max() <= 1e-6
        for name in TermCounts.FILES:
            assert (a / "terms" / name).read_bytes() == (b / "terms" / name).read_bytes(), name


def test_an_interrupted_build_shows_as_partial_on_the_sources_tab_and_a_rescan_finishes_it(tmp_path, model,
                                                                                           monkeypatch):
    import threading

    from qa import pipeline as qa_pipeline
    from qa.app.web_sources import indexed_documents, refresh_index

    sources = tmp_path / "sources"
    _corpus(sources, 12, seed=4)
    settings = Settings(index_dir=tmp_path / "index", sources_dir=sources, **SMALL)
    log = tmp_path / "embedded.log"
    monkeypatch.setenv("QA_EMBED_LOG", str(log))

    def interrupt(progress: BuildProgress) -> None:
        live = live_generation(settings.index_dir)
        if live and "partial" in read_manifest(live):  # a step is committed, and a block of the next embedded
            raise KeyboardInterrupt  # as Ctrl-C does

    with pytest.raises(KeyboardInterrupt):
        update(settings, model, sources, progress=False, on_progress=interrupt)
    app = qa_pipeline.load(settings, model)
    _, line = indexed_documents(app)
    assert "is partial" in line and "of 12 documents indexed" in line and "re-scan the sources folder" in line

    shown = []
    html = refresh_index(app, threading.Lock(), {}, [], lambda fraction, desc=None: shown.append((fraction, desc)))
    # The documents of the committed step are indexed already: only the rest is read and embedded.
    assert "Index updated: 8 added, 0 changed, 0 removed, 4 unchanged" in html
    assert any("of 8 documents" in desc and "chunks/s" in desc and "left" in desc for _, desc in shown)
    assert shown[-1][0] == 1.0
    _, line = indexed_documents(app)
    assert line.startswith("**12 documents**") and "partial" not in line
    embedded = _embedded(log)
    assert max(embedded.values()) == 1


def test_a_changed_document_answers_in_its_old_version_until_the_build_reaches_it(tmp_path, model):
    sources = tmp_path / "sources"
    _corpus(sources, 12, seed=5)
    settings = Settings(index_dir=tmp_path / "index", **SMALL)
    update(settings, model, sources, progress=False)
    for path in sorted(sources.iterdir())[:10]:
        path.write_text(path.read_text() + "\nRevised in the second edition.\n")
    (sources / "doc-5-011.txt").unlink()

    def interrupt(progress: BuildProgress) -> None:
        if "partial" in read_manifest(live_generation(settings.index_dir)):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        update(settings, model, sources, progress=False, on_progress=interrupt)
    index = Index.open(settings.index_dir, settings)
    partial = index.partial
    assert partial["documents"] == 11 and 1 < partial["documents_done"] < 11
    # Every document still answers, the changed ones not reached yet in their old version; the
    # removed one is gone.
    texts = {d.source: index.document_by_source(d.source).text for d in index.documents()}
    assert len(texts) == 11 and "doc-5-011.txt" not in texts
    revised = sum("second edition" in text for text in texts.values())
    assert revised == partial["documents_done"] - 1  # doc-5-010.txt was unchanged
    index.close()

    report = update(settings, model, sources, progress=False)
    assert len(report.unchanged) == partial["documents_done"] and not report.removed
    index = Index.open(settings.index_dir, settings)
    assert index.partial is None and index.masked == 0 and len(index.segments) <= 2
    assert sum("second edition" in index.document_by_source(d.source).text for d in index.documents()) == 10
    index.close()


def test_qa_search_on_a_partial_index_warns_and_answers_from_what_is_done(tmp_path, model, capsys):
    from qa.app.cli import main

    sources = tmp_path / "sources"
    _corpus(sources, 8, seed=7)
    settings = Settings(index_dir=tmp_path / "index", **SMALL)

    def interrupt(progress: BuildProgress) -> None:
        live = live_generation(settings.index_dir)  # None until the first step is committed
        if live and "partial" in read_manifest(live):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        update(settings, model, sources, progress=False, on_progress=interrupt)
    capsys.readouterr()
    assert main(["search", "the copper harbour", "--index", str(settings.index_dir), "-k", "2"]) == 0
    out, err = capsys.readouterr()
    assert "qa: warning: the index at" in err and "is partial" in err and "run `qa index` to finish it" in err
    assert "doc-7-" in out
