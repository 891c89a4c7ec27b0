"""Synthetic corpora for the benchmarks: Zipfian English-like text, and vectors made from real ones.

Text: words drawn with Zipfian frequencies (exponent ~1.07, as in English) from a vocabulary that
starts with the shipped sources' own words, most frequent first, and continues with made-up words
for the long tail; sentences of 6-24 words, paragraphs of ~320-580 characters (one chunk each at
the default chunk size), 20 paragraphs a document.

Vectors: embedding 100k+ chunks with the real model on two CPU cores takes hours, so a few
thousand chunks are embedded for real and every other chunk gets one of those vectors plus
Gaussian noise, renormalised. The vectors keep the real model's anisotropy and clustering; the
noise sets how close a chunk sits to its real neighbour (cosine ~0.85 by default).
"""

from __future__ import annotations

import re
import resource
from collections import Counter
from pathlib import Path

import numpy as np

from bench.paths import DEV_SET, SOURCES
from qa.ingest.documents import Document, document_from_text, read_folder

PARAGRAPHS_PER_DOCUMENT = 20


def vocabulary(size: int = 30_000, seed: int = 0) -> list[str]:
    documents, _ = read_folder(SOURCES)
    counts = Counter(w for d in documents for w in re.findall(r"[A-Za-z]+", d.text.lower()))
    words = [w for w, _ in counts.most_common()]
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ten", "ra", "vos", "il", "an", "der", "po", "su", "gre", "tin",
                 "mar", "el", "ost", "qui", "ber", "ne", "ha", "dor", "ul", "pi", "ser", "ta", "vin"]
    seen = set(words)
    while len(words) < size:
        word = "".join(rng.choice(syllables, size=rng.integers(2, 5)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words[:size]


def synthetic_documents(chunks: int, seed: int = 0) -> list[Document]:
    """Documents that chunk (at 600 characters) into about `chunks` chunks."""
    words = np.array(vocabulary(seed=seed), dtype=object)
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, len(words) + 1)
    p = 1.0 / ranks ** 1.07
    p /= p.sum()
    documents = []
    n_documents = max(1, round(chunks / PARAGRAPHS_PER_DOCUMENT))
    # Draw words in large blocks: one numpy call per document instead of one per word.
    for number in range(n_documents):
        drawn = iter(words[rng.choice(len(words), size=PARAGRAPHS_PER_DOCUMENT * 120, p=p)])
        paragraphs = []
        for _ in range(PARAGRAPHS_PER_DOCUMENT):
            sentences, length = [], 0
            target = rng.integers(320, 580)
            while length < target:
                sentence = [next(drawn) for _ in range(rng.integers(6, 25))]
                text = " ".join(sentence).capitalize() + "."
                if length + len(text) > 590 and sentences:
                    break
                sentences.append(text)
                length += len(text) + 1
            paragraphs.append(" ".join(sentences))
        documents.append(document_from_text(f"synthetic/{number:07d}.txt", "\n\n".join(paragraphs),
                                            title=f"Synthetic document {number}"))
    return documents


def shipped_documents() -> list[Document]:
    documents, _ = read_folder(SOURCES)
    return documents


def dev_questions() -> list[str]:
    import json

    return [json.loads(line)["question"] for line in DEV_SET.read_text().splitlines() if line.strip()]


class PrecomputedEncoder:
    """Stands in for the embedding model when building a benchmark index: texts in `exact` (the
    shipped chunks, which the real questions ask about) get their real vector; any other text
    gets one of the real vectors plus noise, renormalised.

    The real vectors themselves stay out of the index: each would sit at the exact centre of its
    hundreds of copies, a hub that HNSW's neighbour pruning links every copy to and little else,
    which at 1M chunks cut recall@10 to ~0.67, an artefact no real corpus has."""

    def __init__(self, real: dict[str, np.ndarray], exact: set[str] = frozenset(), noise: float = 0.03,
                 seed: int = 0) -> None:
        self._real = {text: real[text] for text in exact if text in real}
        self._base = np.stack(list(real.values())).astype(np.float32)
        self._noise = noise
        self._rng = np.random.default_rng(seed)

    def get_embedding_dimension(self) -> int:
        return self._base.shape[1]

    get_sentence_embedding_dimension = get_embedding_dimension

    def encode(self, texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
               show_progress_bar=False) -> np.ndarray:
        picks = self._rng.integers(0, len(self._base), size=len(texts))
        vectors = self._base[picks] + self._rng.normal(0, self._noise, (len(texts), self._base.shape[1])
                                                       ).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for row, text in enumerate(texts):
            if text in self._real:
                vectors[row] = self._real[text]
        return vectors


def real_vectors(model, documents: list[Document], count: int, out_dir: Path) -> dict[str, np.ndarray]:
    """The first `count` distinct chunk texts of `documents`, embedded with the real model; cached
    in `out_dir` under a name that follows the texts, so different corpora never share a cache."""
    import hashlib
    import time

    from qa.ingest.chunking import chunk_document
    from qa.index.dense import embed

    texts = list(dict.fromkeys(c.text for d in documents for c in chunk_document(d)))[:count]
    key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:12]
    cache = Path(out_dir) / f"real-vectors-{len(texts)}-{key}.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return dict(zip(data["texts"].tolist(), data["vectors"]))
    began = time.perf_counter()
    vectors = embed(model, texts, 64, progress=True)
    print(f"embedded {len(texts)} real chunks in {time.perf_counter() - began:.0f} s", flush=True)
    np.savez(cache, texts=np.array(texts), vectors=vectors)
    return dict(zip(texts, vectors))


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (VmHWM: unlike ru_maxrss, not inherited from
    the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2**20
