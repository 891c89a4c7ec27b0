"""qa: answers from your own documents, quoted and cited.

    import qa

    pipeline = qa.load(qa.Settings())                          # model and index, loaded once
    answer = pipeline.ask("When did Russia invade Ukraine?")   # an Answer: quotes and citations
    hits = pipeline.search("Wagner mercenary group", k=3)      # ranked passages (Hit)
    report = qa.evaluate_question_set(pipeline.retriever, qa.load_question_set("questions.jsonl"))

`qa.update(settings, model)` brings the index up to date with the sources folder. Importing qa
loads neither torch nor Gradio: each name below is imported on first use.
"""

from __future__ import annotations

import importlib

# Public name → the module that holds it: the flow documents → chunks → index → passages → answer.
_API = {
    "Settings": "qa.config",
    "UserError": "qa.errors",
    "Document": "qa.ingest.documents",
    "read_document": "qa.ingest.documents",
    "Chunk": "qa.ingest.chunking",
    "chunk_document": "qa.ingest.chunking",
    "IndexUnusable": "qa.index.backend",
    "BuildReport": "qa.index.backend",
    "Pipeline": "qa.pipeline",
    "load": "qa.pipeline",
    "update": "qa.pipeline",
    "model_for": "qa.pipeline",
    "Retriever": "qa.retrieve",
    "Hit": "qa.retrieve",
    "Answer": "qa.read.answer",
    "answer_question": "qa.read.answer",
    "load_question_set": "qa.evaluation.evaluate",
    "evaluate_question_set": "qa.evaluation.evaluate",
    "evaluate_beir": "qa.evaluation.evaluate",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'qa' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
