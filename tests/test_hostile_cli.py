"""The `qa` command against hostile input: bad numbers, closed pipes, damaged indexes, full disks.

Whatever the user types, the answer is one line saying what is wrong, never a traceback."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from qa.app.cli import main
from qa.pipeline import update


@pytest.mark.parametrize("argv, says", [
    (["ask", "Who?", "-k", "0"], "argument -k: 0 is out of range: use 1 to 100"),
    (["ask", "Who?", "-k", "-100"], "argument -k: -100 is out of range: use 1 to 100"),
    (["search", "Who?", "-k", "0"], "argument -k: 0 is out of range"),
    (["search", "Who?", "-k", "abc"], "argument -k: 'abc' is not a whole number"),
    (["eval", "set.jsonl", "-k", "100000000"], "argument -k: 100000000 is out of range: use 1 to 100"),
    (["eval", "set.jsonl", "-k", "0"], "argument -k: 0 is out of range"),
    (["index", "--chunk-chars", "49"], "argument --chunk-chars: 49 is out of range: use 50 to 20,000"),
    (["index", "--chunk-chars", "1e9"], "argument --chunk-chars: '1e9' is not a whole number"),
    (["index", "--overlap", "-1"], "argument --overlap: -1 is out of range: use 0 to 10"),
    (["index", "--max-file-mb", "0"], "argument --max-file-mb: 0 is out of range: use 1 to 2,048"),
    (["serve", "--port", "70000"], "argument --port: 70000 is out of range: use 1 to 65,535"),
    (["search", "Who?", "--dense-weight", "1.5"], "argument --dense-weight: 1.5 is out of range: use 0 to 1"),
    (["ask", "Who?", "--dense-weight", "nan"], "argument --dense-weight: nan is out of range: use 0 to 1"),
    (["eval", "set.jsonl", "--confidence-power", "-1"], "argument --confidence-power: -1 is out of range: use 0 to 10"),
    (["eval", "set.jsonl", "--confidence-power", "two"], "argument --confidence-power: 'two' is not a number"),
])
def test_numeric_options_out_of_range_are_refused_in_words(argv, says, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    assert says in capsys.readouterr().err


def test_help_states_the_ranges(capsys):
    with pytest.raises(SystemExit):
        main(["index", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "50 to 20,000" in text and "0 to 10" in text and "1 to 2,048" in text
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    assert "1 to 100" in capsys.readouterr().out


def _qa(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qa.app.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_reader_that_goes_away_is_not_a_crash(local_index, settings, json_flag):
    """`qa ask … | head`: the pipe closes before qa writes; qa exits quietly as SIGPIPE would."""
    process = _qa("ask", "When did Russia invade Ukraine?", "--index", str(settings.index_dir), *json_flag)
    process.stdout.close()  # long before the model is loaded and the answer printed
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err


# ---------------------------------------------------------------- a damaged index


def _damage(index_dir, how: str) -> None:
    current = index_dir / "CURRENT"
    live = index_dir / current.read_text().strip()
    if how == "empty CURRENT":
        current.write_text("")
    elif how == "CURRENT names a missing generation":
        current.write_text("gen-000099\n")
    elif how == "no manifest":
        (live / "manifest.json").unlink()
    else:  # the generation folder is gone
        shutil.rmtree(live)


DAMAGE = ["empty CURRENT", "CURRENT names a missing generation", "no manifest", "no generation folder"]
SAYS = {"empty CURRENT": "its CURRENT file names no generation",
        "CURRENT names a missing generation": "CURRENT names gen-000099, which is missing",
        "no manifest": "manifest.json is missing from gen-000001",
        "no generation folder": "CURRENT names gen-000001, which is missing"}


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_index_is_reported_and_qa_index_rebuilds_it(sources_copy, tmp_path, model, how, capsys):
    from qa.app import web
    from qa.config import Settings

    index_dir = tmp_path / "index"
    update(Settings(index_dir=index_dir), model, sources_copy, progress=False)
    _damage(index_dir, how)
    for command in (["ask", "When did Russia invade Ukraine?"], ["search", "Wagner"], ["show", "x.txt"]):
        with pytest.raises(SystemExit) as exit:
            main([*command, "--index", str(index_dir)])
        assert str(exit.value) == (f"qa: the index at {index_dir} is unusable: {SAYS[how]}; "
                                   f"rebuild it with `qa index --rebuild`")

    assert main(["index", str(sources_copy), "--index", str(index_dir), "-q"]) == 0  # without --rebuild
    assert "full rebuild: previous index unusable" in capsys.readouterr().out
    assert main(["ask", "When did Russia invade Ukraine?", "--index", str(index_dir)]) == 0
    assert "2022" in capsys.readouterr().out

    _damage(index_dir, how)  # the web app (app.py, qa serve) mends it the same way at start
    pipeline = web.prepare(Settings(index_dir=index_dir, sources_dir=sources_copy), model, progress=False)
    assert len(pipeline.retriever.backend.documents()) == 2


# ---------------------------------------------------------------- a full disk


def test_a_full_disk_during_qa_index_keeps_the_old_index_and_leaves_nothing_behind(
        sources_copy, tmp_path, model, monkeypatch, capsys):
    from qa.config import Settings
    from qa.index.dense import DenseIndex

    index_dir = tmp_path / "index"
    update(Settings(index_dir=index_dir), model, sources_copy, progress=False)
    before = sorted(p.name for p in index_dir.iterdir())
    (sources_copy / "bees.txt").write_text("Honeybees dance to tell hive mates where flowers are.\n")

    def full_disk(self, folder):  # halfway through writing the new generation
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder))

    monkeypatch.setattr(DenseIndex, "save", full_disk)
    with pytest.raises(SystemExit) as exit:
        main(["index", str(sources_copy), "--index", str(index_dir), "-q"])
    assert str(exit.value) == (f"qa: the new index could not be written to {index_dir}: the disk is full. "
                               "Nothing was changed: the previous index still answers. Free some space "
                               "(or fix the permissions) and run `qa index` again")
    assert sorted(p.name for p in index_dir.iterdir()) == before  # no .gen-*.partial, no half generation
    assert main(["ask", "When did Russia invade Ukraine?", "--index", str(index_dir)]) == 0
    assert "2022" in capsys.readouterr().out

    monkeypatch.undo()  # space freed: the same command completes
    assert main(["index", str(sources_copy), "--index", str(index_dir), "-q"]) == 0
    assert "1 added" in capsys.readouterr().out


def test_faiss_reports_a_full_disk_as_oserror(monkeypatch, tmp_path):
    import faiss
    import numpy as np

    from qa.config import Settings
    from qa.index.dense import DenseIndex

    def failing(index, path):
        raise RuntimeError("Error in faiss::FileIOWriter: write error in x: 0 != 64 (No space left on device)")

    monkeypatch.setattr(faiss, "write_index", failing)
    with pytest.raises(OSError) as error:
        DenseIndex.build(np.eye(4, dtype=np.float32), Settings(hnsw_ef_search=64)).save(tmp_path)
    assert error.value.errno == errno.ENOSPC


# ---------------------------------------------------------------- settings that shape an index


def _built_with(index_dir) -> dict:
    from qa.config import Settings
    from qa.index.store import built_shape

    return built_shape(Settings(index_dir=index_dir))


def test_an_index_is_read_and_updated_the_way_it_was_built(sources_copy, tmp_path, model, capsys):
    from qa.app import web
    from qa.config import Settings

    index_dir = str(tmp_path / "index")
    assert main(["index", str(sources_copy), "--index", index_dir, "-q", "--chunk-chars", "300",
                 "--overlap", "0"]) == 0
    capsys.readouterr()
    assert main(["ask", "When did Russia invade Ukraine?", "--index", index_dir]) == 0
    assert "2022" in capsys.readouterr().out
    assert main(["search", "Wagner mercenary group", "--index", index_dir, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits and all(h["end"] - h["start"] < 600 for h in hits)  # the small chunks, as built

    assert main(["index", str(sources_copy), "--index", index_dir, "-q"]) == 0  # plain: no rebuild
    out = capsys.readouterr().out
    assert "0 added, 0 changed, 0 removed, 2 unchanged" in out and "rebuild" not in out
    assert _built_with(tmp_path / "index")["chunk_chars"] == 300

    pipeline = web.prepare(Settings(index_dir=tmp_path / "index", sources_dir=sources_copy), model,
                           progress=False)  # the web app too
    assert pipeline.settings.chunk_chars == 300 and pipeline.settings.overlap_sentences == 0
    assert _built_with(tmp_path / "index")["chunk_chars"] == 300

    # Only an explicit, different value rebuilds, and the summary says why.
    assert main(["index", str(sources_copy), "--index", index_dir, "-q", "--chunk-chars", "600"]) == 0
    assert "full rebuild: previous index built with chunk_chars=300, not 600" in capsys.readouterr().out
    assert _built_with(tmp_path / "index") == {**Settings().index_shape(), "overlap_sentences": 0}


# ---------------------------------------------------------------- offsets a user can check


def test_offsets_index_the_text_python_reads_and_qa_show_prints_it(tmp_path, capsysbinary):
    import hashlib

    sources = tmp_path / "sources"
    sources.mkdir()
    files = {
        "kiwi.txt": "\ufeffKiwis are flightless birds.\r\nThey live in New Zealand.\r\n\r\n"
                    "The kiwi lays a very large egg for the size of its body.\r\n",
        "owls.md": "# Owls 🦉\n\nOwls hunt at night.\rTheir soft feathers let them fly without a sound.\n",
    }
    for name, text in files.items():
        (sources / name).write_bytes(text.encode("utf-8"))
    (sources / "bees.html").write_text("<html><body><h1>Bees</h1><p>Honeybees dance to tell hive "
                                       "mates where the flowers &amp; water are.</p></body></html>")
    index = ["--index", str(tmp_path / "index")]
    assert main(["index", str(sources), "-q", *index]) == 0

    def run(*argv) -> bytes:
        capsysbinary.readouterr()
        assert main([*argv, *index]) == 0
        return capsysbinary.readouterr().out

    for question, source in (("How large is the egg a kiwi lays?", "kiwi.txt"),
                             ("How do owls fly without a sound?", "owls.md"),
                             ("Why do honeybees dance?", "bees.html")):
        citation = json.loads(run("ask", question, "--json"))["citations"][0]
        assert citation["source"] == source
        shown = run("show", source).decode("utf-8")
        assert citation["text_sha256"] == hashlib.sha256(shown.encode("utf-8")).hexdigest()
        assert run("show", source, "--sha256").decode().strip() == citation["text_sha256"]
        assert shown[citation["start"]:citation["end"]] == citation["quote"]
        assert run("show", source, "--start", str(citation["start"]), "--end", str(citation["end"])
                   ).decode("utf-8") == citation["quote"]
        if source in files:  # plain UTF-8: the very text Python reads (BOM dropped, CR LF and CR folded)
            with open(sources / source, encoding="utf-8-sig") as f:
                assert shown == f.read()

    with pytest.raises(SystemExit) as exit:
        main(["show", "kiwi.txt", "--start", "10", "--end", "5000", *index])
    assert "outside kiwi.txt, whose text has 112 characters" in str(exit.value)
    with pytest.raises(SystemExit) as exit:
        main(["show", "nope.txt", *index])
    assert "no document 'nope.txt' in the index" in str(exit.value)


# ---------------------------------------------------------------- no traceback for a user's mistake


def test_a_bad_device_or_an_unwritable_place_is_one_line(sources_copy, local_index, settings, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["ask", "Who?", "--device", "gpu0"])
    assert "argument --device: 'gpu0' is not a device: use auto, cpu, cuda or cuda:N" in capsys.readouterr().err

    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    assert main(["index", str(sources_copy), "--index", str(a_file / "index"), "-q"]) == 1
    assert capsys.readouterr().err == f"qa: {a_file / 'index'}: Not a directory\n"

    questions = tmp_path / "set.jsonl"
    questions.write_text('{"id": "a", "question": "When did Russia invade Ukraine?", "answers": ["2022"]}\n')
    assert main(["eval", str(questions), "--index", str(settings.index_dir), "--modes", "bm25",
                 "--out", str(a_file / "out")]) == 1
    assert capsys.readouterr().err.endswith(f"qa: {a_file / 'out'}: Not a directory\n")


def test_reader_option_uses_that_model_and_a_folder_without_one_is_one_line(local_index, settings, tmp_path,
                                                                              capsys):
    question = "How many soldiers does Russia recruit each month?"
    with pytest.raises(SystemExit) as exited:  # status 1, the message on stderr
        main(["ask", question, "--index", str(settings.index_dir), "--reader", str(tmp_path)])
    assert exited.value.code.startswith(f"qa: no reader model in {tmp_path} (reader-int8.onnx is missing)")

    # A copy of the shipped reader whose card abstains on everything: qa answers with that card.
    from qa.read.reader import MODEL_DIR

    copy = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, copy)
    card = json.loads((copy / "reader.json").read_text())
    (copy / "reader.json").write_text(json.dumps(card | {"abstain_below": 1.0}))
    assert main(["ask", question, "--index", str(settings.index_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["abstained"] is False
    assert main(["ask", question, "--index", str(settings.index_dir), "--json", "--reader", str(copy)]) == 0
    assert json.loads(capsys.readouterr().out)["abstained"] is True


def test_fusion_options_reach_the_ranking(local_index, settings, capsys):
    """--dense-weight and --confidence-power reach the fusion: with fixed weights, dense weight 1
    orders the passages as dense retrieval alone does, and 0 as BM25 does."""
    def scored(*options):
        assert main(["search", "Which mercenary group nearly rebelled against Moscow?", "--index",
                     str(settings.index_dir), "-k", "8", "--json", *options]) == 0
        return [((h["source"], h["start"]), h["score"]) for h in json.loads(capsys.readouterr().out)["hits"]]

    def ranked(*options):
        return [hit for hit, _ in scored(*options)]

    dense = ranked("--mode", "dense")
    assert ranked("--mode", "hybrid", "--dense-weight", "1", "--confidence-power", "0") == dense
    # BM25 weight 1: BM25's order, down to the hits at its lowest score (min-max puts those at 0,
    # level with every passage only the dense retriever found).
    bm25 = scored("--mode", "bm25")
    above_lowest = [hit for hit, score in bm25 if score > bm25[-1][1]]
    assert len(above_lowest) >= 3
    assert ranked("--mode", "hybrid", "--dense-weight", "0", "--confidence-power", "0")[:len(above_lowest)] \
        == above_lowest


# ---------------------------------------------------------------- files that are not what they claim


# The child limits itself before it runs qa: a preexec_fn runs Python between fork and exec, which
# in a test worker that has threads can meet a lock held at the fork (it once aborted, status -6).
_LIMITED = ("import resource, runpy; resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30)); "
            "runpy.run_module('qa.app.cli', run_name='__main__', alter_sys=True)")


def _refused(*args: str, timeout: float = 60) -> tuple[int, str]:
    """Run `qa ARGS` in a process of at most 4 GB that must end within `timeout`: (status, stderr)."""
    process = subprocess.Popen([sys.executable, "-c", _LIMITED, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"qa {' '.join(args)} still ran after {timeout} s") from None
    return process.returncode, err.decode()


def test_verify_and_eval_refuse_deep_json_devices_and_pipes_in_one_line(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)  # no writer: opening it to read waits for ever
    cases = [(deep, "is JSON nested too deeply to be a qa export",
              "deep.json, line 1: JSON nested too deeply; each line must be one JSON object"),
             ("/dev/zero", "is not a regular file (a pipe, a device)", "is not a regular file (a pipe, a device)"),
             (pipe, "is not a regular file (a pipe, a device)", "is not a regular file (a pipe, a device)")]
    for path, verify_says, eval_says in cases:
        status, err = _refused("verify", str(path), "--sources", str(tmp_path))
        assert status == 2 and err == f"qa: {path} {verify_says}" + (
            "" if path == deep else ": give the JSON file a qa export or `qa ask --json` wrote") + "\n"
        status, err = _refused("eval", str(path), "--index", str(tmp_path / "index"), "--out", str(tmp_path))
        assert status == 1 and err.count("\n") == 1 and eval_says in err and "Traceback" not in err


# ---------------------------------------------------------------- terminal escapes in text


# A document that sets the window title, clears the screen, hides what follows (ESC[8m), opens a
# C1 control sequence and reverses the rest of a line.
HOSTILE = ("Honeybees dance to tell hive mates where the flowers are.\x1b]0;pwned\x07 The queen bee lays up "
           "to two thousand eggs a day.\x1b[2J\x1b[8m Drones do not sting.\x9b31m Workers\u202e live six weeks.\n")
CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def _terminal_safe(text: str) -> bool:
    return not any(c in text for c in CONTROLS) and "\\x1b]0;pwned\\x07" in text and "\\x1b[8m" in text


def test_text_from_documents_and_exports_reaches_the_terminal_escaped(tmp_path, capsys):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "bees.txt").write_text(HOSTILE, encoding="utf-8")
    index = ["--index", str(tmp_path / "index")]
    assert main(["index", str(sources), "-q", *index]) == 0
    capsys.readouterr()
    question = "How many eggs does the queen bee lay?"

    assert main(["ask", question, *index]) == 0
    out = capsys.readouterr().out
    assert _terminal_safe(out) and "\\u202e" in out and "\\x9b31m" in out
    assert main(["ask", question, "--format", "markdown", *index]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in CONTROLS) and "\\x1b\\[8m" in out  # Markdown escapes the [
    assert main(["search", "queen bee eggs", *index]) == 0
    assert not any(c in capsys.readouterr().out for c in CONTROLS)  # (the passage is cut at 400 characters)

    assert main(["ask", question, "--json", *index]) == 0  # JSON: the same text, all of it \u-escaped
    printed = capsys.readouterr().out
    answer = json.loads(printed)
    assert not any(c in printed for c in CONTROLS) and answer["citations"][0]["quote"] == HOSTILE.strip()
    assert main(["search", "queen bee eggs", "--json", *index]) == 0
    printed = capsys.readouterr().out
    assert not any(c in printed for c in CONTROLS) and json.loads(printed)["hits"][0]["text"] == HOSTILE.strip()

    # An export whose quote hides the verdict after it ("gone") behind ESC[8m.
    answer["citations"][0]["quote"] = "Honeybees dance\x1b[8m"
    export = tmp_path / "export.json"
    export.write_text(json.dumps(answer))
    assert main(["verify", str(export), "--sources", str(sources)]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and "gone    Q1 [1] bees.txt chars 0-175 “Honeybees dance\\x1b[8m”: no longer" in out


def test_qa_show_escapes_on_a_terminal_and_keeps_the_exact_text_in_a_pipe(tmp_path):
    import hashlib
    import pty

    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "bees.txt").write_text(HOSTILE, encoding="utf-8")
    index = ["--index", str(tmp_path / "index")]
    assert main(["index", str(sources), "-q", *index]) == 0

    piped = subprocess.run([sys.executable, "-m", "qa.app.cli", "show", "bees.txt", *index], capture_output=True)
    assert piped.stdout.decode("utf-8") == HOSTILE  # `qa show | sha256sum` is the text's hash
    assert hashlib.sha256(piped.stdout).hexdigest() == hashlib.sha256(HOSTILE.encode()).hexdigest()

    terminal, other_end = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "qa.app.cli", "show", "bees.txt", *index], stdout=other_end)
    os.close(other_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    assert process.wait(timeout=60) == 0
    assert _terminal_safe(shown.decode("utf-8")) and "Workers\\u202e live six weeks." in shown.decode("utf-8")


def test_qa_eval_clips_what_it_echoes_of_a_question_set(local_index, settings, tmp_path, capsys):
    questions = tmp_path / "set.jsonl"
    huge = "x" * 1_000_000
    questions.write_text(json.dumps({"id": "big", "question": "When did Russia invade Ukraine? \x1b[2J",
                                     "answers": [huge, "\x1b]0;pwned\x07"]}) + "\n")
    assert main(["eval", str(questions), "--index", str(settings.index_dir), "--modes", "bm25",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert len(out) < 5_000 and "\x1b" not in out
    assert "[bm25] big When did Russia invade Ukraine? \\x1b[2J\n    expected: xxx" in out


# ---------------------------------------------------------------- a file rewritten during qa index


def test_a_file_rewritten_while_qa_index_reads_it_is_read_again_not_dropped(sources_copy, tmp_path, monkeypatch,
                                                                             capsys):
    """An editor saves by emptying a file and writing it again; qa index, reading it in between,
    found it empty and dropped it from the index until the next run."""
    import time

    from qa.ingest import documents

    index = ["--index", str(tmp_path / "index")]
    bees = sources_copy / "bees.txt"
    bees.write_text("Honeybees dance to tell hive mates where the flowers are.\n")
    assert main(["index", str(sources_copy), "-q", *index]) == 0
    read = documents.read_document

    def read_while_saved(path, *args, **kwargs):
        if path.name != "bees.txt":
            return read(path, *args, **kwargs)
        bees.write_text("")  # the editor has emptied it: qa reads it now
        try:
            return read(path, *args, **kwargs)
        finally:
            time.sleep(0.05)  # past the file system clock's tick
            bees.write_text("Honeybees dance to show where nectar is.\n")

    monkeypatch.setattr(documents, "read_document", read_while_saved)
    assert main(["index", str(sources_copy), "-q", *index]) == 0
    assert "0 added, 1 changed, 0 removed, 2 unchanged, 0 skipped" in capsys.readouterr().out
    monkeypatch.undo()
    assert main(["show", "bees.txt", *index]) == 0
    assert capsys.readouterr().out == "Honeybees dance to show where nectar is.\n"


@pytest.mark.parametrize("damage, says", [("reader-int8.onnx", "(InvalidProtobuf: "),
                                          ("reader.json", "(JSONDecodeError: Expecting value")])
def test_a_damaged_reader_folder_is_one_line(local_index, settings, tmp_path, damage, says):
    from qa.read.reader import MODEL_DIR

    copy = tmp_path / "reader"
    shutil.copytree(MODEL_DIR, copy)
    (copy / damage).write_text("[")
    with pytest.raises(SystemExit) as exited:
        main(["ask", "Who leads Wagner?", "--index", str(settings.index_dir), "--reader", str(copy)])
    message = exited.value.code
    assert message.startswith(f"qa: the reader model in {copy} cannot be loaded {says}") and "\n" not in message
    assert message.endswith("give a folder that training/train_reader.py export wrote, or reinstall qa "
                            "(pip install -e .) for the shipped one")


def test_file_names_reach_the_terminal_escaped(tmp_path, capsys):
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "\x1b]0;pwned\x07bees.txt").write_text("Honeybees dance to tell hive mates where flowers are.\n")
    (sources / "\x1b[2Jnotes.xyz").write_text("not read")
    index = ["--index", str(tmp_path / "index")]
    assert main(["index", str(sources), "-q", *index]) == 0
    assert capsys.readouterr().err == "warning: skipped \\x1b[2Jnotes.xyz: unsupported file type .xyz; qa reads " \
        ".txt, .md, .markdown, .html, .htm, .pdf, .docx, .pptx, .xlsx\n"
    with pytest.raises(SystemExit) as exited:
        main(["show", "nope.txt", *index])
    assert exited.value.code.endswith("e.g. \\x1b]0;pwned\\x07bees.txt")
