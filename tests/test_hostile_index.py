"""Index files damaged or written by someone else: every one is "unusable" in one line (never a
traceback, never unpickled), and a plain `qa index` (or the web app's start) builds it again."""

from __future__ import annotations

import json
import pickle

import pytest

from qa.app.cli import main
from qa.config import Settings
from qa.index.store import Index

QUESTION = "When did Russia invade Ukraine?"


def _live(index_dir):
    return index_dir / (index_dir / "CURRENT").read_text().strip()


def _edit_json(path, change) -> None:
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def _segment_json(index_dir):
    [name] = json.loads((_live(index_dir) / "manifest.json").read_text())["segments"]
    return index_dir / "segments" / name / "segment.json"


def _damage(index_dir, how: str) -> None:
    manifest = _live(index_dir) / "manifest.json"
    if how == "CURRENT is not UTF-8":
        (index_dir / "CURRENT").write_bytes(b"\xff\xfe")
    elif how == "CURRENT names a path outside":
        (index_dir / "CURRENT").write_text("../../etc\n")
    elif how == "manifest is a list":
        manifest.write_text('["x"]')
    elif how == "manifest is not UTF-8":
        manifest.write_bytes(b"\xff\xfe{}")
    elif how == "manifest nested 100,000 deep":
        manifest.write_text("[" * 100_000 + "]" * 100_000)
    elif how == "manifest without documents":
        _edit_json(manifest, lambda m: m.pop("documents"))
    elif how == "manifest entry in no segment":
        _edit_json(manifest, lambda m: m["documents"][0].update(segment=-1))
    elif how == "manifest entry past its segment":
        _edit_json(manifest, lambda m: m["documents"][0].update(number=99))
    elif how == "manifest setting of the wrong kind":
        _edit_json(manifest, lambda m: m["settings"].update(chunk_chars="600"))
    elif how == "manifest files a list":
        _edit_json(manifest, lambda m: m.update(files=[]))
    elif how == "segment.json is a list":
        _segment_json(index_dir).write_text("[]")
    elif how == "segment.json names a file outside":
        _edit_json(_segment_json(index_dir),
                   lambda f: f["files"].update({"../../CURRENT": {"size": 11, "sha256": None}}))
    else:
        raise AssertionError(how)


SAYS = {"CURRENT is not UTF-8": "its CURRENT file names no generation",
        "CURRENT names a path outside": "its CURRENT file names no generation",
        "manifest is a list": "gen-000001/manifest.json holds a list, not a JSON object",
        "manifest is not UTF-8": "gen-000001/manifest.json is not UTF-8 text",
        "manifest nested 100,000 deep": "gen-000001/manifest.json is JSON nested too deeply",
        "manifest without documents": "gen-000001/manifest.json has no 'documents' field",
        "manifest entry in no segment": "gen-000001/manifest.json has a damaged entry for document 1",
        "manifest entry past its segment": "its manifest names document 99 of seg-000001, which has fewer",
        "manifest setting of the wrong kind": "gen-000001/manifest.json records the setting chunk_chars as a string",
        "manifest files a list": "gen-000001/manifest.json has no 'files' field",
        "segment.json is a list": "segments/seg-000001/segment.json holds a list, not a JSON object",
        "segment.json names a file outside": "segments/seg-000001/../../CURRENT is damaged (its entry in the "
                                             "list of files is damaged)"}


@pytest.fixture
def built(index_copy):
    """The shipped sources' index as `update(Settings(index_dir=...), model, sources_copy)` builds
    it: a copy of one built once (tests/conftest.py)."""
    return index_copy


@pytest.mark.parametrize("how", list(SAYS))
def test_a_damaged_index_file_is_one_line_and_plain_qa_index_repairs_it(built, sources_copy, how, capsys):
    index_dir = built
    _damage(index_dir, how)
    for command in (["ask", QUESTION], ["search", "Wagner"], ["show", "x.txt"]):
        with pytest.raises(SystemExit) as exit:
            main([*command, "--index", str(index_dir)])
        message = str(exit.value)
        assert message.startswith(f"qa: the index at {index_dir} is unusable: ") and "\n" not in message
        assert SAYS[how] in message and message.endswith("rebuild it with `qa index --rebuild`")

    assert main(["index", str(sources_copy), "--index", str(index_dir), "-q"]) == 0  # without --rebuild
    assert f"full rebuild: previous index unusable: {SAYS[how]}" in capsys.readouterr().out
    index = Index.open(index_dir)
    assert len(index.documents()) == 2
    index.close()


@pytest.mark.parametrize("how", ["CURRENT is not UTF-8", "manifest is a list"])
def test_qa_index_rebuild_and_the_web_app_repair_a_damaged_index(built, sources_copy, model, how, capsys):
    from qa.app import web

    _damage(built, how)
    assert main(["index", str(sources_copy), "--index", str(built), "-q", "--rebuild"]) == 0
    assert "full rebuild: asked for with --rebuild" in capsys.readouterr().out

    _damage(built, how)  # the web app (app.py, qa serve) at its start
    pipeline = web.prepare(Settings(index_dir=built, sources_dir=sources_copy), model, progress=False)
    assert len(pipeline.retriever.backend.documents()) == 2


class _Runs:
    def __reduce__(self):
        return (exec, ("raise SystemExit('the pickle ran')",))


def test_a_manifest_naming_a_model_folder_with_a_pickle_is_refused_unread(built, sources_copy, tmp_path, capsys):
    import shutil

    from qa.index.dense import model_path

    folder = tmp_path / "model"
    shutil.copytree(model_path(Settings().model), folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Runs()))
    _edit_json(_live(built) / "manifest.json", lambda m: m["settings"].update(model=str(folder)))

    with pytest.raises(SystemExit) as exit:
        main(["ask", QUESTION, "--index", str(built)])
    assert str(exit.value) == (f"qa: the index at {built} is unusable: gen-000001/manifest.json names a model "
                               f"qa cannot load (the model folder {folder} holds pytorch_model.bin, a pickle "
                               f"file, which qa does not load (unpickling can run any code): use a model whose "
                               f"weights are .safetensors files); rebuild it with `qa index --rebuild`")
    assert main(["index", str(sources_copy), "--index", str(built), "-q"]) == 0  # with the default model
    assert "full rebuild: previous index unusable" in capsys.readouterr().out
    assert main(["ask", QUESTION, "--index", str(built)]) == 0
    assert "2022" in capsys.readouterr().out


def test_a_document_damaged_past_its_checksum_is_one_line_when_read(built, sources_copy, capsys):
    """documents.jsonl past CHECKSUM_LIMIT is only measured when the index opens: a damaged line
    is found when a question reads it, and said in one line."""
    segment = _segment_json(built).parent
    lines = (segment / "documents.jsonl").read_bytes()
    (segment / "documents.jsonl").write_bytes(b"[" + lines[1:])  # the same size
    _edit_json(_segment_json(built), lambda f: f["files"]["documents.jsonl"].update(sha256=None))
    for command in (["ask", QUESTION], ["show", json.loads(lines.splitlines()[0])["source"]]):
        with pytest.raises(SystemExit) as exit:
            main([*command, "--index", str(built)])
        assert str(exit.value) == (f"qa: the index at {built} is unusable: segments/seg-000001/documents.jsonl "
                                   f"is damaged (document 0: JSONDecodeError); rebuild it with `qa index --rebuild`")
    assert main(["index", str(sources_copy), "--index", str(built), "-q", "--rebuild"]) == 0
    capsys.readouterr()
    assert main(["ask", QUESTION, "--index", str(built)]) == 0
    assert "2022" in capsys.readouterr().out
