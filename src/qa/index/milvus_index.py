"""A Milvus index opened for searching (`MilvusIndex`): BM25 and embedding searches, chunks and
document texts read on demand."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

from qa.config import Settings
from qa.index.backend import DocumentInfo, IndexUnusable
from qa.index.dense import EF_SEARCH_LARGE
from qa.index.milvus_client import READ_TIMEOUT_S, connect, failures_in_words, milvus_uri
from qa.index.milvus_schema import (CHUNK_FIELDS, CHUNKS, DOCUMENTS, WINDOWS, DocumentRow, has_index,
                                    incompatibility, load_collections, read_catalogue, read_manifest)
from qa.ingest.chunking import Chunk
from qa.ingest.documents import Document

# Windows fetched for each chunk a dense search asks for: as many as a chunk of the usual size has.
WINDOWS_PER_CHUNK = 4


class MilvusIndex:
    """A Milvus index opened for searching: the document list in memory, chunks and texts on demand."""

    def __init__(self, client, uri: str, manifest: dict, catalogue: dict[str, DocumentRow],
                 settings: Settings) -> None:
        self.client = client
        self.uri = uri
        self.manifest = manifest
        self.settings = settings
        self._catalogue = catalogue
        # Searches return each hit's fields; keeping them spares a round trip per chunk().
        self._chunks: dict[int, Chunk] = {}
        self.document_by_source = lru_cache(maxsize=256)(self._read_document)

    @classmethod
    def open(cls, settings: Settings) -> "MilvusIndex":
        """Connect to the configured Milvus and check its index suits `settings`."""
        uri = milvus_uri(settings)
        client = connect(uri)
        with failures_in_words(uri):
            if not has_index(client):
                raise IndexUnusable(f"no index in Milvus at {uri}: build one with "
                                    f"`qa index SOURCES_DIR --backend milvus --uri {uri}`")
            load_collections(client)
            manifest = read_manifest(client)
            problem = incompatibility(manifest, settings)
            if problem:
                raise IndexUnusable(f"the index in Milvus at {uri} was {problem}; rebuild it with "
                                    f"`qa index --rebuild --backend milvus --uri {uri}`")
            return cls(client, uri, manifest, read_catalogue(client), settings)

    @property
    def size(self) -> int:
        return sum(row.chunks for row in self._catalogue.values())

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(r.source, r.title, r.sha256, r.chunks, r.indexed_at)
                for r in sorted(self._catalogue.values(), key=lambda r: r.source)]

    def title(self, source: str) -> str:
        return self._catalogue[source].title

    def chunk(self, number: int) -> Chunk:
        if number not in self._chunks:
            with failures_in_words(self.uri):
                rows = self.client.get(CHUNKS, ids=[number], output_fields=CHUNK_FIELDS,
                                       timeout=READ_TIMEOUT_S)
            if not rows:
                raise KeyError(f"no chunk {number} in Milvus at {self.uri}")
            self._remember(number, rows[0])
        return self._chunks[number]

    def knows_word(self, word: str) -> bool:
        """Whether Milvus's BM25 finds `word` in any chunk (its analyzer, not qa's, splits it)."""
        return bool(self.lexical_search(word, 1))

    def lexical_search(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) of the best `k` chunks, scored by Milvus from the raw question."""
        with failures_in_words(self.uri):
            results = self.client.search(CHUNKS, data=[query], anns_field="sparse", limit=k,
                                         output_fields=CHUNK_FIELDS, timeout=READ_TIMEOUT_S,
                                         search_params={"metric_type": "BM25"})
        # milvus-lite reports BM25 as a negative distance, a server as a positive score.
        return self._known(results[0], abs)

    @property
    def _ef_search(self) -> int:
        # Milvus's segments, and so its graph sizes, are its own choice: the breadth for large graphs.
        return self.settings.hnsw_ef_search or EF_SEARCH_LARGE

    def dense_search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the `k` nearest chunks, each at the best of its own
        vector and its windows'."""
        data = [np.asarray(vector, dtype=np.float32).tolist()]
        wide = min(k * WINDOWS_PER_CHUNK, 16_384)  # Milvus's largest limit
        with failures_in_words(self.uri):
            results = self.client.search(
                CHUNKS, data=data, anns_field="dense", limit=k, output_fields=CHUNK_FIELDS,
                timeout=READ_TIMEOUT_S,
                search_params={"metric_type": "IP", "params": {"ef": max(self._ef_search, k)}})
            windows = self.client.search(
                WINDOWS, data=data, anns_field="dense", limit=wide, output_fields=["chunk", "source"],
                timeout=READ_TIMEOUT_S,
                search_params={"metric_type": "IP", "params": {"ef": max(self._ef_search, wide)}})
        best = dict(self._known(results[0], float))
        for hit in windows[0]:
            number, source = int(hit["entity"]["chunk"]), hit["entity"]["source"]
            row = self._catalogue.get(source)
            if row is not None and number in row.chunk_ids and float(hit["distance"]) > best.get(number, -2.0):
                best[number] = float(hit["distance"])
        ranked = sorted(best.items(), key=lambda hit: (-hit[1], hit[0]))[:k]
        self._fetch([number for number, _ in ranked if number not in self._chunks])
        return ranked

    def _fetch(self, numbers: list[int]) -> None:
        """Read the fields of chunks found by their windows alone, in one call."""
        if numbers:
            with failures_in_words(self.uri):
                rows = self.client.get(CHUNKS, ids=numbers, output_fields=["id", *CHUNK_FIELDS],
                                       timeout=READ_TIMEOUT_S)
            for row in rows:
                self._remember(int(row["id"]), row)

    def hybrid_search(self, query: str, vector: np.ndarray, k: int,
                      rrf_k: int | None = None) -> list[tuple[int, float]]:
        """Milvus's own fusion of the two searches (its RRFRanker), for comparison with
        `qa.retrieve.fuse_rankings`: (chunk id, RRF score), best first. Its dense list ranks each
        chunk by its own vector: Milvus's ranker cannot take a chunk's best window."""
        from pymilvus import AnnSearchRequest, RRFRanker

        depth = max(self.settings.candidates, k)
        requests = [
            AnnSearchRequest(data=[query], anns_field="sparse", param={"metric_type": "BM25"},
                             limit=depth),
            AnnSearchRequest(data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="dense",
                             param={"metric_type": "IP",
                                    "params": {"ef": max(self._ef_search, depth)}},
                             limit=depth),
        ]
        with failures_in_words(self.uri):
            results = self.client.hybrid_search(CHUNKS, requests, RRFRanker(rrf_k or self.settings.rrf_k),
                                                limit=k, output_fields=CHUNK_FIELDS, timeout=READ_TIMEOUT_S)
        return self._known(results[0], float)

    def close(self) -> None:
        self.client.close()

    def _known(self, hits, score) -> list[tuple[int, float]]:
        # Only the document versions listed at opening count: others are leftovers, or seen after a reload.
        ranked = []
        for hit in hits:
            fields = hit["entity"]
            row = self._catalogue.get(fields["source"])
            if row is not None and int(hit["id"]) in row.chunk_ids:
                self._remember(int(hit["id"]), fields)
                ranked.append((int(hit["id"]), score(hit["distance"])))
        return ranked

    def _remember(self, number: int, fields: dict) -> None:
        if len(self._chunks) > 10_000:
            self._chunks.clear()
        self._chunks[number] = Chunk(source=fields["source"], start=int(fields["start"]),
                                     end=int(fields["end"]), text=fields["text"],
                                     paragraph=int(fields["paragraph"]), page=int(fields["page"]) or None)

    def _read_document(self, source: str) -> Document:
        row = self._catalogue[source]
        with failures_in_words(self.uri):
            parts = self.client.get(DOCUMENTS, ids=list(range(row.id, row.id + row.parts)),
                                    output_fields=["part", "body"], timeout=READ_TIMEOUT_S)
        if len(parts) != row.parts:
            raise IndexUnusable(f"{source} changed in Milvus at {self.uri} after qa opened the index "
                                f"(a `qa index` ran): ask again once it has been reloaded")
        body = json.loads("".join(p["body"] for p in sorted(parts, key=lambda p: p["part"])))
        return Document(source=source, title=row.title, text=body["text"], sha256=row.sha256,
                        paragraphs=tuple(map(tuple, body["paragraphs"])), pages=tuple(body["pages"]),
                        headings=tuple(map(tuple, body.get("headings", ()))))
