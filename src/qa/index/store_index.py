"""An on-disk index loaded for searching: one generation, its segments placed one after another,
the rows of documents no longer in it masked."""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.index.backend import DocumentInfo, IndexUnusable
from qa.index.dense import live_bitmap
from qa.index.lexical import LexicalIndex
from qa.index.store_files import (CURRENT, REBUILD_HINT, SEGMENTS, check_files, live_generation, read_manifest,
                                  unusable, what_is_missing)
from qa.index.store_segment import Segment
from qa.ingest.chunking import Chunk
from qa.ingest.documents import Document


class Index:
    """A loaded generation: its segments placed one after another (segment i's row r is chunk
    number `offsets[i] + r`), rows of documents no longer in it masked."""

    # Searches only read arrays and files fixed when the index was opened: any threads may search.
    concurrent_searches = True

    def __init__(self, folder: Path, searchable: bool = True) -> None:
        self.folder = folder
        self.manifest = read_manifest(folder)
        self.segments: list[Segment] = []
        try:
            check_files(folder, self.manifest, folder.parent)
            for name in self.manifest["segments"]:
                self.segments.append(Segment(folder.parent / SEGMENTS / name))
            self.live = _live_rows(self.segments, self.manifest["documents"])
            self.offsets = np.cumsum([0] + [s.rows for s in self.segments])
            if searchable:
                self.lexical = LexicalIndex([s.terms for s in self.segments], self.live)
                self._live_bits = [None if m is None else live_bitmap(m if s.vector_rows is None
                                                                      else m[s.vector_rows])
                                   for s, m in zip(self.segments, self.live)]
                for segment in self.segments:
                    segment.dense  # noqa: B018  loaded now: the first question should not wait for it
        except (FileNotFoundError, IndexUnusable):
            self.close()
            raise
        except Exception as error:  # numpy, json and faiss each fail in their own way
            self.close()
            raise IndexUnusable(unusable(folder.parent, f"{folder.name} or a segment it names is damaged "
                                                        f"({type(error).__name__}: {error})")) from error
        self._sources = {d["source"]: n for n, d in enumerate(self.manifest["documents"])}
        self._segment_document = lru_cache(maxsize=256)(self._read_document)

    @classmethod
    def open(cls, index_dir: Path, settings: Settings | None = None, searchable: bool = True) -> "Index":
        """Load the live generation under `index_dir`, checking it suits `settings`."""
        index_dir = Path(index_dir)
        for attempt in range(3):
            folder = live_generation(index_dir)
            if folder is None:
                raise IndexUnusable(f"no index at {index_dir}: build one with `qa index SOURCES_DIR --index {index_dir}`")
            if folder == index_dir:
                raise IndexUnusable(unusable(index_dir, f"its {CURRENT} file names no generation"))
            try:
                index = cls(folder, searchable)
                break
            except FileNotFoundError as error:
                # A concurrent update may have removed it since CURRENT was read; repeated misses are damage.
                if attempt == 2:
                    raise IndexUnusable(f"the index at {index_dir} is unusable: {what_is_missing(folder, error)}"
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
        """Live chunks."""
        return self.manifest["chunk_count"]

    @property
    def partial(self) -> dict | None:
        """The manifest's record of a build that stopped part-way (`qa.index.store`), or None."""
        return self.manifest.get("partial")

    def partial_notice(self) -> str | None:
        """What a user loading an index whose build stopped part-way is told (one sentence, which
        the caller ends with how to finish it); None when the index is complete."""
        partial = self.partial
        if partial is None:
            return None
        return (f"the index at {self.folder.parent} is partial: its build stopped with "
                f"{partial['documents_done']:,} of {partial['documents']:,} documents indexed "
                f"({partial['chunks_done']:,} of {partial['chunks']:,} chunks), and answers come from those")

    @property
    def masked(self) -> int:
        """Rows of the segments that belong to no document of this generation."""
        return int(self.offsets[-1]) - self.size

    def chunk(self, number: int) -> Chunk:
        i = int(np.searchsorted(self.offsets, number, side="right")) - 1
        segment, row = self.segments[i], number - int(self.offsets[i])
        document = self._segment_document(i, int(segment.doc[row]))
        start, end = int(segment.start[row]), int(segment.end[row])
        page = int(segment.page[row])
        return Chunk(source=document.source, start=start, end=end, text=document.text[start:end],
                     paragraph=int(segment.paragraph[row]), page=page or None)

    def document(self, number: int) -> Document:
        entry = self.manifest["documents"][number]
        return self._segment_document(entry["segment"], entry["number"])

    def title(self, source: str) -> str:
        return self.manifest["documents"][self._sources[source]]["title"]

    def document_by_source(self, source: str) -> Document:
        return self.document(self._sources[source])

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(d["source"], d["title"], d["sha256"], d["chunks"], d["indexed_at"])
                for d in self.manifest["documents"]]

    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]:
        return self.lexical.search(query, k)

    def knows_word(self, word: str) -> bool:
        return self.lexical.knows(word)

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        hits = [(int(offset) + row, score)
                for segment, bits, offset in zip(self.segments, self._live_bits, self.offsets)
                for row, score in segment.dense_search(vector, k, bits)]
        return sorted(hits, key=lambda hit: (-hit[1], hit[0]))[:k]

    def _read_document(self, segment: int, number: int) -> Document:
        try:
            record = json.loads(self.segments[segment].document_line(number))
            return Document(source=record["source"], title=record["title"], text=record["text"],
                            sha256=record["sha256"],
                            paragraphs=tuple(map(tuple, record["paragraphs"])),
                            pages=tuple(record["pages"]),
                            headings=tuple(map(tuple, record.get("headings", ()))))
        except (ValueError, RecursionError, KeyError, TypeError, AttributeError) as error:
            # Checked when the index opened, unless too big to checksum (CHECKSUM_LIMIT).
            name = self.segments[segment].folder.name
            what = f"{SEGMENTS}/{name}/documents.jsonl is damaged (document {number}: {type(error).__name__})"
            raise IndexUnusable(unusable(self.folder.parent, what)) from error

    def close(self) -> None:
        for segment in self.segments:
            segment.close()


def _live_rows(segments: list[Segment], entries: list[dict]) -> list[np.ndarray | None]:
    """Per segment, which rows belong to a document of the generation (None: all of them)."""
    numbers: list[list[int]] = [[] for _ in segments]
    for entry in entries:
        if entry["number"] >= len(segments[entry["segment"]].offsets):
            segment = segments[entry["segment"]].folder
            raise IndexUnusable(unusable(segment.parent.parent, f"its manifest names document {entry['number']} "
                                                                f"of {segment.name}, which has fewer"))
        numbers[entry["segment"]].append(entry["number"])
    live = []
    for segment, kept in zip(segments, numbers):
        if len(kept) == len(segment.offsets):
            live.append(None)
        else:
            live.append(np.isin(segment.doc, np.array(kept, dtype=segment.doc.dtype)))
    return live
