"""The AVX2 copy of the reader (bench.answers.avx2_reader): the rewrite gives the shipped reader's
logits exactly without saturation, and other logits with it, as an AVX2-only CPU does."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from bench.answers.avx2_reader import rewrite
from qa.read.reader import MODEL_DIR, MODEL_FILE, encode_pairs, pad_batch

QUESTION = "How many North Korean troops are in training?"
SENTENCES = ["South Korean intelligence agencies estimate that some 12,000 North Korean troops in total are "
             "in training.",
             "Some 3,000 North Korean troops arrived in Russia’s far east earlier this month.",
             "It was ratified by Russia’s lower parliament Thursday."]


def relevance(folder) -> np.ndarray:
    session = ort.InferenceSession(str(folder / MODEL_FILE), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    pairs = encode_pairs(tokenizer, QUESTION, SENTENCES, [""] * len(SENTENCES))
    return np.array([float(np.ravel(session.run(None, pad_batch([pair]))[0])[0]) for pair in pairs])


def test_the_rewrite_is_exact_without_saturation_and_moves_logits_with_it(tmp_path):
    shipped = relevance(MODEL_DIR)
    assert rewrite(MODEL_DIR, tmp_path / "exact", saturate=False) == 38
    assert np.array_equal(relevance(tmp_path / "exact"), shipped)
    rewrite(MODEL_DIR, tmp_path / "avx2")
    saturated = relevance(tmp_path / "avx2")
    assert np.abs(saturated - shipped).max() > 1e-3  # the same model, scored a little differently
    assert (tmp_path / "avx2" / "reader.json").exists() and (tmp_path / "avx2" / "tokenizer.json").exists()
