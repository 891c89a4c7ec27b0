"""Peak memory of a whole `qa index` build of a folder, everything but the model: the same build
(reading, chunking, planning, segments, BM25, the build cache, the final merge and its vector graph)
with a stand-in model that returns vectors at once.

A 100 MB build with dense windows takes hours of embedding on 2 CPU cores; its memory is set by
what the build holds besides the model (documents, chunks, term counts, vectors, the graph), which
this measures in minutes. The model's own share is what a real build of a smaller folder holds
beyond this one's (bench/indexing/build_throughput.py's peak RSS on the same folder, minus this
script's figure for that folder): a real build's peak is about this figure plus that share.

The stand-in's vectors are unit vectors drawn from a hash of each text (the same text gets the same
vector), 384 wide like the bundled model's. The build runs in a child process; its peak RSS
(`ru_maxrss`) and time are printed, and written as JSON with `--json`; with `--model-share-mib N`
(the model's share, measured as above) the estimate of a real build's peak too.

    .venv/bin/python -m bench.indexing.build_memory bench/out/real-text/100mb --json bench/out/memory-100mb.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.indexing.figures import report
from bench.paths import OUT, ROOT


class StandInModel:
    """The two calls a build makes of a model, answered without one: a unit vector a text."""

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    def get_embedding_dimension(self) -> int:
        return self._dimension

    get_sentence_embedding_dimension = get_embedding_dimension

    def encode(self, texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
               show_progress_bar=False) -> np.ndarray:
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
            out[row] = np.random.default_rng(seed).standard_normal(self._dimension, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def child(folder: Path, index: Path, dense_windows: int) -> None:
    """The build itself, as `qa index FOLDER --index INDEX --dense-windows N -q` runs it, with the stand-in."""
    from qa import pipeline
    from qa.config import Settings

    settings = Settings(index_dir=index, dense_windows=dense_windows)
    report = pipeline.update(settings, StandInModel(), folder, progress=False)
    print(json.dumps({"chunks": report.chunks, "windows": getattr(report, "windows", None)}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("folder", type=Path, help="folder of documents (e.g. bench/out/real-text/100mb)")
    parser.add_argument("--dense-windows", type=int, default=300, help="dense window size, 0 for none (default 300)")
    parser.add_argument("--index", type=Path, default=OUT / "memory" / "index",
                        help="where the build writes its index, removed first (default bench/out/memory/index)")
    parser.add_argument("--model-share-mib", type=int,
                        help="the model's share of a real build's memory (MiB), to estimate its peak")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.folder, args.index, args.dense_windows)
        return

    shutil.rmtree(args.index, ignore_errors=True)
    load_before = os.getloadavg()
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.indexing.build_memory", str(args.folder), "--child",
                           "--index", str(args.index), "--dense-windows", str(args.dense_windows)],
                          check=True, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - began
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    built = json.loads(done.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in args.folder.rglob("*") if p.is_file())
    figures = {"megabytes": round(size / 1e6, 2), "chunks": built["chunks"], "windows": built["windows"],
               "dense_windows": args.dense_windows, "stand_in_build_s": round(seconds, 1),
               "stand_in_peak_rss_mib": round(rss),
               "index_mib": round(sum(p.stat().st_size for p in args.index.rglob("*") if p.is_file()) / 2**20)}
    if args.model_share_mib is not None:
        figures |= {"model_share_mib": args.model_share_mib,
                    "estimated_peak_rss_mib": figures["stand_in_peak_rss_mib"] + args.model_share_mib}
    report(figures, load_before, args.json, width=24)


if __name__ == "__main__":
    main()
