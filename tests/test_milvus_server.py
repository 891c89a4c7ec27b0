"""The Milvus backend against a Milvus server process (milvus-lite's gRPC server, the way a cluster
is reached: `--uri http://host:port`): the same answers as the embedded index, readers that keep
answering while `qa index` writes, and one clear line when the server is unreachable or stops.

The retrieval and answer tests of test_retrieve.py and test_answer.py run here once more, over the
server, through this module's `retriever`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import DEV_SET, SHIPPED_SOURCES
from qa.index.backend import IndexUnusable
from qa.config import Settings
from qa.evaluation.evaluate import evaluate_question_set, load_question_set
from qa.index.milvus import MilvusUnavailable
from qa.pipeline import load, open_backend, update
from qa.retrieve import Retriever
from test_answer import (dev_answers, test_development_set_quality_bar,  # noqa: F401  (run here too)
                         test_every_quote_is_verbatim_from_its_source,
                         test_off_topic_questions_abstain_and_show_nearest_passages)
from test_retrieve import test_each_mode_finds_the_right_document, test_hits_say_why_they_were_chosen  # noqa: F401

OWLS = ("Barn owls swallow their prey whole and cough up pellets of fur and bones. "
        "A barn owl eats about four voles a night.")
WAGNER = "Which mercenary group nearly rebelled?"


@dataclass
class Server:
    uri: str
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(folder: Path) -> Server:
    """`python -m milvus_lite server` on a free port, once it accepts connections."""
    port = free_port()
    log = open(folder / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(folder / "data"),
                                "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return Server(f"http://127.0.0.1:{port}", process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the Milvus server did not start: {(folder / 'server.log').read_text()[-2000:]}")


def stop(server: Server) -> None:
    server.process.kill()
    server.process.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    running = start_server(tmp_path)
    yield running
    stop(running)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    running = start_server(tmp_path_factory.mktemp("milvus-server"))
    yield running
    stop(running)


@pytest.fixture(scope="module")
def server_settings(shared_server, model) -> Settings:
    settings = Settings(backend="milvus", uri=shared_server.uri)
    update(settings, model, SHIPPED_SOURCES, progress=False)
    return settings


@pytest.fixture(scope="module")
def retriever(server_settings, model) -> Retriever:
    """The shipped sources in the server: what the imported retrieval and answer tests search."""
    return Retriever(open_backend(server_settings), model, server_settings)


def qa_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qa.app.cli", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_dev_set_hit_rates_match_the_embedded_index(local_index, retriever, model, mode):
    questions = load_question_set(DEV_SET)
    rates = {}
    for name, index in (("local", local_index), ("server", retriever.backend)):
        metrics = evaluate_question_set(Retriever(index, model, Settings()), questions, modes=(mode,)).metrics[mode]
        rates[name] = {"hit@1": metrics["hit@1"], "hit@3": metrics["hit@3"]}
    print(f"{mode}: {rates}")
    assert rates["server"] == rates["local"]


def test_readers_keep_answering_while_qa_index_writes(server, model, sources_copy, tmp_path):
    settings = Settings(backend="milvus", uri=server.uri)
    built = qa_cli("index", str(sources_copy), "-q", "--backend", "milvus", "--uri", server.uri)
    assert built.returncode == 0 and "2 added" in built.stdout, built.stderr
    pipeline = load(settings, model)  # what the web app holds: one index, opened once

    answers, failures, writing = [], [], threading.Event()
    writing.set()

    def ask_while_writing() -> None:
        while writing.is_set():
            try:
                answers.append(pipeline.ask(WAGNER))
            except Exception as error:  # any failure is the finding
                failures.append(error)

    reader = threading.Thread(target=ask_while_writing)
    reader.start()
    (sources_copy / "owls.txt").write_text(OWLS)
    # Enough text that the writer is busy for a while: 60 documents, one chunk each at least.
    for n in range(60):
        (sources_copy / f"note-{n:02}.txt").write_text(f"Note {n} about the garden shed. " * 20)
    try:
        written = qa_cli("index", str(sources_copy), "-q", "--backend", "milvus", "--uri", server.uri)
    finally:
        writing.clear()
        reader.join(timeout=60)
    assert written.returncode == 0 and "61 added, 0 changed, 0 removed, 2 unchanged" in written.stdout, written.stderr
    assert not failures
    assert len(answers) >= 3 and all("Wagner" in a.citations[0].quote for a in answers)

    owl_question = "How many voles does a barn owl eat?"
    # The index opened before the write lists only the documents it saw then.
    assert all(h.chunk.source != "owls.txt" for h in pipeline.search(owl_question, "bm25", 5))
    pipeline.reload()
    assert pipeline.search(owl_question, "hybrid", 3)[0].chunk.source == "owls.txt"
    assert "four voles" in pipeline.ask(owl_question).citations[0].quote

    # The server dies under a running reader: the next question ends in one clear error, at once.
    stop(server)
    began = time.monotonic()
    with pytest.raises(MilvusUnavailable, match=f"cannot reach Milvus at {server.uri}"):
        pipeline.ask(WAGNER)
    assert time.monotonic() - began < 10


def test_a_reader_skips_documents_changed_after_it_opened(server, model, tmp_path):
    (tmp_path / "owls.txt").write_text(OWLS)
    (tmp_path / "bees.txt").write_text("Honey bees dance to show the way to flowers.")
    settings = Settings(backend="milvus", uri=server.uri)
    update(settings, model, tmp_path, progress=False)
    reader = open_backend(settings)
    (tmp_path / "owls.txt").write_text(OWLS.replace("four voles", "five shrews"))
    assert update(settings, model, tmp_path, progress=False).changed == ["owls.txt"]

    # The version the reader listed is gone and the new one is not listed: no owl passage at all,
    # rather than a passage whose document text no longer matches it.
    assert [reader.chunk(i).source for i, _ in reader.lexical_search("barn owl voles shrews", 5)] == []
    with pytest.raises(IndexUnusable, match="owls.txt changed in Milvus"):
        reader.document_by_source("owls.txt")
    assert reader.document_by_source("bees.txt").text.startswith("Honey bees")
    fresh = Retriever(open_backend(settings), model, settings)
    assert "five shrews" in fresh.search("What does a barn owl eat?", "hybrid", 1)[0].chunk.text


def test_a_stopped_server_is_an_error_not_a_hang(server, model, monkeypatch):
    settings = Settings(backend="milvus", uri=server.uri)
    update(settings, model, SHIPPED_SOURCES, progress=False)
    pipeline = load(settings, model)
    monkeypatch.setattr("qa.index.milvus_index.READ_TIMEOUT_S", 2)
    os.kill(server.process.pid, signal.SIGSTOP)  # alive and listening, but answering nothing
    try:
        began = time.monotonic()
        with pytest.raises(MilvusUnavailable, match="did not answer in time"):
            pipeline.ask(WAGNER)
        assert time.monotonic() - began < 10
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def test_cli_over_a_server_and_without_one(retriever, shared_server, tmp_path):
    asked = qa_cli("ask", WAGNER, "--backend", "milvus", "--uri", shared_server.uri, "--json")
    assert asked.returncode == 0, asked.stderr
    assert "Wagner" in json.loads(asked.stdout)["citations"][0]["quote"]
    assert asked.stderr == ""  # no pymilvus warnings either

    closed = f"http://127.0.0.1:{free_port()}"
    for command in (["ask", WAGNER], ["index", str(SHIPPED_SOURCES), "-q"], ["search", WAGNER],
                    ["serve", str(SHIPPED_SOURCES), "--port", str(free_port())]):
        result = qa_cli(*command, "--backend", "milvus", "--uri", closed, timeout=60)
        assert result.returncode == 1, command
        assert result.stderr.strip().splitlines() == \
            [f"qa: cannot reach Milvus at {closed}: is it running? Start it, or name another with --uri"]
