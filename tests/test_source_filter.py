"""Asking some documents, not all: `--source` patterns (`qa ask`, `qa search`, `qa eval`,
`qa documents`), `Retriever.within` and `Pipeline.ask(sources=…)`, the web chat's document picker
and /ask's `sources`. In every mode and on both backends, no passage or citation comes from a
document the patterns do not select."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import Client

from qa.app import web, web_chat
from qa.app.cli import main
from qa.config import MODES, Settings
from qa.pipeline import Pipeline, load, open_backend, update
from qa.retrieve import NoMatchingDocument, Retriever, matching_sources, source_matches

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")  # pandas 3 vs gradio

DOCUMENTS = {
    "notes/kiwi.txt": "The kiwi is a flightless bird that lives only in New Zealand. "
                      "It lays a very large egg for the size of its body.",
    "notes/owls.md": "# Owls\n\nOwls hunt at night. Their soft feathers let them fly without a sound.",
    "reports/report-2023.txt": "The bird survey of 2023 counted 412 kiwi in the northern reserve. "
                               "Volunteers walked every track at night.",
    "reports/report-2024.txt": "The bird survey of 2024 counted 530 kiwi in the northern reserve, "
                               "more than the year before.",
    "reports/archive/report-2019.txt": "In 2019 the reserve was closed to visitors after a storm, and no kiwi "
                                       "were counted that year.",
    # Others that mention kiwi, so that a few selected documents rank among many.
    **{f"misc/field-note-{n:02}.txt": f"Field note {n}: a kiwi was heard near camp {n}. The kiwi calls at dusk, "
                                      f"and the rangers wrote down each call they heard on night {n}."
       for n in range(30)},
}
WHERE_KIWI_LIVE = "Where does the kiwi live?"  # answered by notes/kiwi.txt


def under(sources: list[str], *prefixes: str) -> bool:
    return bool(sources) and all(s.startswith(prefixes) for s in sources)


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("picked") / "sources"
    for name, text in DOCUMENTS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def local_settings(model, collection) -> Settings:
    settings = Settings(index_dir=collection.parent / "index", sources_dir=collection, device="cpu")
    update(settings, model, collection, progress=False)
    return settings


@pytest.fixture(scope="module", params=["local", "milvus"])
def picked_retriever(request, model, collection, local_settings) -> Retriever:
    """The collection's retriever on each backend, asking for few candidates (3), so that a small
    selection's passages have to be looked for deeper than that."""
    settings = local_settings.with_(candidates=3)
    if request.param == "milvus":
        settings = settings.with_(backend="milvus", uri=str(collection.parent / "milvus.db"))
        update(settings, model, collection, progress=False)
    return Retriever(open_backend(settings), model, settings)


def test_a_pattern_is_a_path_a_file_name_a_folder_or_a_glob():
    source = "reports/archive/report-2019.txt"
    for pattern in (source, "report-2019.txt", "report-*.txt", "reports/*", "*/archive/*", "reports",
                    "reports/", "reports/archive/", "*.txt", "report-20[01]9.txt"):
        assert source_matches(pattern, source), pattern
    for pattern in ("REPORT-2019.txt", "report", "archive", "report-2019", "eports/", "*.md", ""):
        assert not source_matches(pattern, source), pattern
    assert source_matches("[draft] plan.txt", "[draft] plan.txt")  # a name is itself, glob characters or not


def test_patterns_select_the_union_and_one_that_selects_nothing_is_named():
    sources = ["notes/kiwi.txt", "notes/owls.md", "reports/report-2023.txt"]
    assert matching_sources(["*.md", "report-*"], sources) == {"notes/owls.md", "reports/report-2023.txt"}
    with pytest.raises(NoMatchingDocument) as refused:
        matching_sources(["notes/", "reprt-*"], sources)
    assert refused.value.pattern == "reprt-*"
    assert "'reprt-*'" in str(refused.value) and "`qa documents`" in str(refused.value)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_searches_only_the_selected_documents(picked_retriever, mode):
    assert not under([h.chunk.source for h in picked_retriever.search(WHERE_KIWI_LIVE, mode, k=3)], "reports/")
    hits = picked_retriever.within(["reports/"]).search(WHERE_KIWI_LIVE, mode, k=3)
    assert under([h.chunk.source for h in hits], "reports/")
    # Three passages although each retriever hands over only three candidates, and 30 other
    # documents about kiwi outrank these.
    assert len(hits) == 3 and [h.rank for h in hits] == [1, 2, 3]
    alone = picked_retriever.within(["report-2019.txt"]).search("How many kiwi were heard?", mode, k=2)
    assert [h.chunk.source for h in alone] == ["reports/archive/report-2019.txt"]


@pytest.mark.parametrize("mode", MODES)
def test_answers_quote_only_the_selected_documents(picked_retriever, mode):
    from qa.read.answer import answer_question

    answer = answer_question(picked_retriever.within(["notes/", "report-2024*"]), "How many kiwi were counted?",
                             mode, k=5)
    sources = [c.source for c in answer.citations]
    assert under(sources, "notes/", "reports/report-2024.txt")
    assert not answer.abstained and "530" in answer.quotes[0].quote


def test_the_python_api_takes_sources(model, local_settings):
    pipeline = load(local_settings, model)
    answer = pipeline.ask("How many kiwi did the 2023 survey count?", sources=["reports/"])
    assert "412" in answer.quotes[0].quote
    assert under([c.source for c in answer.citations], "reports/")
    assert under([h.chunk.source for h in pipeline.search(WHERE_KIWI_LIVE, k=4, sources=["*.md"])], "notes/owls.md")
    assert pipeline.retriever.sources is None  # the pipeline itself still searches everything
    with pytest.raises(NoMatchingDocument):
        pipeline.search(WHERE_KIWI_LIVE, sources=["nothing-like-this.pdf"])


def qa(capsys, *argv: str) -> tuple[int, str, str]:
    """`qa ARGV` in this process: (exit status, stdout, stderr)."""
    try:
        status = main(list(argv))
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("mode", MODES)
def test_the_cli_searches_and_asks_only_the_selected_documents(capsys, local_settings, mode):
    index = ["--index", str(local_settings.index_dir)]
    status, out, _ = qa(capsys, "search", WHERE_KIWI_LIVE, "--mode", mode, "-k", "4", "--source", "report-*",
                        "--json", *index)
    assert status == 0 and under([h["source"] for h in json.loads(out)["hits"]], "reports/")
    status, out, _ = qa(capsys, "ask", "How many kiwi were counted?", "--mode", mode, "--source", "notes",
                        "--source", "reports/report-2023.txt", "--json", *index)
    answer = json.loads(out)
    assert status == 0 and "412" in answer["answer"][0]["quote"]
    assert under([c["source"] for c in answer["citations"]], "notes/", "reports/report-2023.txt")


def test_qa_eval_asks_only_the_selected_documents(capsys, local_settings, tmp_path):
    questions = tmp_path / "set.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "How many kiwi did the 2024 survey count?",
                                     "answers": ["530"]}) + "\n", encoding="utf-8")
    hit = {}
    for pattern in ("reports/", "notes/"):
        status, out, _ = qa(capsys, "eval", str(questions), "--modes", "hybrid", "--source", pattern, "--json",
                            "--out", str(tmp_path / pattern.strip("/")), "--index", str(local_settings.index_dir))
        assert status == 0
        hit[pattern] = json.loads(out)["metrics"]["hybrid"]["hit@1"]
    assert hit == {"reports/": 1.0, "notes/": 0.0}


def test_qa_documents_shows_what_patterns_select(capsys, local_settings):
    status, out, _ = qa(capsys, "documents", "--source", "reports/", "--index", str(local_settings.index_dir))
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == [
        "reports/archive/report-2019.txt", "reports/report-2023.txt", "reports/report-2024.txt"]
    status, out, _ = qa(capsys, "documents", "--json", "--index", str(local_settings.index_dir))
    assert len(json.loads(out)["documents"]) == len(DOCUMENTS)


def test_a_pattern_that_selects_nothing_is_one_line_and_status_2(capsys, local_settings, tmp_path):
    index = ["--index", str(local_settings.index_dir)]
    asked = subprocess.run([sys.executable, "-m", "qa", "ask", "Where does the kiwi live?", "--source", "notes/",
                            "--source", "reprt-*.pdf", *index], capture_output=True, text=True)
    assert asked.returncode == 2 and asked.stdout == ""
    assert asked.stderr == (f"qa: no indexed document matches 'reprt-*.pdf' (a file name, path or folder as "
                            f"citations give it, or a glob over them): `qa documents` lists the {len(DOCUMENTS)} "
                            f"indexed documents\n")
    questions = tmp_path / "set.jsonl"
    questions.write_text('{"id": "q", "question": "Where does the kiwi live?", "answers": ["New Zealand"]}\n')
    for argv in (["search", WHERE_KIWI_LIVE, "--source", "Notes/"], ["documents", "--source", "*.pdf"],
                 ["eval", str(questions), "--source", "kiwi", "--out", str(tmp_path / "out")]):
        status, out, err = qa(capsys, *argv, *index)
        assert status == 2 and len(err.splitlines()) == 1 and "no indexed document matches" in err, argv


def test_the_cli_selects_on_milvus_too(capsys, model, collection, local_settings):
    uri = str(collection.parent / "cli-milvus.db")
    update(local_settings.with_(backend="milvus", uri=uri), model, collection, progress=False)
    status, out, _ = qa(capsys, "ask", "How many kiwi were counted?", "--source", "report-2024.txt", "--json",
                        "--backend", "milvus", "--uri", uri)
    answer = json.loads(out)
    assert status == 0 and {c["source"] for c in answer["citations"]} == {"reports/report-2024.txt"}


@pytest.fixture(scope="module")
def app(model, local_settings):
    pipeline = web.prepare(local_settings, model, progress=False)
    demo = web.build_app(pipeline)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web.launch(demo, "127.0.0.1", port, block=False)
    yield pipeline, demo, Client(f"http://127.0.0.1:{port}/", verbose=False)
    demo.close()


@pytest.mark.parametrize("mode", MODES)
def test_the_web_api_answers_from_the_sources_given(app, mode):
    _, _, client = app
    answer = client.predict("How many kiwi were counted?", mode, 5, ["reports/report-2023.txt"], api_name="/ask")
    assert answer["error"] is None and "412" in answer["answer"][0]["quote"]
    assert {c["source"] for c in answer["citations"]} == {"reports/report-2023.txt"}
    answer = client.predict(WHERE_KIWI_LIVE, mode, 3, ["reports/", "misc/field-note-0*"], api_name="/ask")
    assert under([c["source"] for c in answer["citations"]], "reports/", "misc/field-note-0")


def test_the_web_api_names_a_pattern_that_selects_nothing(app):
    _, _, client = app
    answer = client.predict(WHERE_KIWI_LIVE, "hybrid", 3, ["notes/", "minutes-*.docx"], api_name="/ask")
    assert answer["citations"] == [] and answer["answer"] == []
    assert answer["error"] == (f"No indexed document matches 'minutes-*.docx': the Sources tab lists the "
                               f"{len(DOCUMENTS)} indexed documents.")
    answer = client.predict(WHERE_KIWI_LIVE, "hybrid", 3, [3], api_name="/ask")
    assert answer["error"].startswith("sources must be a list of file names or patterns")
    everything = client.predict(WHERE_KIWI_LIVE, api_name="/ask")  # sources may be left out: all documents
    assert everything["error"] is None and everything["citations"][0]["source"] == "notes/kiwi.txt"


def test_the_chat_picker_lists_the_documents_and_restricts_answers(app):
    pipeline, demo, _ = app
    pickers = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "qa-pick-sources"]
    assert len(pickers) == 1 and pickers[0].multiselect
    assert sorted(choice[1] for choice in pickers[0].choices) == sorted(DOCUMENTS)
    answer = web_chat.answered(pipeline, "How many kiwi were counted?", "hybrid", 3, follow_up=True,
                               sources=["reports/report-2024.txt"])
    assert {c["source"] for c in answer["citations"]} == {"reports/report-2024.txt"}
    assert isinstance(pipeline, Pipeline) and pipeline.retriever.sources is None
