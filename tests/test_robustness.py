"""Messy folders and killed processes: indexing finishes, skips with reasons, loses nothing."""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time


from qa.config import Settings
from qa.pipeline import update
from qa.retrieve import Retriever
from qa.index.store import Index


def _messy_folder(folder):
    folder.mkdir()
    (folder / "good.txt").write_text("Kiwis are flightless birds. They live in New Zealand.\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "spaces.md").write_text(" \n\t\n   \n")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 64)
    (folder / "latin1.txt").write_bytes("Gr\xfc\xdfe aus K\xf6ln".encode("latin-1"))
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF garbage")
    # One line with no sentence end, 19 KB: cut at white space into 32 chunks (209 KB made 353 such
    # chunks, 25 CPU seconds of embedding, for the same check).
    (folder / "long-line.txt").write_text(" ".join(f"token{i}" for i in range(2_000)))
    with open(folder / "huge.txt", "w") as f:
        block = "Filler sentence about nothing in particular. " * 20_000 + "\n"
        for _ in range(55):  # about 50 MB
            f.write(block)
    os.symlink("loop-b.txt", folder / "loop-a.txt")
    os.symlink("loop-a.txt", folder / "loop-b.txt")
    (folder / "sub").mkdir()
    os.symlink("..", folder / "sub" / "up")  # a directory loop
    locked = folder / "locked.txt"
    locked.write_text("Secret text.")
    locked.chmod(0)
    return folder


def test_messy_folder_indexes_what_it_can_and_says_why_it_skipped_the_rest(tmp_path, model):
    folder = _messy_folder(tmp_path / "messy")
    settings = Settings(index_dir=tmp_path / "index")
    report = update(settings, model, folder, progress=False)
    reasons = {s.path: s.reason for s in report.skipped}
    assert "empty" in reasons["empty.txt"] and "white space" in reasons["spaces.md"]
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "PDF" in reasons["corrupt.pdf"]
    assert "MB limit" in reasons["huge.txt"] and "--max-file-mb" in reasons["huge.txt"]
    assert "symbolic links" in reasons["loop-a.txt"] and "loop-b.txt" in reasons
    assert "read already" in reasons["sub/up"]  # a folder link back to the top: read once, not looped
    indexed = set(report.added)
    assert {"good.txt", "long-line.txt"} <= indexed
    if os.geteuid() == 0:  # root reads files whatever their permissions
        assert "locked.txt" in indexed
    else:
        assert "permission" in reasons["locked.txt"].lower()
    assert len(indexed) + len(reasons) == 12
    index = Index.open(settings.index_dir, settings)
    hit = Retriever(index, model, settings).search("Where do kiwis live?", k=1)[0]
    assert hit.chunk.source == "good.txt"


def test_index_survives_twenty_kills_at_random_moments(sources_copy, tmp_path, model):
    """Each round is an incremental update (a new segment beside the old ones, and now and then a
    merge of segments), killed at a random moment: the index answers, whole, every time."""
    index_dir = tmp_path / "index"
    settings = Settings(index_dir=index_dir)
    update(settings, model, sources_copy, progress=False)
    fillers = 6
    for i in range(fillers):
        (sources_copy / f"filler-{i:02d}.txt").write_text(
            " ".join(f"Filler {i} line {j} is about garden tools and weather." for j in range(80)))
    command = [sys.executable, "-m", "qa.app.cli", "index", str(sources_copy), "--quiet"]
    # How long a whole run takes here, measured on a scratch copy: kills then land in every phase
    # (start-up, reading, embedding, writing, swapping), and some runs finish.
    scratch = tmp_path / "scratch"
    shutil.copytree(index_dir, scratch)
    began = time.perf_counter()
    subprocess.run(command + ["--index", str(scratch)], check=True, capture_output=True)
    full_run = time.perf_counter() - began

    rng = random.Random(20261125)
    sizes_seen, segments_seen = [], []
    state = _index_state(index_dir, settings)
    for kill in range(20):
        # Every round has work to do: one filler changes, so a finished run is followed by another.
        (sources_copy / f"filler-{kill % fillers:02d}.txt").write_text(f"Round {kill} rewrote this filler about kites.")
        process = subprocess.Popen(command + ["--index", str(index_dir)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 1.5) * full_run)
        process.send_signal(signal.SIGKILL)
        process.wait()
        index = Index.open(index_dir, settings)
        sizes_seen.append(len(index.documents()))
        segments_seen.append(len(index.segments))
        hits = Retriever(index, model, settings).search("How many soldiers does Russia recruit each month?", k=1)
        assert "25,000 to 30,000" in hits[0].chunk.text
        index.close()
        # The index is the one before this run or the one the run was making, never a mix.
        after = _index_state(index_dir, settings)
        assert after in (state, _folder_state(sources_copy))
        state = after
    report = update(settings, model, sources_copy, progress=False)
    final = Index.open(index_dir, settings)
    assert len(final.documents()) == 2 + fillers
    assert not list(index_dir.glob(".*.partial"))
    assert len(list(index_dir.glob("gen-*"))) <= 2
    # Segments of killed writes (half-written, or written but never named) are gone too.
    named = {name for generation in index_dir.glob("gen-*")
             for name in json.loads((generation / "manifest.json").read_text())["segments"]}
    assert {p.name for p in (index_dir / "segments").iterdir()} == named
    print(f"\nkills survived: 20 (a whole run takes {full_run:.1f} s); documents in the index after "
          f"each kill: {sizes_seen}; its segments: {segments_seen}; final rerun: {report.summary()}")


def _index_state(index_dir, settings) -> dict[str, str]:
    index = Index.open(index_dir, settings)
    state = {d.source: d.sha256 for d in index.documents()}
    index.close()
    return state


def _folder_state(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_questions_during_an_update_see_the_old_or_the_new_index(sources_copy, tmp_path, model):
    import threading

    from qa import pipeline
    from qa.read.answer import answer_question

    settings = Settings(index_dir=tmp_path / "index", sources_dir=sources_copy)
    pipeline.update(settings, model, progress=False)
    live = pipeline.load(settings, model)
    errors, answers = [], []
    done = threading.Event()

    def ask_repeatedly():
        while not done.is_set():
            retriever = live.retriever  # one consistent index per question
            answer = answer_question(retriever, "How many soldiers does Russia recruit each month?")
            try:
                assert "25,000 to 30,000" in answer.citations[0].quote
                for c in answer.citations:
                    assert retriever.backend.document_by_source(c.source).text[c.start:c.end] == c.quote
                answers.append(len(retriever.backend.documents()))
            except Exception as error:  # collected: a failure in a thread would pass silently
                errors.append(error)

    asker = threading.Thread(target=ask_repeatedly)
    asker.start()
    for round_ in range(4):
        (sources_copy / f"upload-{round_}.md").write_text(f"# Upload {round_}\n\nLlamas hum when content. {round_}\n")
        pipeline.update(settings, model, progress=False)
        live.reload()
    done.set()
    asker.join()
    assert not errors
    assert answers and set(answers) <= {2, 3, 4, 5, 6}
