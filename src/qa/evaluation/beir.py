"""BEIR collections: corpus.jsonl, queries.jsonl and qrels/<split>.tsv read line by line, left-out
entries counted as trec_eval and ranx would, and the corpus as `Document`s to index."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qa.ingest.documents import Document, document_from_text


@dataclass(frozen=True)
class BeirDataset:
    name: str
    corpus: dict[str, tuple[str, str]]  # document id -> (title, text)
    queries: dict[str, str]  # query id -> text; only those with relevance judgements
    qrels: dict[str, dict[str, int]]  # query id -> document id -> relevance (> 0)
    # What was left out, as trec_eval and ranx would: name -> count (see `load_beir`).
    skipped: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        """What was left out or cannot be retrieved, in a few words ("" when nothing was)."""
        return "; ".join(f"{count:,} {what}" for what, count in self.skipped if count)


def load_beir(folder: str | Path, split: str = "test") -> BeirDataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv, read line by line.
    As trec_eval and ranx do: documents with empty text are skipped (and counted); judgements of
    documents absent from the corpus stay relevant but cannot be retrieved (recall cannot reach
    1); queries without judgements and judgements without queries are ignored (and counted).
    ValueError for what cannot be read: bad JSON, a missing id, a duplicate document id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no BEIR dataset folder at {folder}: it should hold corpus.jsonl, "
                         f"queries.jsonl and qrels/{split}.tsv")
    corpus, first_line, empty_documents = {}, {}, 0
    for number, row in _jsonl(folder / "corpus.jsonl"):
        doc_id = _row_id(row, folder / "corpus.jsonl", number)
        if doc_id in first_line:
            raise ValueError(f"{folder / 'corpus.jsonl'}: document id {doc_id!r} appears twice, on lines "
                             f"{first_line[doc_id]} and {number}")
        first_line[doc_id] = number
        text = row.get("text") if isinstance(row.get("text"), str) else ""
        if not text.strip():
            empty_documents += 1
            continue
        corpus[doc_id] = (row.get("title") if isinstance(row.get("title"), str) else "", text)
    queries, empty_queries = {}, 0
    for number, row in _jsonl(folder / "queries.jsonl"):
        query_id = _row_id(row, folder / "queries.jsonl", number)
        text = row.get("text") if isinstance(row.get("text"), str) else ""
        if text.strip():
            queries[query_id] = text
        else:
            empty_queries += 1
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    orphans = [q for q in qrels if q not in queries]
    for query in orphans:
        del qrels[query]
    if not qrels:
        raise ValueError(f"{folder / 'qrels' / f'{split}.tsv'} judges no query of queries.jsonl")
    absent = sum(d not in corpus for judged in qrels.values() for d in judged)
    skipped = (("documents with empty text skipped", empty_documents),
               ("queries with empty text skipped", empty_queries),
               ("judgements of queries absent from queries.jsonl ignored", len(orphans)),
               ("queries without judgements ignored", len(queries.keys() - qrels.keys())),
               ("relevant documents absent from the corpus (unretrievable)", absent))
    # As in BEIR, only the queries with at least one relevant document are evaluated.
    return BeirDataset(folder.name, corpus, {q: queries[q] for q in qrels}, qrels, skipped)


def _row_id(row: dict, path: Path, number: int) -> str:
    value = row.get("_id")
    if value is None or isinstance(value, (bool, list, dict)) or not str(value).strip():
        raise ValueError(f"{path}, line {number}: needs an _id (a string or a number)")
    return str(value)


def _jsonl(path: Path):
    """(line number, object) for each non-blank line, streamed: a million documents are never
    read into memory as one string."""
    if not path.is_file():
        raise ValueError(f"no {path.name} in {path.parent}: a BEIR dataset needs corpus.jsonl, "
                         f"queries.jsonl and qrels/test.tsv")
    with open(path, encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
            except RecursionError:
                raise ValueError(f"{path}, line {number}: JSON nested too deeply") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object")
            yield number, row


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise ValueError(f"no relevance judgements at {path} (query-id, corpus-id, score; tab-separated)")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if not line.strip():
                continue
            try:
                query, document, score = fields[0].strip(), fields[1].strip(), int(float(fields[2]))
            except (IndexError, ValueError):
                if number == 1 and len(fields) >= 3:
                    continue  # a header (query-id / query_id, corpus-id / corpus_id, score), optional
                raise ValueError(f"{path}, line {number}: expected query-id, corpus-id and a number "
                                 f"separated by tabs") from None
            if score > 0:  # a zero judges a document not relevant: it adds nothing to any metric
                qrels.setdefault(query, {})[document] = score
    if not qrels:
        raise ValueError(f"{path} judges no document relevant to any query")
    return qrels


def beir_documents(dataset: BeirDataset) -> list[Document]:
    """Each corpus entry as a Document named by its id, the title leading the text as BEIR does."""
    return [document_from_text(doc_id, f"{title}\n\n{text}" if title else text, title=title or None)
            for doc_id, (title, text) in dataset.corpus.items()]
