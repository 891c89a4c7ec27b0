"""The parts joined: load the backend and model once, keep the index up to date, answer.

The CLI, the web app and the evaluation all start here, so they see the same retrieval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qa.config import Settings
from qa.dense import load_model
from qa.retrieve import Retriever
from qa.store import BuildReport, Index, update_index
from qa.store import built_shape as store_shape


@dataclass
class Pipeline:
    settings: Settings
    model: object
    retriever: Retriever

    def reload(self) -> None:
        """Point the retriever at the live index after an update (readers never see half of one)."""
        self.retriever = Retriever(open_backend(self.settings), self.model, self.settings)


def open_backend(settings: Settings):
    """The index that `settings` names, loaded and checked: local files or Milvus."""
    if settings.backend == "milvus":
        from qa.milvus import MilvusIndex

        return MilvusIndex.open(settings)
    return Index.open(settings.index_dir, settings)


def built_shape(settings: Settings) -> dict | None:
    """The settings that shape the configured index, as it was built; None when there is none."""
    if settings.backend == "milvus":
        from qa.milvus import built_shape as milvus_shape

        return milvus_shape(settings)
    return store_shape(settings.index_dir)


def index_settings(settings: Settings, keep=()) -> Settings:
    """`settings` with the values that shape an index (model, embedding backend, chunking) read
    from the existing index, except those named in `keep` (given explicitly by the user)."""
    return settings.shaped_like(built_shape(settings), keep)


def update(settings: Settings, model, sources_dir: Path | None = None, rebuild: bool = False,
           progress: bool = True) -> BuildReport:
    """Bring the configured index (local or Milvus) up to date with the sources folder."""
    sources_dir = Path(sources_dir or settings.sources_dir)
    if settings.backend == "milvus":
        from qa.milvus import update_milvus

        return update_milvus(sources_dir, settings, model, rebuild=rebuild, progress=progress)
    return update_index(sources_dir, settings.index_dir, settings, model, rebuild=rebuild,
                        progress=progress)


def model_for(settings: Settings):
    """The embedding model that `settings` name, on its device and embedding backend."""
    return load_model(settings.model, settings.device, settings.embed_backend)


def load(settings: Settings, model=None, keep=()) -> Pipeline:
    """Load the model (unless given) and the index, once per process, with the settings the index
    was built with; a value named in `keep` that differs from them is refused (IndexUnusable)."""
    settings = index_settings(settings, keep)
    backend = open_backend(settings)  # first: a missing index should not cost a model load
    model = model or model_for(settings)
    return Pipeline(settings, model, Retriever(backend, model, settings))
