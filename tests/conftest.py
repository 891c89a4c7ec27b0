"""Shared fixtures: the real model and a real index of the shipped sources, built once per run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.config import Settings
from qa.dense import load_model
from qa.retrieve import Retriever
from qa.store import Index, update_index

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_SOURCES = ROOT / "sources"
DEV_SET = ROOT.parent / "shared" / "eval" / "seed-dev.jsonl"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def model():
    return load_model(Settings().model, "cpu")


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    return Settings(index_dir=tmp_path_factory.mktemp("shipped") / "index", sources_dir=SHIPPED_SOURCES)


@pytest.fixture(scope="session")
def shipped_index(model, settings) -> Index:
    update_index(SHIPPED_SOURCES, settings.index_dir, settings, model, progress=False)
    return Index.open(settings.index_dir, settings)


@pytest.fixture(scope="session")
def retriever(shipped_index, model, settings) -> Retriever:
    return Retriever(shipped_index, model, settings)


@pytest.fixture
def sources_copy(tmp_path) -> Path:
    """A writable copy of the shipped sources."""
    target = tmp_path / "sources"
    shutil.copytree(SHIPPED_SOURCES, target)
    return target
