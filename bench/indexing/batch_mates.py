"""Whether a text's vector depends on the texts embedded beside it, and what embedding each text
alone costs: the build's first blocks of a folder embedded as builds did before 2026-12-06 (one call
a block, sorted by length, 16 a batch: "as_built" below) and each text alone (as `qa index` now
embeds int8 texts), in turns, by the int8 and float32 models, and both int8 ways against float32.

The int8 model quantises each matrix product's input with one scale for the whole batch
(ONNX Runtime's dynamic quantisation), so a text's vector moves with its batch mates and their
padding; float32 has no such scale. Alone, a text's vector is its own. The rounds alternate the two
ways so that a machine whose load changes meanwhile weighs on both alike.

    .venv/bin/python -m bench.indexing.batch_mates bench/out/real-text/10mb --blocks 2 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from bench.indexing.figures import report
from bench.indexing.build_throughput import _cosines, batched, built_blocks
from qa.config import Settings
from qa.index.dense import embed, model_path
from qa.index.onnx_embed import OnnxEncoder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--dense-windows", type=int, default=Settings().dense_windows)
    parser.add_argument("--blocks", type=int, default=2, help="the build's first blocks to embed (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each way, alternating (default 3)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    settings = Settings(dense_windows=args.dense_windows)
    # A block holds at most 512 texts, so at most 512 chunks: enough blocks, then the first of them.
    blocks = built_blocks(args.folder, settings, 512 * args.blocks)[:args.blocks]
    texts = [t for block in blocks for t in block]
    load_before = os.getloadavg()
    figures: dict[str, float] = {"texts": len(texts)}
    ways: dict[str, dict[str, np.ndarray]] = {}
    for name, quantized in (("int8", True), ("float32", False)):
        model = OnnxEncoder(model_path(settings.model), quantized=quantized)
        embed(model, texts[:32], settings.batch_size)  # warm
        seconds = {"as_built": 0.0, "alone": 0.0}
        vectors = {}
        for round_ in range(args.rounds):
            for way in (("as_built", "alone") if round_ % 2 == 0 else ("alone", "as_built")):
                began = time.perf_counter()
                if way == "as_built":
                    vectors[way] = np.concatenate([batched(model, block) for block in blocks])
                else:
                    vectors[way] = embed(model, texts, 1)
                seconds[way] += time.perf_counter() - began
        for way, total in seconds.items():
            figures[f"{name}_{way}_texts_per_s"] = round(len(texts) * args.rounds / total, 1)
        figures[f"{name}_alone_over_as_built_speed"] = round(seconds["as_built"] / seconds["alone"], 3)
        for stat, value in _cosines(vectors["as_built"], vectors["alone"]).items():
            figures[f"{name}_cosine_as_built_vs_alone_{stat}"] = value
        ways[name] = vectors
    # float32 vectors are the model's own (no batch scale): which int8 way stays nearer to them.
    for way in ("as_built", "alone"):
        for stat, value in _cosines(ways["int8"][way], ways["float32"]["alone"]).items():
            figures[f"int8_{way}_vs_float32_cosine_{stat}"] = value
    report(figures, load_before, args.json, width=40)


if __name__ == "__main__":
    main()
