"""Is one int8 ONNX session with two threads the fastest way to embed texts one at a time, or are
two one-thread sessions side by side faster? (issue 35: the whole build's floor)

Since c09c3f2 the int8 model embeds each text alone, so that a vector does not depend on its
batch mates. A run of one short text gives ONNX Runtime's second thread little to share: a long
build showed the main thread at 82% of a core and the other at 28%. This embeds the same texts
(pieces of a real-text folder, `bench/datasets/real_text.py`) both ways, in turns, and prints
texts a second and how far the vectors differ (two runs of one text alone are the same
computation, so they should not differ at all). The side-by-side way is `OnnxEncoder`'s own lanes,
which builds use since they were measured here.

    .venv/bin/python -m bench.indexing.parallel_sessions bench/out/real-text/10mb [--texts 400] [--rounds 2]
        [--json bench/out/parallel-sessions.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from qa.index.dense import model_path
from qa.index.onnx_embed import OnnxEncoder

PIECE = 1200  # characters a text: about a chunk


def texts_of(folder: Path, count: int) -> list[str]:
    """The first `count` pieces of PIECE characters of the folder's text files, in name order."""
    texts: list[str] = []
    for path in sorted(folder.rglob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="ignore")
        texts += [p for p in (text[i:i + PIECE] for i in range(0, min(len(text), 25 * PIECE), PIECE)) if p.strip()]
        if len(texts) >= count:
            break
    return texts[:count]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a folder of text files (bench/datasets/real_text.py writes one)")
    parser.add_argument("--texts", type=int, default=400, help="texts to embed each way (default 400)")
    parser.add_argument("--rounds", type=int, default=2, help="turns of the two ways (default 2)")
    parser.add_argument("--sessions", type=int, default=2, help="one-thread sessions side by side (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures here (the rounds' medians)")
    args = parser.parse_args(argv)
    texts = texts_of(args.folder, args.texts)
    if not texts:
        parser.error(f"no text files in {args.folder}")
    model = model_path("all-MiniLM-L6-v2")
    one = OnnxEncoder(model, quantized=True, lanes=1)
    several = OnnxEncoder(model, quantized=True, lanes=args.sessions)
    for encoder in (one, several):
        encoder.encode(texts[:OnnxEncoder.LANE_MIN])  # warm up, lanes opened
    rates: list[tuple[float, float]] = []
    difference = 0.0
    for r in range(1, args.rounds + 1):
        start = time.perf_counter()
        alone = one.encode(texts)
        one_rate = len(texts) / (time.perf_counter() - start)
        start = time.perf_counter()
        parallel = several.encode(texts)
        parallel_rate = len(texts) / (time.perf_counter() - start)
        print(f"round {r}, {len(texts)} texts: one session, default threads {one_rate:.1f}/s; "
              f"{args.sessions} one-thread sessions side by side {parallel_rate:.1f}/s "
              f"({parallel_rate / one_rate:.2f}×); largest difference of a vector element "
              f"{float(np.abs(alone - parallel).max()):.1e}")
        rates.append((one_rate, parallel_rate))
        difference = max(difference, float(np.abs(alone - parallel).max()))
    if args.json:
        one_rate, parallel_rate = (float(np.median([r[i] for r in rates])) for i in (0, 1))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "texts": len(texts), "sessions": args.sessions, "one_session_texts_per_s": round(one_rate, 1),
            "side_by_side_texts_per_s": round(parallel_rate, 1), "speed_ratio": round(parallel_rate / one_rate, 2),
            "largest_difference": difference}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
