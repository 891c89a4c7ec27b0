"""Follow-up questions with and without conversation context, and which text the reader reads.

    .venv/bin/python -m bench.answers.follow_ups            # tests/data/follow-up-questions.jsonl, 3 modes

Builds an index of the shipped sources in a temporary folder, then answers the question set's
follow-ups (questions with `follows`) five ways, each after its first question was answered the
same way: alone (no context); with qa.read.conversation's query (names carried) read by the reader as
asked ("original") or as searched ("expanded", qa's default); and with the first rule tried (every
content word of the previous question plus the answer's names), read both ways. Prints hit@1,
hit@3 and quote@1 over the follow-ups, per mode, as a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.paths import ROOT, SOURCES

QUESTIONS = ROOT / "tests" / "data" / "follow-up-questions.jsonl"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--modes", default="bm25,dense,hybrid")
    args = parser.parse_args(argv)

    from qa.read import conversation
    from qa import pipeline
    from qa.read.answer import answer_question
    from qa.config import Settings
    from qa.evaluation.evaluate import answer_rank, contains_answer, hit_rate, load_question_set

    def content_word_query(question: str, previous: dict | None) -> str:
        """The first rule tried: the previous question's content words, then the answer's names."""
        if not previous or not conversation.is_follow_up(question):
            return question
        quotes = previous.get("answer") or []
        have, carried = set(conversation.tokenize(question)), []
        for word in (conversation.content_words(previous.get("searched_for") or previous["question"])
                     + conversation.names(quotes[0]["quote"] if quotes else "")):
            stems = conversation.tokenize(word)
            if stems and not have.issuperset(stems):
                carried.append(word)
                have.update(stems)
        return f"{question} {' '.join(carried[:conversation.MAX_CARRIED])}" if carried else question

    variants = {"alone": (lambda q, prev: q, None),
                "names, reader reads the question as asked": (conversation.query_after, "original"),
                "names, reader reads the query (default)": (conversation.query_after, "expanded"),
                "content words, reader reads the question as asked": (content_word_query, "original"),
                "content words, reader reads the query": (content_word_query, "expanded")}
    questions = load_question_set(args.questions)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(index_dir=Path(folder) / "index", sources_dir=SOURCES)
        model = pipeline.model_for(settings)
        pipeline.update(settings, model, progress=False)
        retriever = pipeline.load(settings, model).retriever
        print(f"{args.questions.name}: {sum(q.follows is not None for q in questions)} follow-ups of "
              f"{len(questions)} questions\n")
        print("| context | mode | hit@1 | hit@3 | quote@1 |\n|---|---|---:|---:|---:|")
        for name, (query_for, reader_sees) in variants.items():
            for mode in modes:
                answers, ranks, quoted = {}, [], []
                for q in questions:
                    previous = answers[q.follows].as_dict() if q.follows else None
                    query = query_for(q.question, previous)
                    if reader_sees == "expanded" and query != q.question:
                        answer = replace(answer_question(retriever, query, mode), question=q.question,
                                         searched_for=query)
                    else:
                        answer = answer_question(retriever, q.question, mode, search_query=query)
                    answers[q.id] = answer
                    if q.follows:
                        ranks.append(None if answer.abstained else
                                     answer_rank([c.passage for c in answer.citations], q.answers))
                        quoted.append(bool(answer.quotes) and contains_answer(answer.quotes[0].quote, q.answers))
                print(f"| {name} | {mode} | {hit_rate(ranks, 1):.3f} | {hit_rate(ranks, 3):.3f} | "
                      f"{sum(quoted) / len(quoted):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
