"""A faster CPU path for the embedding model: the same weights run by ONNX Runtime.

The bundled sentence-transformers model (BERT, mean pooling, unit length) is exported once from
the local weights with `torch.onnx.export` and cached on disk; nothing is downloaded. `OnnxEncoder`
answers the two calls qa makes of a model (`encode` and the dimension), so `qa.index.dense.embed` and
the index code use it as they use a SentenceTransformer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from qa.sessions import Lanes, cores, open_session, side_by_side

CACHE_DIR = Path(os.environ.get("QA_CACHE_DIR", Path.home() / ".cache" / "qa")) / "onnx"


def available() -> bool:
    """Whether onnxruntime and onnx are installed (optional: `pip install onnxruntime onnx`)."""
    from importlib.util import find_spec

    # find_spec, not import: onnx is only needed the first time, to export and quantise.
    return find_spec("onnxruntime") is not None and find_spec("onnx") is not None


def exported_model(model_dir: Path, quantized: bool = False, cache_dir: Path = CACHE_DIR) -> Path:
    """The ONNX file for the model in `model_dir`, exported (and int8-quantised) on first use."""
    model_dir = Path(model_dir)
    weights = sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin"))
    # The cache key follows the weights, so replaced weights never meet a stale export.
    key = hashlib.sha256(json.dumps([str(model_dir.resolve())] +
                                    [[w.name, w.stat().st_size, w.stat().st_mtime_ns] for w in weights])
                         .encode()).hexdigest()[:16]
    folder = Path(cache_dir) / f"{model_dir.name}-{key}"
    fp32 = folder / "model.onnx"
    if not fp32.exists():
        print(f"qa: preparing the embedding model for ONNX Runtime in {folder} "
              f"(first use only, about 10 s)…", file=sys.stderr, flush=True)
        _export(model_dir, fp32)
    if not quantized:
        return fp32
    int8 = folder / "model-int8.onnx"
    if not int8.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        partial = int8.with_suffix(f".{os.getpid()}.partial")
        # Per-channel int8 weights of the matrix products only: the embedding tables and layer
        # norms stay float, which keeps cosine similarity to the torch vectors at about 0.99.
        logging.disable(logging.WARNING)  # its advice to pre-process applies to image models
        try:
            quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        finally:
            logging.disable(logging.NOTSET)
        os.replace(partial, int8)
    return int8


def _export(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    class MeanPooled(torch.nn.Module):
        """The transformer with sentence-transformers' mean pooling, as one graph."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            return (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    example = torch.ones((2, 16), dtype=torch.long)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    # The tracer warns about shape-dependent Python branches that are constant for BERT.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            MeanPooled(bert), (example, example, torch.zeros_like(example)), str(partial),
            dynamo=False, opset_version=17,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
            dynamic_axes={name: {0: "batch", 1: "tokens"}
                          for name in ("input_ids", "attention_mask", "token_type_ids")}
            | {"embedding": {0: "batch"}})
    os.replace(partial, target)


class OnnxEncoder:
    """Sentence embeddings from an exported model: the torch model's vectors (cosine 0.99999 in
    float32, about 0.99 with int8 weights), faster on CPU."""

    def __init__(self, model_dir: Path, quantized: bool = False, threads: int | None = None,
                 lanes: int | None = None) -> None:
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self._file = exported_model(model_dir, quantized)
        # Texts run one at a time (int8) leave ONNX Runtime's second thread little to share; one-thread
        # sessions side by side, each taking its share of the texts, keep every core busy
        # (bench/indexing/parallel_sessions.py). The main session, one-thread too (as fast for a text
        # alone), is the first; the others share calls of LANE_MIN texts or more (an index build, a
        # question's candidate sentences; never a query alone), once open (qa.sessions.Lanes).
        count = 1 if threads or not quantized else max(1, min(lanes or cores(), self.MAX_LANES))
        self._session = self._open(threads or (1 if count > 1 else None))
        self._dimension = int(json.loads((model_dir / "config.json").read_text())["hidden_size"])
        max_tokens = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_tokens)
        pad = json.loads((model_dir / "special_tokens_map.json").read_text()).get("pad_token", "[PAD]")
        pad = pad["content"] if isinstance(pad, dict) else pad
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id(pad), pad_token=pad)
        self.quantized = quantized
        # Each lane its own tokenizer too: nothing is shared between the threads but `out`.
        copy = lambda: Tokenizer.from_str(self._tokenizer.to_str())  # noqa: E731
        self._lanes = Lanes((self._session, copy()), count, lambda: (self._open(1), copy()), self.LANE_PATIENCE)

    BATCH_LIMIT = 16
    MAX_LANES = 4  # one-thread sessions at most: each holds its own copy of the weights and buffers
    LANE_MIN = 8  # runs a call needs before it is shared among lanes (a question's sentences: 122 ms cold, not 170)
    LANE_AT_ONCE = 32  # a call this long (an index build) opens the lanes at once
    LANE_PATIENCE = 64  # texts run alone in shorter calls before the lanes open (about three questions)

    def _open(self, threads: int | None):
        return open_session(self._file, threads)

    def get_embedding_dimension(self) -> int:
        return self._dimension

    get_sentence_embedding_dimension = get_embedding_dimension

    def encode(self, texts: list[str], batch_size: int = 64, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        """One row per text, in the order given (the signature of SentenceTransformer.encode)."""
        # Batched, ONNX Runtime ran fastest 16 texts a run (bench/indexing/embedding.py: 1.4-1.7× 64);
        # sorted by length, each run wastes little work on padding. int8 quantises a run's
        # activations with one scale for the run, so a text run in company gets a vector that
        # depends on its batch mates: it runs each text alone (as queries and sentences are), as
        # fast on a quiet machine (bench/indexing/batch_mates.py; slower beside other work).
        batch_size = 1 if self.quantized else min(batch_size, self.BATCH_LIMIT)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        runs = [order[begin:begin + batch_size] for begin in range(0, len(texts), batch_size)]
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        shared = batch_size == 1 and len(runs) >= self.LANE_MIN
        lanes = self._lanes.for_call(len(runs), self.LANE_AT_ONCE) if shared else []
        if len(lanes) > 1:
            # Every text is still run alone, so its vector is the same.
            side_by_side(len(lanes), lambda k: self._run(*lanes[k], texts, runs[k::len(lanes)], out))
        else:
            self._run(self._session, self._tokenizer, texts, runs, out)
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def lanes(self) -> list:
        """The one-thread sessions (each with its tokenizer) that share a long call, opened now if
        they are not yet; none where there is a single lane."""
        return self._lanes.opened()

    def _run(self, session, tokenizer, texts: list[str], runs: list[list[int]], out: np.ndarray) -> None:
        for rows in runs:
            encodings = tokenizer.encode_batch([texts[i] for i in rows])
            feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
            out[rows] = session.run(None, feed)[0]

