"""The on-disk index as a whole: chunks, both indexes, a manifest; incremental and atomic updates.

Layout of an index folder:

    CURRENT              name of the live generation (replaced atomically)
    gen-000007/          one complete, immutable generation
        manifest.json    settings, model, library versions, documents and their hashes, file sizes
        documents.jsonl  one document a line (text, paragraph, page and heading spans)
        documents.offsets.npy   byte offset of each line, for reading one document alone
        chunks.npz       per chunk: document number, start, end, paragraph, page
        vectors.npy      unit embeddings, one row per chunk (reused by incremental updates)
        dense.faiss      the vector index
        bm25/            the BM25 index

An update builds a new generation beside the live one and only then points CURRENT at it, so a
run killed at any moment leaves the previous index answering.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from qa.backend import BuildReport, DocumentInfo, IndexUnusable, diff_sources, rebuild_reason
from qa.chunking import Chunk, chunk_document, indexed_text
from qa.config import Settings
from qa.dense import DenseIndex, dimension, embed
from qa.documents import Document
from qa.lexical import LexicalIndex, tokenize

FORMAT_VERSION = 2
CURRENT = "CURRENT"
REBUILD_HINT = "; rebuild it with `qa index --rebuild`"


class IndexNotWritten(IndexUnusable):
    """An update could not be written (disk full, no permission); the previous index is untouched."""


class Index:
    """A loaded generation: chunk metadata in memory, document texts read on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.manifest = _read_manifest(folder)
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise IndexUnusable(f"the index at {folder} is in format {self.manifest.get('format_version')}, "
                                f"this qa reads format {FORMAT_VERSION}; rebuild it with `qa index --rebuild`")
        _check_files(folder, self.manifest)
        try:
            arrays = np.load(folder / "chunks.npz")
            self._doc, self._start, self._end = arrays["doc"], arrays["start"], arrays["end"]
            self._paragraph, self._page = arrays["paragraph"], arrays["page"]
            self._offsets = np.load(folder / "documents.offsets.npy")
            self.lexical = LexicalIndex.load(folder / "bm25")
            self.dense = DenseIndex.load(folder)
        except Exception as error:  # numpy, bm25s and faiss each fail in their own way
            raise IndexUnusable(f"the index at {folder} is damaged ({type(error).__name__}: {error}); "
                                f"rebuild it with `qa index --rebuild`") from error
        self._sources = {d["source"]: n for n, d in enumerate(self.manifest["documents"])}
        self._texts = open(folder / "documents.jsonl", "rb")
        self._texts_lock = threading.Lock()  # seek + readline must not interleave across threads
        self.document = lru_cache(maxsize=256)(self._read_document)

    @classmethod
    def open(cls, index_dir: Path, settings: Settings | None = None) -> "Index":
        """Load the live generation under `index_dir`, checking it suits `settings`."""
        index_dir = Path(index_dir)
        for attempt in range(3):
            folder = _live_generation(index_dir)
            if folder is None:
                raise IndexUnusable(f"no index at {index_dir}: build one with `qa index SOURCES_DIR --index {index_dir}`")
            try:
                index = cls(folder)
                break
            except FileNotFoundError as error:
                # A concurrent update may have removed this generation between reading CURRENT and
                # opening it: look again. Three misses in a row are damage, not a race.
                if attempt == 2:
                    raise IndexUnusable(f"the index at {index_dir} is unusable: {_what_is_missing(folder, error)}"
                                        + REBUILD_HINT) from error
                time.sleep(0.05)
        if settings is not None:
            problem = settings.mismatch(index.manifest["settings"])
            if problem:
                raise IndexUnusable(f"the index at {index_dir} was {problem}; "
                                    f"rebuild it with `qa index --rebuild`")
        return index

    @property
    def size(self) -> int:
        return len(self._doc)

    def chunk(self, number: int) -> Chunk:
        document = self.document(int(self._doc[number]))
        start, end = int(self._start[number]), int(self._end[number])
        page = int(self._page[number])
        return Chunk(source=document.source, start=start, end=end, text=document.text[start:end],
                     paragraph=int(self._paragraph[number]), page=page or None)

    def title(self, source: str) -> str:
        return self.manifest["documents"][self._sources[source]]["title"]

    def document_by_source(self, source: str) -> Document:
        return self.document(self._sources[source])

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(d["source"], d["title"], d["sha256"], d["chunks"], d["indexed_at"])
                for d in self.manifest["documents"]]

    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.lexical.search(query, k)

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        return self.dense.search(vector, k)

    def _read_document(self, number: int) -> Document:
        with self._texts_lock:
            self._texts.seek(int(self._offsets[number]))
            line = self._texts.readline()
        record = json.loads(line)
        return Document(source=record["source"], title=record["title"], text=record["text"],
                        sha256=record["sha256"],
                        paragraphs=tuple(map(tuple, record["paragraphs"])),
                        pages=tuple(record["pages"]),
                        headings=tuple(map(tuple, record.get("headings", ()))))

    def close(self) -> None:
        self._texts.close()


def open_index(settings: Settings) -> Index:
    """The index in `settings.index_dir`, loaded and checked against `settings`."""
    return Index.open(settings.index_dir, settings)


def update(settings: Settings, model, documents: list[Document], rebuild: bool = False,
           progress: bool = True) -> BuildReport:
    """Make `documents` the contents of the index in `settings.index_dir`, embedding only what is
    new or changed; the new generation replaces the live one atomically."""
    began = time.perf_counter()
    index_dir = Path(settings.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with _locked(index_dir):
        previous, rebuilt_because = _previous(index_dir, settings, rebuild)
        old = previous.manifest["documents"] if previous else []
        report = diff_sources(documents, {d["source"]: d["sha256"] for d in old}, rebuilt_because)
        old_number = {d["source"]: n for n, d in enumerate(old)}
        unchanged = set(report.unchanged)
        # per document: (document, its number in the previous index when unchanged, else None)
        plan = [(d, old_number[d.source] if d.source in unchanged else None) for d in documents]
        if previous and report.up_to_date:
            report.chunks = previous.size
            report.seconds = time.perf_counter() - began
            return report

        dim = dimension(model)
        chunks, vectors, fresh = _assemble(plan, previous, settings, dim)
        if fresh:
            texts = [indexed_text(documents[chunks[i][0]], chunks[i][1], settings.chunk_context) for i in fresh]
            vectors[fresh] = _embed_with_progress(model, texts, settings.batch_size, progress)
        report.embedded = len(fresh)
        report.chunks = len(chunks)
        _write_generation(index_dir, documents, chunks, vectors, settings, previous, unchanged)
        report.seconds = time.perf_counter() - began
    return report


def _assemble(plan, previous: Index | None, settings: Settings, dim: int):
    """All chunks in document order, with vectors copied from the previous index where the
    document is unchanged; returns (chunks, vectors, rows still to embed)."""
    chunks: list[tuple[int, Chunk]] = []
    reused: list[tuple[int, int]] = []  # (new row, old row)
    old_rows = _rows_by_document(previous) if previous else {}
    for number, (document, old_number) in enumerate(plan):
        if old_number is not None:
            for old_row in old_rows.get(old_number, []):
                reused.append((len(chunks), old_row))
                chunks.append((number, previous.chunk(old_row)))
        else:
            chunks.extend((number, c) for c in chunk_document(document, settings.chunk_chars,
                                                                settings.overlap_sentences))
    vectors = np.zeros((len(chunks), dim), dtype=np.float32)
    if reused:
        old_vectors = np.load(previous.folder / "vectors.npy", mmap_mode="r")
        new, old = (np.array(rows) for rows in zip(*reused))
        vectors[new] = old_vectors[old]
    reused_rows = {new for new, _ in reused}
    return chunks, vectors, [i for i in range(len(chunks)) if i not in reused_rows]


def _rows_by_document(index: Index) -> dict[int, list[int]]:
    rows: dict[int, list[int]] = {}
    for row, doc in enumerate(index._doc):
        rows.setdefault(int(doc), []).append(row)
    return rows


def _embed_with_progress(model, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
    block = max(batch_size * 16, 1024)
    parts = []
    with tqdm(total=len(texts), desc="embedding chunks", unit="chunk", disable=not progress) as bar:
        for i in range(0, len(texts), block):
            parts.append(embed(model, texts[i:i + block], batch_size))
            bar.update(len(parts[-1]))
    return np.concatenate(parts)


def _write_generation(index_dir: Path, documents: list[Document], chunks, vectors: np.ndarray,
                      settings: Settings, previous: Index | None, unchanged: set[str]) -> None:
    generation = _next_generation(index_dir)
    partial = index_dir / f".{generation}.partial"
    pointer = index_dir / f".{CURRENT}.tmp"
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        _write_files(partial, documents, chunks, vectors, settings, previous, unchanged)
        _fsync_tree(partial)
        os.rename(partial, index_dir / generation)
        _fsync_dir(index_dir)
        pointer.write_text(generation + "\n")
        with open(pointer, "rb") as f:
            os.fsync(f.fileno())
        os.replace(pointer, index_dir / CURRENT)
        _fsync_dir(index_dir)
    except OSError as error:
        # Disk full, no permission: leave nothing half-written behind; the old index stays live.
        shutil.rmtree(partial, ignore_errors=True)
        pointer.unlink(missing_ok=True)
        if _live_generation(index_dir) != index_dir / generation:
            shutil.rmtree(index_dir / generation, ignore_errors=True)
        raise IndexNotWritten(_not_written(index_dir, error)) from error
    _remove_old_generations(index_dir, keep={generation, previous.folder.name if previous else ""})


def _not_written(index_dir: Path, error: OSError) -> str:
    why = "the disk is full" if error.errno == errno.ENOSPC else f"{error.strerror or error}"
    return (f"the new index could not be written to {index_dir}: {why}. Nothing was changed: the "
            f"previous index still answers. Free some space (or fix the permissions) and run `qa index` again")


def _write_files(partial: Path, documents: list[Document], chunks, vectors: np.ndarray,
                 settings: Settings, previous: Index | None, unchanged: set[str]) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    old_times = {d["source"]: d["indexed_at"] for d in previous.manifest["documents"]} if previous else {}
    counts = np.bincount([n for n, _ in chunks], minlength=len(documents))
    offsets = []
    with open(partial / "documents.jsonl", "wb") as out:
        for document in documents:
            offsets.append(out.tell())
            record = {"source": document.source, "title": document.title, "sha256": document.sha256,
                      "text": document.text, "paragraphs": document.paragraphs, "pages": document.pages,
                      "headings": document.headings}
            out.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
    np.save(partial / "documents.offsets.npy", np.array(offsets, dtype=np.int64))
    np.savez(partial / "chunks.npz",
             doc=np.array([n for n, _ in chunks], dtype=np.int32),
             start=np.array([c.start for _, c in chunks], dtype=np.int64),
             end=np.array([c.end for _, c in chunks], dtype=np.int64),
             paragraph=np.array([c.paragraph for _, c in chunks], dtype=np.int32),
             page=np.array([c.page or 0 for _, c in chunks], dtype=np.int32))
    np.save(partial / "vectors.npy", vectors)
    DenseIndex.build(vectors, settings.ann_threshold, settings.hnsw_m, settings.hnsw_ef_search).save(partial)
    LexicalIndex.build([tokenize(indexed_text(documents[n], c, settings.chunk_context))
                        for n, c in chunks]).save(partial / "bm25")

    manifest = {
        "format_version": FORMAT_VERSION,
        "created": now,
        "settings": settings.index_shape(),
        "model": {"name": settings.model, "dimension": int(vectors.shape[1])},
        "versions": _versions(),
        "chunk_count": len(chunks),
        "documents": [{"source": d.source, "title": d.title, "sha256": d.sha256,
                       "chunks": int(counts[n]),
                       "indexed_at": old_times[d.source] if d.source in unchanged else now}
                      for n, d in enumerate(documents)],
        "files": _file_facts(partial),
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False))


def _previous(index_dir: Path, settings: Settings, rebuild: bool) -> tuple[Index | None, str | None]:
    if _live_generation(index_dir) is None:
        return None, None
    if rebuild:
        return None, rebuild_reason(True, None)
    try:
        index = Index.open(index_dir)
    except IndexUnusable as error:
        return None, rebuild_reason(False, f"unusable: {str(error).removesuffix(REBUILD_HINT)}")
    problem = settings.mismatch(index.manifest["settings"])
    return (None, rebuild_reason(False, problem)) if problem else (index, None)


def built_shape(settings: Settings) -> dict | None:
    """The settings the index in `settings.index_dir` was built with (`Settings.index_shape`), or
    None when there is no readable index."""
    folder = _live_generation(settings.index_dir)
    try:
        return json.loads((folder / "manifest.json").read_text())["settings"] if folder else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _live_generation(index_dir: Path) -> Path | None:
    """The folder CURRENT names (which may be damaged or gone), or None when there is no index."""
    try:
        name = (Path(index_dir) / CURRENT).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Path(index_dir) / name


def _what_is_missing(folder: Path, error: FileNotFoundError) -> str:
    if not folder.name.startswith("gen-"):  # CURRENT is empty (or names no generation)
        return f"its {CURRENT} file names no generation"
    if not folder.is_dir():
        return f"{CURRENT} names {folder.name}, which is missing"
    return f"{Path(error.filename or '?').name} is missing from {folder.name}"


def _next_generation(index_dir: Path) -> str:
    numbers = [int(p.name.split("-")[1]) for p in index_dir.glob("gen-*") if p.name.split("-")[1].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    # The previous generation stays one round, for readers that opened it a moment ago.
    for path in index_dir.iterdir():
        if path.is_dir() and (path.name.startswith("gen-") or path.name.endswith(".partial")) \
                and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _read_manifest(folder: Path) -> dict:
    try:
        return json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:
        raise IndexUnusable(f"the index manifest {folder / 'manifest.json'} is unreadable ({error}); "
                            f"rebuild it with `qa index --rebuild`") from error


# Files up to this size are checksummed as well as measured; larger ones (vectors and the vector
# index of big collections) only measured, so that opening a big index stays fast.
CHECKSUM_LIMIT = 64 * 2**20


def _file_facts(folder: Path) -> dict[str, dict]:
    facts = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            size = path.stat().st_size
            facts[path.relative_to(folder).as_posix()] = {
                "size": size, "sha256": _sha256(path) if size <= CHECKSUM_LIMIT else None}
    return facts


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _check_files(folder: Path, manifest: dict) -> None:
    for name, expected in manifest.get("files", {}).items():
        path = folder / name
        problem = None
        if not path.is_file():
            problem = "missing"
        elif path.stat().st_size != expected["size"]:
            problem = f"{path.stat().st_size} bytes, expected {expected['size']}"
        elif expected["sha256"] and _sha256(path) != expected["sha256"]:
            problem = "its contents changed since it was written"
        if problem:
            raise IndexUnusable(f"the index file {path} is damaged ({problem}); "
                                f"rebuild it with `qa index --rebuild`")


def _versions() -> dict[str, str]:
    versions = {}
    for package in ("qa", "sentence-transformers", "torch", "faiss-cpu", "bm25s", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


@contextlib.contextmanager
def _locked(index_dir: Path):
    # One writer at a time; readers never wait, they read the live generation.
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        _fsync_dir(path)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

