"""One long plain-text document for answer latency where a document is long: PARAGRAPHS short
paragraphs of made-up district reports (about 190 bytes each; 20,000 make 3.8 MB) with one
sentence about a ferry in the middle, and four questions about them. What it measures is the
cost per candidate sentence of looking positions up in a document of many paragraphs.

    .venv/bin/python -m bench.datasets.long_document bench/out/long-document [--paragraphs 20000]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

WORDS = ("river town council farmers water flood money school students museum ticket library permit "
         "road bus charge policy staff").split()
FERRY = ("The harbour ferry to Skerry Island was cancelled for eleven days because the only vessel failed "
         "its safety inspection.")
QUESTIONS = ["Why was the ferry to Skerry Island cancelled?", "how many flood cases did district 512 report",
             "what did the council of district 77 report in April", "Why was the harbour ferry cancelled?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to write sources/long.txt and questions.jsonl into")
    parser.add_argument("--paragraphs", type=int, default=20_000, help="how many (default 20000)")
    args = parser.parse_args()
    rng = random.Random(3)
    paragraphs = [" ".join(f"The {rng.choice(WORDS)} of district {i} reported {rng.randint(1, 999)} "
                           f"{rng.choice(WORDS)} cases in {rng.choice(['March', 'April', 'May'])}."
                           for _ in range(rng.randint(2, 4)))
                  for i in range(args.paragraphs)]
    paragraphs.insert(args.paragraphs // 2, FERRY)
    (args.out / "sources").mkdir(parents=True, exist_ok=True)
    (args.out / "sources" / "long.txt").write_text("\n\n".join(paragraphs))
    (args.out / "questions.jsonl").write_text("".join(json.dumps({"id": f"l{n}", "question": q}) + "\n"
                                                      for n, q in enumerate(QUESTIONS, start=1)))
    print(f"{args.out}: {len(paragraphs)} paragraphs, {len(QUESTIONS)} questions")


if __name__ == "__main__":
    main()
