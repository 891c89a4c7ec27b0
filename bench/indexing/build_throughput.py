"""A whole `qa index` build on real text beside the embedding model's own throughput, in one run.

The floor is the ONNX session alone: the same texts the build embeds (each chunk and its dense
windows), tokenised ahead, sorted by length and run 16 a batch, with nothing else in the loop. The
build is `qa index` in a child process (reading, chunking, tokenising, embedding, BM25, writing),
timed end to end with its peak RSS. The ratio build/floor says how near the model's speed the build
runs; whatever the build spends outside `session.run` is the difference.

Real text: the contexts of SQuAD 1.1 train articles and COVID-QA's papers from ../shared/train
(CC BY-SA 4.0 / Apache-2.0), written as one .txt file per article under bench/out/ (never committed).

    .venv/bin/python -m bench.indexing.build_throughput --mb 10
    .venv/bin/python -m bench.indexing.build_throughput --mb 2 --dense-windows 0 --json bench/out/throughput.json

Also times the model in float32 beside int8 on the same texts: int8 much faster than float32
means the processor's int8 instructions (AVX-512 VNNI here) are in use.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.paths import OUT, ROOT, shared_file
from qa.config import Settings
from qa.index.dense import model_path
from qa.index.onnx_embed import OnnxEncoder
from qa.ingest.chunking import indexed_chunks
from qa.ingest.documents import read_folder


def write_corpus(folder: Path, megabytes: float) -> int:
    """Real articles as .txt files until `megabytes` of text; returns the bytes written."""
    folder.mkdir(parents=True, exist_ok=True)
    articles = []
    squad = shared_file("train", "squad-v1.1-train.json.gz")
    covid = shared_file("train", "covid-qa.json.gz")
    if squad is None:
        sys.exit("needs ../shared/train/squad-v1.1-train.json.gz")
    for data in (json.load(gzip.open(path, "rt", encoding="utf-8"))["data"] for path in (covid, squad) if path):
        articles += [(a.get("title") or f"paper {n}", "\n\n".join(p["context"] for p in a["paragraphs"]))
                     for n, a in enumerate(data)]
    written, limit = 0, int(megabytes * 1e6)
    for n, (title, text) in enumerate(articles):
        if written >= limit:
            break
        body = f"{str(title).replace('_', ' ')}\n\n{text}\n"
        (folder / f"{n:05d}.txt").write_text(body, encoding="utf-8")
        written += len(body.encode())
    return written


def embedded_texts(folder: Path, settings: Settings) -> tuple[int, list[str]]:
    """(chunks, every text the build embeds: each chunk's, then its windows')."""
    documents, _ = read_folder(folder)
    chunks, texts = 0, []
    for document in documents:
        for _, text, windows in indexed_chunks(document, settings):
            chunks += 1
            texts += [text, *windows]
    return chunks, texts


def session_floor(encoder: OnnxEncoder, texts: list[str], batch: int = 16) -> float:
    """Seconds of `session.run` alone over the texts, tokenised ahead and length-sorted."""
    tokenizer, session = encoder._tokenizer, encoder._session
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    feeds = []
    for begin in range(0, len(texts), batch):
        encodings = tokenizer.encode_batch([texts[i] for i in order[begin:begin + batch]])
        feeds.append({name: np.array([getattr(e, field) for e in encodings], dtype=np.int64)
                      for name, field in (("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                          ("token_type_ids", "type_ids"))})
    began = time.perf_counter()
    for feed in feeds:
        session.run(None, feed)
    return time.perf_counter() - began


def timed_build(folder: Path, index: Path, dense_windows: int) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of `qa index` in a child process."""
    shutil.rmtree(index, ignore_errors=True)
    command = [sys.executable, "-m", "qa", "index", str(folder), "--index", str(index), "-q",
               "--dense-windows", str(dense_windows)]
    began = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    seconds = time.perf_counter() - began
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--mb", type=float, default=10, help="megabytes of real text to index (default 10)")
    parser.add_argument("--dense-windows", type=int, default=Settings().dense_windows,
                        help="dense window size, 0 for one vector a chunk (default: the shipped setting)")
    parser.add_argument("--no-float", action="store_true", help="skip the float32 model timing")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)

    folder = OUT / "throughput" / f"text-{args.mb:g}mb"
    if not folder.is_dir():
        write_corpus(folder, args.mb)
    size = sum(p.stat().st_size for p in folder.glob("*.txt"))
    settings = Settings(dense_windows=args.dense_windows)
    chunks, texts = embedded_texts(folder, settings)
    print(f"{size / 1e6:.1f} MB in {len(list(folder.glob('*.txt')))} files: {chunks} chunks, "
          f"{len(texts)} texts embedded (dense windows {args.dense_windows})", flush=True)

    int8 = OnnxEncoder(model_path(settings.model), quantized=True)
    session_floor(int8, texts[:64])  # warm
    build_s, rss = timed_build(folder, OUT / "throughput" / "index", args.dense_windows)
    floor_s = session_floor(int8, texts)
    figures = {"megabytes": round(size / 1e6, 2), "chunks": chunks, "texts_embedded": len(texts),
               "dense_windows": args.dense_windows, "cores": os.cpu_count(),
               "build_s": round(build_s, 1), "build_chunks_per_s": round(chunks / build_s, 1),
               "floor_s": round(floor_s, 1), "floor_chunks_per_s": round(chunks / floor_s, 1),
               "build_over_floor": round(floor_s / build_s, 3), "peak_rss_mib": round(rss)}
    if not args.no_float:
        fp32 = OnnxEncoder(model_path(settings.model), quantized=False)
        sample = texts[:2000]
        session_floor(fp32, sample[:64])
        figures["float32_over_int8_time"] = round(session_floor(fp32, sample) / session_floor(int8, sample), 2)
    for name, value in figures.items():
        print(f"  {name:24} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
