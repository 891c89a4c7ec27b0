"""Shared fixtures: the real model and a real index of the shipped sources, built once per run
on each backend (the embedded index, and Milvus on milvus-lite)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import DEV_SET, Settings  # noqa: F401  (DEV_SET: for the tests)
from qa.pipeline import model_for, open_backend, update
from qa.retrieve import Retriever
from qa.index.store import Index

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SOURCES = ROOT / "sources"
ARTIFACTS = ROOT / "test-artifacts"


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


@pytest.fixture(scope="session", params=["local", "milvus"])
def shipped_index(request, model, settings, local_index):
    """The shipped sources on each backend, so retrieval and answers are tested on both."""
    if request.param == "local":
        return local_index
    on_milvus = settings.with_(backend="milvus", uri=str(settings.index_dir.parent / "milvus.db"))
    update(on_milvus, model, SHIPPED_SOURCES, progress=False)
    return open_backend(on_milvus)


@pytest.fixture(scope="session")
def retriever(shipped_index, model, settings) -> Retriever:
    return Retriever(shipped_index, model, settings)


@pytest.fixture
def sources_copy(tmp_path) -> Path:
    """A writable copy of the shipped sources."""
    target = tmp_path / "sources"
    shutil.copytree(SHIPPED_SOURCES, target)
    return target
