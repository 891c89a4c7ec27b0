"""Latency of one whole answer (retrieval + reader + citations) with the models loaded, over the
shipped sources and the development questions, and how much of it is the reader. Each question
is answered twice: with no sentence vectors kept (cold) and again with them kept (warm), since
a web app in use meets the same passages question after question (`Retriever.embed_sentences`),
and embeds a collection's sentences ahead of questions (`Retriever.warm_sentences`, timed here).

    .venv/bin/python -m bench.answers.latency                 # 16 dev questions × 5 rounds
    .venv/bin/python -m bench.answers.latency --rounds 10 --threads 2
    .venv/bin/python -m bench.answers.latency --sources bench/out/long-document/sources \
        --index bench/out/long-document/index --questions bench/out/long-document/questions.jsonl --no-warm-up

Cold start (`qa ask` from process start to printed answer) is measured by
`python -m bench.indexing.speed --skip-build`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.paths import DEV_SET, OUT, SOURCES


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="passes over the questions (default 5)")
    parser.add_argument("--questions", type=Path, default=DEV_SET, help="question set (default: the dev set)")
    parser.add_argument("--threads", type=int, help="one reader session of this many threads (default: one-thread "
                        "sessions side by side, one a core)")
    parser.add_argument("--sources", type=Path, default=SOURCES, help="documents to answer from (default: the shipped sources)")
    parser.add_argument("--index", type=Path, help="index folder, kept between runs (default: a temporary one, "
                        "built afresh); indexing updates it when --sources changed")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="skip timing the collection's warm-up (it embeds every sentence: minutes for a long document)")
    parser.add_argument("--out", type=Path, default=OUT / "answer.json", help="figures as JSON (default bench/out/answer.json)")
    args = parser.parse_args(argv)

    from qa import pipeline
    from qa.read.answer import answer_question, candidate_sentences, read_sentences
    from qa.config import Settings
    from qa.read.reader import Reader

    questions = [json.loads(line)["question"] for line in args.questions.read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        settings = Settings(index_dir=args.index or Path(tmp) / "index", sources_dir=args.sources)
        model = pipeline.model_for(settings)
        pipeline.update(settings, model, progress=False)
        qa = pipeline.load(settings, model)
        reader = Reader(threads=args.threads)
        answer_question(qa.retriever, questions[0], reader=reader)  # first calls are slow: not timed
        # The web app embeds the collection's sentences ahead of questions (Retriever.warm_sentences):
        # how long that takes, and how many of the questions' candidate sentences it covers.
        qa.retriever.forget_sentences()
        warmed, warm_s, covered = 0, 0.0, 0.0
        if not args.no_warm_up:
            began = time.perf_counter()
            warmed = qa.retriever.warm_sentences()
            warm_s = time.perf_counter() - began
            kept = qa.retriever.kept_sentences()
            candidates = [t for q in questions for t in
                          candidate_sentences(qa.retriever, q, qa.retriever.search(q, k=settings.answer_passages)).texts]
            covered = sum(t in kept for t in candidates) / max(1, len(candidates))
        whole, cold, reading, sentences = [], [], [], []
        for _ in range(args.rounds):
            for question in questions:
                # Cold: no sentence vectors kept from earlier questions (a collection's first questions).
                qa.retriever.forget_sentences()
                began = time.perf_counter()
                answer_question(qa.retriever, question, reader=reader)
                cold.append(time.perf_counter() - began)
                # Warm: asked again, its passages' sentence vectors are kept (a web app in use).
                began = time.perf_counter()
                answer_question(qa.retriever, question, reader=reader)
                whole.append(time.perf_counter() - began)
                hits = qa.retriever.search(question, k=settings.answer_passages)
                began = time.perf_counter()
                sentences.append(len(read_sentences(reader, qa.retriever, question, hits)))
                reading.append(time.perf_counter() - began)
    ms = lambda values, q: 1000 * float(np.percentile(values, q))  # noqa: E731
    result = {"answers": len(whole), "whole_p50_ms": ms(whole, 50), "whole_p95_ms": ms(whole, 95),
              "cold_p50_ms": ms(cold, 50), "cold_p95_ms": ms(cold, 95),
              "reader_p50_ms": ms(reading, 50), "reader_p95_ms": ms(reading, 95),
              "sentences_read_mean": float(np.mean(sentences)), "warmed_sentences": warmed,
              "warm_up_s": warm_s, "warm_up_covers": covered, "load_average": os.getloadavg()[0],
              # the whole process's peak (the models, the reader's and encoder's sessions, the small index)
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"{result['answers']} answers over {args.sources} ({result['sentences_read_mean']:.0f} "
          f"sentences read each; load average {result['load_average']:.1f})")
    print(f"whole answer  p50 {result['whole_p50_ms']:.1f} ms  p95 {result['whole_p95_ms']:.1f} ms"
          "  (sentence vectors kept from earlier questions)")
    print(f"whole answer  p50 {result['cold_p50_ms']:.1f} ms  p95 {result['cold_p95_ms']:.1f} ms"
          "  (every sentence embedded afresh)")
    if not args.no_warm_up:
        print(f"warm-up       {result['warmed_sentences']} sentences embedded ahead of questions in "
              f"{result['warm_up_s']:.1f} s, covering {result['warm_up_covers']:.1%} of the questions' candidates")
    print(f"reader alone  p50 {result['reader_p50_ms']:.1f} ms  p95 {result['reader_p95_ms']:.1f} ms")
    print(f"peak RSS      {result['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
