"""Extractive answers: the sentences of the retrieved passages that answer a question, cited."""

from __future__ import annotations

import unicodedata

from qa.config import Settings


class BadQuestion(ValueError):
    """A question that cannot be searched; the message says what is wrong."""


def check_question(question: str, settings: Settings) -> str:
    """The question with surrounding white space removed, or BadQuestion saying what is wrong."""
    if question is None or not question.strip():
        raise BadQuestion("The question is empty: type a question about your documents.")
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" or ch in "\t\n" else " " for ch in question)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > settings.max_question_chars:
        raise BadQuestion(f"The question is {len(cleaned):,} characters long; ask in at most "
                          f"{settings.max_question_chars:,} characters.")
    if not any(ch.isalnum() for ch in cleaned):
        raise BadQuestion("The question has no words in it: ask with words, not only punctuation or symbols.")
    return cleaned
