"""What every index backend offers, and what the backends share.

A backend holds the chunks of a set of documents and searches them lexically (BM25) and by
vector. There are two: `qa.index.store` (files on disk: FAISS and `qa.index.lexical`) and `qa.index.milvus` (a Milvus
collection). Each module offers the same three functions, and `qa.pipeline` picks one by name:

    open_index(settings) -> Backend            the index `settings` name, loaded and checked
    update(settings, model, documents, rebuild=False, progress=True) -> BuildReport
                                               make `documents` its contents, embedding only
                                               what is new or changed
    built_shape(settings) -> dict | None       the settings it was built with (`index_shape`)

Neither backend imports the other; what they share lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Protocol

import numpy as np

from qa.ingest.chunking import Chunk
from qa.ingest.documents import Document, Skipped
from qa.errors import UserError


class IndexUnusable(UserError):
    """The index is missing, damaged, or built differently; the message says what to run."""


@dataclass(frozen=True)
class DocumentInfo:
    source: str
    title: str
    sha256: str
    chunks: int
    indexed_at: str


class Backend(Protocol):
    """An opened index: what retrieval, answers, the CLI and the web app use."""

    @property
    def size(self) -> int: ...  # chunks
    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]: ...
    def knows_word(self, word: str) -> bool: ...  # is it in a chunk's words (qa.read.unknown_names)
    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]: ...
    def chunk(self, number: int) -> Chunk: ...
    def title(self, source: str) -> str: ...
    def document_by_source(self, source: str) -> Document: ...
    def documents(self) -> list[DocumentInfo]: ...
    def close(self) -> None: ...


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    windows: int = 0  # dense windows embedded beside the `embedded` chunks (qa.ingest.chunking.chunk_windows)
    seconds: float = 0.0
    rebuilt_because: str | None = None
    compaction_due: bool = False  # a big merge was left for `qa index --compact` (qa.index.store)

    @property
    def up_to_date(self) -> bool:
        return not (self.added or self.changed or self.removed or self.rebuilt_because)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.changed)} changed",
                 f"{len(self.removed)} removed", f"{len(self.unchanged)} unchanged",
                 f"{len(self.skipped)} skipped"]
        windows = f" (and {self.windows} dense windows)" if self.windows else ""
        line = (f"{', '.join(parts)}; {self.chunks} chunks, {self.embedded} embedded{windows} "
                f"in {self.seconds:.1f} s")
        if self.rebuilt_because:
            line += f" (full rebuild: {self.rebuilt_because})"
        if self.compaction_due:
            line += "; compaction due (many chunks of removed or changed documents: `qa index --compact`)"
        return line


def diff_sources(documents: list[Document], indexed: Mapping[str, str],
                 rebuilt_because: str | None = None) -> BuildReport:
    """A report naming which of `documents` are added, changed or unchanged, and which indexed
    sources are removed, given the indexed documents' hashes (`indexed`: source → sha256)."""
    report = BuildReport(rebuilt_because=rebuilt_because)
    report.removed = sorted(set(indexed) - {d.source for d in documents})
    for document in documents:
        before = indexed.get(document.source)
        if before == document.sha256:
            report.unchanged.append(document.source)
        else:
            (report.changed if before is not None else report.added).append(document.source)
    return report


def rebuild_reason(asked: bool, problem: str | None) -> str | None:
    """Why an update starts over, for its summary: asked for, or what is wrong with the previous
    index (`problem`, e.g. "built with chunk_chars=300, not 600"); None when it need not."""
    if asked:
        return "asked for with --rebuild"
    return f"previous index {problem}" if problem else None
