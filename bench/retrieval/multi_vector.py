"""Would several dense vectors per chunk help? The measurement that led to dense windows.

qa cuts documents into ~600-character chunks: the size its answers are best at (README, "Chunk
size"). The dense retriever, though, ranks better with ~300-character chunks. This script
simulates the way to have both from two indexes of each BEIR collection (built or reused): each
600-character chunk keeps BM25 as it is, and its dense score becomes the best cosine among the
small chunks that overlap it, or the best of that and the chunk's own cosine. It searches every
query in both, maps the small chunks' dense list onto the big chunks, fuses it with BM25 as qa's
hybrid does (`qa.retrieve.fuse_rankings`, 50 candidates a list) and prints nDCG@10 of the
document rankings, beside each index's own modes. What qa built from it (each chunk's own vector
and one per window inside it, `Settings.dense_windows`) is measured directly by
`qa eval --beir DIR --dense-windows 0|300`.

    .venv/bin/python -m bench.retrieval.multi_vector bench/out/selqa-beir bench/out/covid-beir \\
        bench/out/squad-beir --small 300          # indexes kept in bench/out/multi-vector/

Writes the table to bench/out/multi-vector.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.paths import OUT
from bench.retrieval.sweep_fusion import LIST_DEPTH, beir_judge
from qa.config import Settings
from qa.evaluation.evaluate import index_beir, load_beir
from qa.index.dense import embed
from qa.pipeline import model_for
from qa.retrieve import Hit, fuse_rankings
COLUMNS = ("bm25", "dense", "hybrid", "dense, small chunks", "dense, best small window",
           "hybrid, best small window", "dense, best of chunk and windows", "hybrid, best of chunk and windows")


def parents(big, small) -> dict[int, list[int]]:
    """Each small chunk's overlapping big chunks (same document, character spans that intersect)."""
    spans: dict[str, list[tuple[int, int, int]]] = {}
    for i in range(big.size):
        chunk = big.chunk(i)
        spans.setdefault(chunk.source, []).append((chunk.start, chunk.end, i))
    found = {}
    for j in range(small.size):
        chunk = small.chunk(j)
        found[j] = [i for start, end, i in spans.get(chunk.source, []) if start < chunk.end and chunk.start < end]
    return found


def best_window(small_list: list[tuple[int, float]], up: dict[int, list[int]]) -> list[tuple[int, float]]:
    """A small chunks' dense list as a big chunks' one: each big chunk at its best small window."""
    return best_of([(i, score) for j, score in small_list for i in up[j]])


def best_of(*lists: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Several (chunk, score) lists as one: each chunk at its best score in any of them."""
    best: dict[int, float] = {}
    for ranked in lists:
        for i, score in ranked:
            best[i] = max(best.get(i, score), score)
    return sorted(best.items(), key=lambda pair: -pair[1])[:LIST_DEPTH]


def measure(folder: Path, small_chars: int, model) -> dict[str, float]:
    dataset = load_beir(folder)
    settings = Settings(device="cpu")
    big = index_beir(dataset, OUT / "multi-vector" / f"{folder.name}-{settings.chunk_chars}", settings, model,
                     progress=False).backend
    small_settings = settings.with_(chunk_chars=small_chars)
    small = index_beir(dataset, OUT / "multi-vector" / f"{folder.name}-{small_chars}", small_settings, model,
                       progress=False).backend
    up = parents(big, small)

    def hits(ranked, backend) -> list[Hit]:
        return [Hit(backend.chunk(i), "", rank, score) for rank, (i, score) in enumerate(ranked, start=1)]

    lists: dict[str, dict[str, list[Hit]]] = {name: {} for name in COLUMNS}
    depth = settings.candidates
    for q, text in dataset.queries.items():
        vector = embed(model, [text], batch_size=1)[0]
        bm25 = big.lexical_search(text, LIST_DEPTH)
        dense = big.dense_search(vector, LIST_DEPTH)
        small_dense = small.dense_search(vector, 2 * LIST_DEPTH)  # ~2 small chunks a big one
        windowed = best_window(small_dense, up)
        both = best_of(dense, windowed)
        lists["bm25"][q] = hits(bm25, big)
        lists["dense"][q] = hits(dense, big)
        lists["hybrid"][q] = hits(fuse_rankings(bm25[:depth], dense[:depth], settings), big)
        lists["dense, small chunks"][q] = hits(small_dense, small)
        lists["dense, best small window"][q] = hits(windowed, big)
        lists["hybrid, best small window"][q] = hits(fuse_rankings(bm25[:depth], windowed[:depth], settings), big)
        lists["dense, best of chunk and windows"][q] = hits(both, big)
        lists["hybrid, best of chunk and windows"][q] = hits(fuse_rankings(bm25[:depth], both[:depth], settings), big)
    judge = beir_judge(dataset.qrels)
    return {name: judge(found)["ndcg@10"] for name, found in lists.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("beir", nargs="+", type=Path, help="BEIR dataset folders")
    parser.add_argument("--small", type=int, default=300, help="the small chunks' size in characters (default 300)")
    args = parser.parse_args(argv)
    if args.small < 50:
        parser.error("--small must be at least 50")
    model = model_for(Settings(device="cpu"))
    table = ["| collection | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for folder in args.beir:
        scores = measure(folder, args.small, model)
        table.append(f"| {folder.name} | " + " | ".join(f"{scores[c]:.3f}" for c in COLUMNS) + " |")
        print(table[-1], flush=True)
    print("\n".join(table))
    OUT.mkdir(exist_ok=True)
    (OUT / "multi-vector.md").write_text("\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
