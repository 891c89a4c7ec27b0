"""Which fusion settings make hybrid retrieval beat both its parts: a small grid, several collections.

Collections: the BEIR sample of the tests (40 documents), SQuAD held-out articles as a BEIR set
(bench/datasets/beir_from_squad.py), any BEIR folders given with --beir (bench/datasets/beir_out_of_domain.py writes
COVID-QA and SelQA ones) and the development question set over the shipped sources (hit@k of
passages holding an answer). Each index is built ONCE; each query's BM25 and dense lists are
searched once, 200 deep, and every setting fuses prefixes of them with qa.retrieve.fuse_rankings
(query-time settings only: fusion, rrf_k, dense_weight, confidence_power, candidates). A list cut to `candidates`
equals a search that deep (both searches are exact below 50,000 chunks).

Also measured: how a document's chunks make its score (qa.evaluation.evaluate.document_score's share), and,
with --rerank, the reader reordering hybrid's top 20 passages.

    nice -n 15 .venv/bin/python -m bench.retrieval.sweep_fusion                  # table; bench/out/sweep_fusion.*
    nice -n 15 .venv/bin/python -m bench.retrieval.sweep_fusion --rerank 200     # + reader reranking, 200 queries a set
    # with COVID-QA passages and SelQA sections too (bench/datasets/beir_out_of_domain.py writes them):
    nice -n 15 .venv/bin/python -m bench.retrieval.sweep_fusion --beir bench/out/covid-beir bench/out/selqa-beir \
        --out bench/out/sweep_fusion_all
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.datasets.beir_from_squad import squad_path, write_squad_beir
from bench.paths import OUT, ROOT, SOURCES, shared_file
from qa.config import Settings
from qa.evaluation.evaluate import (BEIR_DEPTH, answer_rank, index_beir, load_beir, load_question_set,
                                    rank_documents, retrieval_metrics)
from qa.index.dense import embed
from qa.pipeline import model_for, open_backend, update
from qa.retrieve import Hit, Retriever, fuse_rankings

LIST_DEPTH = 2 * BEIR_DEPTH  # what `qa eval --beir` searches: documents span several chunks
CANDIDATES = (20, 50, 100)
# (fusion, rrf_k, dense_weight, confidence_power): RRF, fixed weights, weights scaled per query
GRID = ([("rrf", k, None, None) for k in (10, 30, 60, 100)]
        + [("weighted", None, w, 0.0) for w in (0.3, 0.5, 0.6, 0.7)]
        + [("weighted", None, w, p) for w in (0.5, 0.6) for p in (1.0, 2.0, 3.0)])
SHARES = (0.0, 0.1, 0.25, 0.5)


class Collection:
    """One index, with every query's two lists searched once."""

    def __init__(self, name: str, retriever: Retriever, queries: dict[str, str], judge):
        self.name, self.retriever, self.queries, self.judge = name, retriever, queries, judge
        backend = retriever.backend
        began = time.perf_counter()
        self.lists = {}
        for q, text in queries.items():
            self.lists[q] = (backend.lexical_search(text, LIST_DEPTH),
                             backend.dense_search(embed(retriever.model, [text], batch_size=1)[0], LIST_DEPTH))
        self.search_seconds = time.perf_counter() - began
        self.chunks = {}

    def hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        """(item, score) best first as Hits, as Retriever.search makes them."""
        out = []
        for rank, (item, score) in enumerate(ranked, start=1):
            if item not in self.chunks:
                self.chunks[item] = self.retriever.backend.chunk(item)
            out.append(Hit(self.chunks[item], "", rank, score))
        return out

    def ranked(self, mode: str, settings: Settings, candidates: int) -> dict[str, list[Hit]]:
        result = {}
        for q, (bm25, dense) in self.lists.items():
            if mode == "bm25":
                result[q] = self.hits(bm25)
            elif mode == "dense":
                result[q] = self.hits(dense)
            else:
                result[q] = self.hits(fuse_rankings(bm25[:candidates], dense[:candidates], settings))
        return result


def beir_judge(qrels):
    """nDCG@10, MRR@10 and recall@100 of document rankings made from chunk hits."""
    def judge(hits_by_query: dict[str, list[Hit]], share: float = 0.0) -> dict[str, float]:
        # scored by rank, as `qa eval --beir` does: ties in score (RRF gives many) keep their order
        run = {q: {d.id: 1.0 / d.rank for d in rank_documents(hits, BEIR_DEPTH, share)}
               for q, hits in hits_by_query.items()}
        judged = {q: qrels[q] for q in hits_by_query}  # a subset of queries (--rerank) is scored alone
        return retrieval_metrics(judged, run, ("ndcg@10", "mrr@10", "recall@100"))
    return judge


def question_judge(questions):
    """hit@1, hit@5 and MRR@10 of passages holding an answer (the dev set's own measure)."""
    answers = {q.id: q.answers for q in questions}

    def judge(hits_by_query: dict[str, list[Hit]], share: float = 0.0) -> dict[str, float]:
        ranks = [answer_rank([h.chunk.text for h in hits[:10]], answers[q]) for q, hits in hits_by_query.items()]
        n = len(ranks)
        return {"hit@1": sum(r == 1 for r in ranks) / n, "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
                "mrr@10": sum(1 / r for r in ranks if r) / n}
    return judge


def collections(model, settings: Settings, squad_articles: int, squad_queries: int,
                extra: list[Path] = ()) -> list[Collection]:
    found = []
    sample = load_beir(ROOT / "tests" / "data" / "beir-sample")
    squad = squad_path()
    beir_sets = [sample]
    if squad_articles and squad:
        folder = write_squad_beir(OUT / "squad-beir", squad, squad_articles, squad_queries)
        beir_sets.append(load_beir(folder))
    else:
        print("no ../shared/train (or --squad-articles 0): SQuAD held-out articles left out", file=sys.stderr)
    beir_sets += [load_beir(folder) for folder in extra]
    for dataset in beir_sets:
        began = time.perf_counter()
        retriever = index_beir(dataset, OUT / "sweep-index" / dataset.name, settings, model, progress=False)
        print(f"{dataset.name}: {len(dataset.corpus)} documents, {retriever.backend.size} chunks, "
              f"{len(dataset.queries)} queries, indexed in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        found.append(Collection(dataset.name, retriever, dataset.queries, beir_judge(dataset.qrels)))
    dev = shared_file("eval", "seed-dev.jsonl")
    if dev:
        questions = [q for q in load_question_set(dev) if q.answerable]
        dev_settings = settings.with_(index_dir=OUT / "sweep-index" / "dev")
        update(dev_settings, model, SOURCES, progress=False)
        retriever = Retriever(open_backend(dev_settings), model, dev_settings)
        found.append(Collection("dev", retriever, {q.id: q.question for q in questions}, question_judge(questions)))
    else:
        print("no ../shared/eval/seed-dev.jsonl: the development set left out", file=sys.stderr)
    return found


def setting_name(fusion: str, rrf_k, weight, power, candidates: int) -> str:
    name = f"rrf k={rrf_k}" if fusion == "rrf" else f"weighted w={weight}"
    name += f" confidence^{power:g}" if fusion == "weighted" and power else ""
    return f"{name}, {candidates} candidates"


def sweep(found: list[Collection], settings: Settings) -> list[dict]:
    rows = []
    for c in found:
        for mode in ("bm25", "dense"):
            rows.append({"collection": c.name, "mode": mode, "setting": "",
                         **c.judge(c.ranked(mode, settings, LIST_DEPTH))})
        for fusion, rrf_k, weight, power in GRID:
            for candidates in CANDIDATES + (LIST_DEPTH,):
                s = settings.with_(fusion=fusion, rrf_k=rrf_k, dense_weight=weight, confidence_power=power,
                                   candidates=candidates)
                rows.append({"collection": c.name, "mode": "hybrid",
                             "setting": setting_name(fusion, rrf_k, weight, power, candidates),
                             **c.judge(c.ranked("hybrid", s, candidates))})
    return rows


def share_sweep(found: list[Collection], settings: Settings) -> list[dict]:
    rows = []
    for c in found:
        if c.name == "dev":  # passages, not documents: nothing to aggregate
            continue
        for mode in ("bm25", "dense", "hybrid"):
            ranked = c.ranked(mode, settings, LIST_DEPTH)
            for share in SHARES:
                rows.append({"collection": c.name, "mode": mode, "share": share, **c.judge(ranked, share)})
    return rows


def rerank_rows(found: list[Collection], settings: Settings, limit: int, top: int = 20) -> list[dict]:
    from qa.read.answer import rerank, shared_reader

    reader = shared_reader(settings.reader_dir)
    rows = []
    for c in found:
        queries = dict(list(c.lists.items())[:limit])
        plain, reranked, began = {}, {}, time.perf_counter()
        for q, (bm25, dense) in queries.items():
            # as `qa eval --beir --rerank` does: lists searched 200 deep, the default fusion
            hits = c.hits(fuse_rankings(bm25, dense, settings))
            head = rerank(reader, c.retriever, c.queries[q], hits[:top])
            ordered = head + hits[top:]
            plain[q] = hits
            reranked[q] = [replace(h, rank=n, score=1.0 / n) for n, h in enumerate(ordered, start=1)]
        seconds = time.perf_counter() - began
        rows.append({"collection": c.name, "queries": len(queries), "setting": "hybrid", **c.judge(plain)})
        rows.append({"collection": c.name, "queries": len(queries), "setting": f"hybrid, reader reranks top {top}",
                     "seconds_per_query": seconds / len(queries), **c.judge(reranked)})
    return rows


def table(rows: list[dict], keys: list[str]) -> str:
    metrics = list(dict.fromkeys(k for r in rows for k, v in r.items() if k not in keys and not isinstance(v, str)))
    lines = ["| " + " | ".join(keys + metrics) + " |",
             "|" + "|".join(["---"] * len(keys) + ["---:"] * len(metrics)) + "|"]
    for r in rows:
        cells = [str(r.get(k, "")) for k in keys] + [f"{r[m]:.3f}" if m in r else "–" for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render(results: dict) -> str:
    text = []
    for name in dict.fromkeys(r["collection"] for r in results["fusion"]):
        text += [f"\n### {name}\n", table([r for r in results["fusion"] if r["collection"] == name],
                                           ["mode", "setting"])]
    text += ["\n### document score: best chunk + share × the rest\n",
             table(results["document_share"], ["collection", "mode", "share"])]
    if "rerank" in results:
        text += ["\n### reader reranking\n", table(results["rerank"], ["collection", "queries", "setting"])]
    return "\n".join(text) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad-articles", type=int, default=35, help="held-out SQuAD articles (0: none)")
    parser.add_argument("--squad-queries", type=int, default=500)
    parser.add_argument("--rerank", type=int, default=0, metavar="N",
                        help="also measure the reader reranking hybrid's top 20, on N queries a collection")
    parser.add_argument("--beir", nargs="*", default=[], type=Path, metavar="DIR",
                        help="more BEIR folders to sweep (e.g. bench/datasets/beir_out_of_domain.py's covid and selqa)")
    parser.add_argument("--out", type=Path, default=OUT / "sweep_fusion",
                        help="results as OUT.json and OUT.md (default bench/out/sweep_fusion)")
    parser.add_argument("--render", action="store_true", help="only print the tables of the last run's JSON")
    args = parser.parse_args()
    if args.render:
        print(render(json.loads(args.out.with_suffix(".json").read_text())))
        return 0
    settings = Settings(device="cpu")
    model = model_for(settings)
    found = collections(model, settings, args.squad_articles, args.squad_queries, args.beir)
    results = {"fusion": sweep(found, settings), "document_share": share_sweep(found, settings)}
    if args.rerank:
        results["rerank"] = rerank_rows(found, settings, args.rerank)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    args.out.with_suffix(".md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
