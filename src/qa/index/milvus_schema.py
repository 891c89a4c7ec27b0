"""The collections of a Milvus index (laid out as `qa.index.milvus` describes): their fields and
indexes, creating and loading them, and reading its manifest and list of documents."""

from __future__ import annotations

import json
from dataclasses import dataclass

from qa.config import Settings
from qa.index.backend import IndexUnusable
from qa.index.lexical import STOPWORDS
from qa.index.milvus_client import READ_TIMEOUT_S, WRITE_TIMEOUT_S

# 2: BM25 reads the `indexed` field (chunk context), not `text`; 3: dense windows (qa_windows)
FORMAT_VERSION = 3
CHUNKS, DOCUMENTS, WINDOWS = "qa_chunks", "qa_documents", "qa_windows"
COLLECTIONS = (CHUNKS, DOCUMENTS, WINDOWS)
MANIFEST_ID = 0
# Characters a slice of a document holds: under MAX_VARCHAR bytes however long each is in UTF-8.
SLICE_CHARS = 16_000
MAX_VARCHAR = 65_535
# Milvus's analyzer set up like qa.index.lexical.tokenize (milvus-lite skips the stemmer; see README).
ANALYZER = {"tokenizer": "standard",
            "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS)},
                       {"type": "stemmer", "language": "english"}]}
CHUNK_FIELDS = ["text", "source", "start", "end", "paragraph", "page"]
DOCUMENT_FIELDS = ["id", "source", "title", "sha256", "chunks", "parts", "indexed_at"]


@dataclass(frozen=True)
class DocumentRow:
    """Where a document lives in Milvus: ids [id, id + parts) hold it, the next `chunks` its chunks."""
    id: int
    parts: int
    chunks: int
    source: str
    title: str
    sha256: str
    indexed_at: str

    @property
    def chunk_ids(self) -> range:
        return range(self.id + self.parts, self.id + self.parts + self.chunks)

    @property
    def ids(self) -> range:
        return range(self.id, self.id + self.parts + self.chunks)


def create_collections(client, dim: int, settings: Settings) -> None:
    """Create the chunk, document and window collections, for vectors `dim` wide."""
    from pymilvus import DataType, Function, FunctionType

    chunks = client.create_schema(auto_id=False, enable_dynamic_field=False)
    chunks.add_field("id", DataType.INT64, is_primary=True)
    chunks.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    chunks.add_field("indexed", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True,
                     analyzer_params=ANALYZER)
    chunks.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR)
    for name in ("start", "end", "paragraph", "page"):
        chunks.add_field(name, DataType.INT64)
    chunks.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    chunks.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["indexed"], output_field_names=["sparse"]))
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                      params={"M": settings.hnsw_m, "efConstruction": 200})
    # The same k1 and b as bm25s's defaults, which qa.index.lexical uses.
    indexes.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                      params={"bm25_k1": 1.5, "bm25_b": 0.75})
    client.create_collection(CHUNKS, schema=chunks, index_params=indexes, timeout=WRITE_TIMEOUT_S)

    documents = client.create_schema(auto_id=False, enable_dynamic_field=False)
    documents.add_field("id", DataType.INT64, is_primary=True)
    documents.add_field("part", DataType.INT64)
    documents.add_field("parts", DataType.INT64)
    documents.add_field("chunks", DataType.INT64)
    for name in ("source", "title", "body"):
        documents.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR)
    documents.add_field("sha256", DataType.VARCHAR, max_length=64)
    documents.add_field("indexed_at", DataType.VARCHAR, max_length=64)
    # Milvus loads only collections with an indexed vector field; this one is never searched.
    documents.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
    client.create_collection(DOCUMENTS, schema=documents, index_params=indexes,
                             consistency_level="Strong", timeout=WRITE_TIMEOUT_S)

    windows = client.create_schema(auto_id=True, enable_dynamic_field=False)
    windows.add_field("id", DataType.INT64, is_primary=True)
    windows.add_field("chunk", DataType.INT64)
    windows.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR)
    windows.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
    indexes = client.prepare_index_params()
    indexes.add_index(field_name="dense", index_type="HNSW", metric_type="IP",
                      params={"M": settings.hnsw_m, "efConstruction": 200})
    client.create_collection(WINDOWS, schema=windows, index_params=indexes, timeout=WRITE_TIMEOUT_S)


def has_index(client) -> bool:
    """Whether Milvus holds a qa index: its chunk and document collections."""
    # An index of format 2 has no windows: found, and then refused by its format.
    return all(client.has_collection(name, timeout=READ_TIMEOUT_S) for name in (CHUNKS, DOCUMENTS))


def load_collections(client) -> None:
    """Load the collections, so that they can be searched."""
    # A collection is searchable only once loaded; milvus-lite releases them when a process ends.
    for name in COLLECTIONS:
        if name != WINDOWS or client.has_collection(name, timeout=READ_TIMEOUT_S):
            client.load_collection(name, timeout=WRITE_TIMEOUT_S)


def read_manifest(client) -> dict:
    """The index's manifest (its first document row); IndexUnusable when there is none."""
    rows = client.get(DOCUMENTS, ids=[MANIFEST_ID], output_fields=["body"], timeout=READ_TIMEOUT_S)
    if not rows:
        raise IndexUnusable("the Milvus index has no manifest; rebuild it with "
                            "`qa index --rebuild --backend milvus`")
    return json.loads(rows[0]["body"])


def read_catalogue(client) -> dict[str, DocumentRow]:
    """Every document's first row, by source."""
    catalogue = {}
    rows = client.query_iterator(DOCUMENTS, batch_size=4096, filter="part == 0",
                                 output_fields=DOCUMENT_FIELDS, timeout=READ_TIMEOUT_S)
    while batch := rows.next():
        for row in batch:
            catalogue[row["source"]] = DocumentRow(
                id=int(row["id"]), parts=int(row["parts"]), chunks=int(row["chunks"]),
                source=row["source"], title=row["title"], sha256=row["sha256"],
                indexed_at=row["indexed_at"])
    rows.close()
    return catalogue


def incompatibility(manifest: dict, settings: Settings) -> str | None:
    """Why the index of `manifest` cannot serve `settings`, in words; None when it can."""
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"written in format {manifest.get('format_version')}, this qa reads {FORMAT_VERSION}"
    return settings.mismatch(manifest["settings"])
