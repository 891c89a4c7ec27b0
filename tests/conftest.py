"""Shared fixtures: the real model and a real index of the shipped sources, built once per run
on each backend (the embedded index, and Milvus on milvus-lite); and the `unit` and
`integration` markers, given by file and by fixture (docs/testing.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import Settings
from qa.pipeline import model_for, open_backend, update
from qa.retrieve import Retriever
from qa.index.store import Index

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SOURCES = ROOT / "sources"
ARTIFACTS = ROOT / "test-artifacts"
# The development question set, in the shared data beside the checkout.
DEV_SET = ROOT.parent / "shared" / "eval" / "seed-dev.jsonl"

# A test is `integration` when it asks for a fixture that loads a model (the embedding model, the
# reader, a browser page; and so every fixture built on them: indexes, retrievers, web apps), or
# when its file is not listed here; otherwise it is `unit`. The files listed hold pure tests
# (documents, chunks, fusion, BM25, exports, the docs) beside, at most, tests that ask for such a
# fixture; the others build indexes through the CLI, start processes or servers, or load models
# themselves. A test marked `unit` or `integration` by hand keeps its mark.
LOADING_FIXTURES = {"model", "torch_model", "reader", "browser"}
UNIT_FILES = {"test_answer.py", "test_chunking.py", "test_conversation.py", "test_docs.py", "test_documents.py",
              "test_docx.py", "test_export.py", "test_hostile_documents.py", "test_hostile_formats.py",
              "test_layout.py", "test_lexical.py", "test_natural_set.py", "test_ocr.py", "test_pdf_positions.py",
              "test_retrieve.py"}


# The files whose tests take longest (together over half the run), collected first: `make test`
# runs two xdist workers that each take whole files in this order (--dist loadfile
# --no-loadscope-reorder), so these run beside the many short files rather than alone at the end.
RUN_FIRST = ["test_training.py", "test_beir_out_of_domain.py", "test_robustness.py", "test_milvus_server.py",
             "test_milvus.py", "test_resumable_build.py", "test_beir.py", "test_hostile_documents.py",
             "test_store.py", "test_hostile_cli.py", "test_evaluate.py", "test_hostile_index.py"]


def pytest_collection_modifyitems(items):
    first = {name: rank for rank, name in enumerate(RUN_FIRST)}
    items.sort(key=lambda item: first.get(item.path.name, len(first)))  # stable: the rest keep their order
    for item in items:
        if item.get_closest_marker("unit") or item.get_closest_marker("integration"):
            continue
        loads = LOADING_FIXTURES & set(getattr(item, "fixturenames", ()))
        unit = item.path.name in UNIT_FILES and not loads
        item.add_marker(pytest.mark.unit if unit else pytest.mark.integration)


@pytest.fixture(scope="session")
def model():
    return model_for(Settings(device="cpu"))


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return Settings(index_dir=tmp_path_factory.mktemp("shipped") / "index", sources_dir=SHIPPED_SOURCES)


@pytest.fixture(scope="session")
def local_index(model, settings) -> Index:
    """The embedded index, built whatever the backend: the CLI tests read it by --index."""
    update(settings, model, SHIPPED_SOURCES, progress=False)
    return Index.open(settings.index_dir, settings)


@pytest.fixture(scope="session")
def milvus_shipped(model, settings):
    """The shipped sources in Milvus (milvus-lite, a file), built once: read only, like local_index."""
    on_milvus = settings.with_(backend="milvus", uri=str(settings.index_dir.parent / "milvus.db"))
    update(on_milvus, model, SHIPPED_SOURCES, progress=False)
    return open_backend(on_milvus)


@pytest.fixture(scope="session", params=["local", "milvus"])
def shipped_index(request, local_index):
    """The shipped sources on each backend, so retrieval and answers are tested on both."""
    if request.param == "local":
        return local_index
    return request.getfixturevalue("milvus_shipped")


@pytest.fixture(scope="session")
def retriever(shipped_index, model, settings) -> Retriever:
    return Retriever(shipped_index, model, settings)


@pytest.fixture
def sources_copy(tmp_path) -> Path:
    """A writable copy of the shipped sources."""
    target = tmp_path / "sources"
    shutil.copytree(SHIPPED_SOURCES, target)
    return target


@pytest.fixture(scope="session")
def shipped_index_files(model, tmp_path_factory) -> Path:
    """An embedded index of the shipped sources with default settings, built once and never
    opened: what `update(Settings(index_dir=...), model, sources_copy)` writes, to be copied."""
    index_dir = tmp_path_factory.mktemp("pristine") / "index"
    update(Settings(index_dir=index_dir), model, SHIPPED_SOURCES, progress=False)
    return index_dir


@pytest.fixture
def index_copy(shipped_index_files, tmp_path) -> Path:
    """A writable copy of `shipped_index_files` at tmp_path / "index", for tests that damage or
    rebuild an index: a copy instead of a build per test (the build is tested elsewhere)."""
    target = tmp_path / "index"
    shutil.copytree(shipped_index_files, target)
    return target


# Debian's Chromium, driven headless by Playwright (which never downloads a browser here).
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (each test opens its own page in it)."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()
