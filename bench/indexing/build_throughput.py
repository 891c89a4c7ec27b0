"""A whole `qa index` build on real text beside the embedding model's own throughput, in one run.

The floor is the ONNX session alone: the same texts the build embeds (each chunk and its dense
windows), tokenised ahead, run 16 a batch (sorted by length), one text a run, and one text a run in
one-thread sessions side by side (as the build runs the int8 model), the fastest of the three, with
nothing else in the loop. The
build is `qa index` in a child process (reading, chunking, tokenising, embedding, BM25, writing),
timed end to end with its peak RSS. The ratio build/floor says how near the model's speed the build
runs; whatever the build spends outside `session.run` is the difference.

Real text: the contexts of SQuAD 1.1 train articles and COVID-QA's papers from ../shared/train
(CC BY-SA 4.0 / Apache-2.0), written as one .txt file per article under bench/out/ (never committed).

    .venv/bin/python -m bench.indexing.build_throughput --mb 10
    .venv/bin/python -m bench.indexing.build_throughput --mb 2 --dense-windows 0 --json bench/out/throughput.json

Or any folder of documents, e.g. the ~10 MB and ~100 MB of real text bench/datasets/real_text.py
assembles (their sources and licences named there), with `--vectors` to compare the vectors the
build's embedding calls give against each text embedded alone and against the float32 model:

    .venv/bin/python -m bench.datasets.real_text --mb 10
    .venv/bin/python -m bench.indexing.build_throughput --corpus bench/out/real-text/10mb --vectors 2000

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
import threading
import time
from pathlib import Path

import numpy as np

from bench.indexing.figures import report
from bench.paths import OUT, ROOT, shared_file
from qa.config import Settings
from qa.index.dense import embed, model_path
from qa.index.onnx_embed import OnnxEncoder
from qa.index.store_build import plan_build
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


def embedded_texts(folder: Path, settings: Settings, every: int = 1) -> tuple[int, list[str], int]:
    """(chunks, every text the build embeds: each chunk's, then its windows', chunks sampled): the
    texts of every `every`-th chunk only when `every` > 1, a sample with the texts' mix of lengths."""
    documents, _ = read_folder(folder)
    chunks, texts, sampled = 0, [], 0
    for document in documents:
        for _, text, windows in indexed_chunks(document, settings):
            if chunks % every == 0:
                texts += [text, *windows]
                sampled += 1
            chunks += 1
    return chunks, texts, sampled


def _feeds(encoder: OnnxEncoder, texts: list[str], batch: int) -> tuple[list[int], list[dict]]:
    """The texts tokenised ahead, length-sorted, `batch` a run: (their order, the session's feeds)."""
    tokenizer = encoder._tokenizer
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    feeds = []
    for begin in range(0, len(texts), batch):
        encodings = tokenizer.encode_batch([texts[i] for i in order[begin:begin + batch]])
        feeds.append({name: np.array([getattr(e, field) for e in encodings], dtype=np.int64)
                      for name, field in (("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                          ("token_type_ids", "type_ids"))})
    return order, feeds


def session_floor(encoder: OnnxEncoder, texts: list[str], batch: int = 16) -> float:
    """Seconds of `session.run` alone over the texts, tokenised ahead and length-sorted."""
    _, feeds = _feeds(encoder, texts, batch)
    began = time.perf_counter()
    for feed in feeds:
        encoder._session.run(None, feed)
    return time.perf_counter() - began


def lanes_floor(encoder: OnnxEncoder, texts: list[str]) -> float:
    """Seconds of the encoder's one-thread sessions side by side (its lanes), each running its share
    of the texts one a run, tokenised ahead; infinity where the encoder has a single lane."""
    lanes = encoder.lanes()
    if len(lanes) < 2:
        return float("inf")
    _, feeds = _feeds(encoder, texts, 1)

    def lane(k: int) -> None:
        for feed in feeds[k::len(lanes)]:
            lanes[k][0].run(None, feed)

    workers = [threading.Thread(target=lane, args=(k,)) for k in range(len(lanes))]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began


def batched(encoder: OnnxEncoder, texts: list[str], batch: int = 16) -> np.ndarray:
    """Unit vectors of `texts` embedded length-sorted, `batch` a run: how builds embedded int8 texts
    before each was embedded alone (`OnnxEncoder.encode`), when its batch mates moved its vector."""
    order, feeds = _feeds(encoder, texts, batch)
    out = np.empty((len(texts), encoder.get_embedding_dimension()), dtype=np.float32)
    for begin, feed in zip(range(0, len(texts), batch), feeds):
        out[order[begin:begin + batch]] = encoder._session.run(None, feed)[0]
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def built_blocks(folder: Path, settings: Settings, chunks_wanted: int) -> list[list[str]]:
    """The texts of the build's first embedding calls (blocks, as `qa index` cuts them: each chunk's
    text, then its windows'), enough blocks to hold `chunks_wanted` chunks."""
    documents, _ = read_folder(folder)
    plan = plan_build(documents, settings)
    blocks, chunks = [], 0
    for block in (b for step in plan.steps for b in step):
        if chunks >= chunks_wanted:
            break
        texts = []
        for piece in block.pieces:
            for _, text, windows in indexed_chunks(plan.documents[piece.document], settings)[piece.first:piece.last]:
                texts += [text, *windows]
        blocks.append(texts)
        chunks += block.chunks
    return blocks


def _cosines(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"min": round(float(cos.min()), 5), "p1": round(float(np.percentile(cos, 1)), 5),
            "mean": round(float(cos.mean()), 5)}


def vector_agreement(folder: Path, settings: Settings, int8: OnnxEncoder, chunks_wanted: int,
                     fp32: OnnxEncoder | None) -> dict[str, float]:
    """Cosine (min, 1st percentile, mean) between the int8 vectors of the build's first blocks as
    the build embeds them (each text alone), the same texts batched as builds did before (one call
    a block, sorted by length, 16 a batch) and in one call for all the blocks together (other batch
    mates), and by the float32 model; and the speed of each way, in texts a second."""
    blocks = built_blocks(folder, settings, chunks_wanted)
    texts = [t for block in blocks for t in block]
    figures: dict[str, float] = {"vector_texts": len(texts)}

    def timed(run) -> tuple[np.ndarray, float]:
        began = time.perf_counter()
        vectors = run()
        return vectors, len(texts) / (time.perf_counter() - began)

    alone, figures["alone_texts_per_s"] = timed(lambda: embed(int8, texts, settings.batch_size))
    by_block, figures["batched_texts_per_s"] = timed(lambda: np.concatenate([batched(int8, b) for b in blocks]))
    one_call = batched(int8, texts)
    pairs = {"alone_vs_batched": (alone, by_block), "batched_vs_one_call": (by_block, one_call)}
    if fp32 is not None:
        float32, figures["float32_texts_per_s"] = timed(lambda: embed(fp32, texts, settings.batch_size))
        pairs |= {"batched_vs_float32": (by_block, float32), "alone_vs_float32": (alone, float32)}
    for name, (a, b) in pairs.items():
        for stat, value in _cosines(a, b).items():
            figures[f"cosine_{name}_{stat}"] = value
    for name in ("alone", "batched", "float32"):
        if f"{name}_texts_per_s" in figures:
            figures[f"{name}_texts_per_s"] = round(figures[f"{name}_texts_per_s"], 1)
    return figures


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
    parser.add_argument("--corpus", type=Path,
                        help="index this folder of documents instead of writing --mb of text "
                             "(e.g. bench/out/real-text/10mb from bench.datasets.real_text)")
    parser.add_argument("--index", type=Path, default=OUT / "throughput" / "index",
                        help="where the timed build writes its index, removed first (default bench/out/throughput/index)")
    parser.add_argument("--vectors", type=int, default=0, metavar="CHUNKS",
                        help="also compare the vectors of the build's first blocks holding this many chunks: "
                             "as built, each text alone, and float32 (cosine min / p1 / mean)")
    parser.add_argument("--floor-sample", type=int, default=1, metavar="K",
                        help="time the model alone on every K-th chunk's texts (its own and its windows'), "
                             "a sample of the same mix of lengths, K times quicker (default 1: all of them)")
    parser.add_argument("--skip-build", action="store_true",
                        help="time the model alone (and --vectors) only, not a build")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    if args.corpus:
        folder = args.corpus
        if not folder.is_dir():
            sys.exit(f"no folder {folder}: write it first (python -m bench.datasets.real_text)")
    else:
        folder = OUT / "throughput" / f"text-{args.mb:g}mb"
        if not folder.is_dir():
            write_corpus(folder, args.mb)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    settings = Settings(dense_windows=args.dense_windows)
    chunks, texts, sampled = embedded_texts(folder, settings, args.floor_sample)
    _, all_texts, _ = embedded_texts(folder, settings) if args.floor_sample > 1 else (chunks, texts, chunks)
    print(f"{size / 1e6:.1f} MB in {sum(1 for p in folder.rglob('*') if p.is_file())} files: {chunks} chunks, "
          f"{len(all_texts)} texts embedded (dense windows {args.dense_windows}); the model alone is timed on "
          f"{sampled} chunks' {len(texts)} texts", flush=True)

    int8 = OnnxEncoder(model_path(settings.model), quantized=True)
    # One session with ONNX Runtime's own threads, for the batched and alone ways: the encoder's
    # main session is one-thread since it became the first of its lanes (8302fe8).
    single = OnnxEncoder(model_path(settings.model), quantized=True, lanes=1)
    session_floor(single, texts[:64])  # warm
    lanes_floor(int8, texts[:64])
    figures = {"megabytes": round(size / 1e6, 2), "chunks": chunks, "texts_embedded": len(all_texts),
               "dense_windows": args.dense_windows, "cores": os.cpu_count()}
    if not args.skip_build:
        build_s, rss = timed_build(folder, args.index, args.dense_windows)
        figures |= {"build_s": round(build_s, 1), "build_chunks_per_s": round(chunks / build_s, 1)}
    # The model's own speed, the best of its ways: 16 a run (length-sorted), alone, and alone in
    # sessions side by side, as the build runs it; the whole build's texts at the sample's speed.
    ways = {batch: session_floor(single, texts, batch) * chunks / sampled for batch in (16, 1)}
    ways["lanes"] = lanes_floor(int8, texts) * chunks / sampled
    floor_s = min(ways.values())
    figures |= {"floor_s": round(floor_s, 1), "floor_chunks_per_s": round(chunks / floor_s, 1),
                "floor_batched_s": round(ways[16], 1), "floor_alone_s": round(ways[1], 1)}
    if ways["lanes"] < float("inf"):
        figures["floor_lanes_s"] = round(ways["lanes"], 1)
    if args.floor_sample > 1:
        figures["floor_sampled_chunks"] = sampled
    if not args.skip_build:
        figures |= {"build_over_floor": round(floor_s / build_s, 3), "peak_rss_mib": round(rss)}
    fp32 = None
    if not args.no_float:
        fp32 = OnnxEncoder(model_path(settings.model), quantized=False)
        sample = texts[:2000]
        session_floor(fp32, sample[:64])
        figures["float32_over_int8_time"] = round(session_floor(fp32, sample) / session_floor(single, sample), 2)
    if args.vectors:
        figures |= vector_agreement(folder, settings, int8, args.vectors, fp32)
    report(figures, load_before, args.json, width=36)


if __name__ == "__main__":
    main()
