"""Questions about the documents themselves ("What is this article about?") are answered with how
each document opens, quoted verbatim: never its headline, caption, credit or date."""

from __future__ import annotations

import pytest

from qa.ingest.documents import document_from_text
from qa.pipeline import load
from qa.read.overview import asks_for_overview, opening

ARTICLE = """Why the river town is moving uphill – and what it costs

A crane lifts a prefabricated house onto a new foundation in Harwick, where the first streets are being moved.

Jo Lindqvist/Harwick Herald

May 5, 2026

The town of Harwick voted on Tuesday to move 140 homes away from the river. The vote was 9 to 2. Work starts in June. Nobody knows when it ends.

Why would a town move itself?

The river has flooded Harwick four times since 2010.
"""

FAQ = """Allotment rules

These rules apply to every plot in the Greenway gardens.

How do I apply for a plot?

Write to the garden office.
"""


@pytest.mark.parametrize("question", [
    "What is this article about?", "what's the document about", "What are these articles about?",
    "What is it about?", "So what is this all about?", "Summarize the document.", "Can you summarise it please?",
    "Give me a short summary", "What's the main point of the article?", "What is the gist?", "tl;dr",
])
def test_questions_about_the_documents_themselves_are_recognised(question):
    assert asks_for_overview(question)


@pytest.mark.parametrize("question", [
    "What is the article about the fire saying?", "What is the report about inflation?",
    "Summarize the findings on inflation", "What is the main point of the mayor's speech?",
    "What are these troops about to do?", "Why is North Korea sending troops?",
])
def test_questions_about_something_in_them_are_not(question):
    assert not asks_for_overview(question)


def test_a_document_opens_after_its_headline_caption_credit_and_date():
    article = document_from_text("article.txt", ARTICLE)
    start, end = opening(article)
    # Three sentences at most, of the first paragraph that states something after the front matter.
    assert article.text[start:end] == ("The town of Harwick voted on Tuesday to move 140 homes away from the river. "
                                       "The vote was 9 to 2. Work starts in June.")
    assert opening(article, max_sentences=1) == (start, article.text.index(" The vote"))


def test_a_question_heading_does_not_end_the_front_matter():
    faq = document_from_text("faq.txt", FAQ)
    start, end = opening(faq)
    assert faq.text[start:end] == "These rules apply to every plot in the Greenway gardens."


def test_a_document_of_labels_only_has_no_opening():
    assert opening(document_from_text("labels.txt", "Title\n\nBy Jo\n\nMay 5, 2026\n")) is None


@pytest.fixture(scope="module")
def pipeline(local_index, settings, model):
    return load(settings, model)


def test_what_the_shipped_article_is_about_quotes_its_opening_exactly(pipeline):
    answer = pipeline.ask("What is this article about?")
    assert not answer.abstained and answer.quotes
    first = answer.citations[0]
    document = pipeline.retriever.backend.document_by_source(first.source)
    assert document.text[first.start:first.end] == first.quote == answer.quotes[0].quote
    assert first.passage_start <= first.start < first.end <= first.passage_end
    assert first.answer_start == first.answer_end == first.start  # no words marked as "the answer"
    # Not the headline, the photo caption, the credit or the date that come before it.
    assert first.quote.startswith(("North Korea is sending troops", "In October 2024, North Korea sent troops"))
    assert len({c.source for c in answer.citations}) == len(answer.citations)  # one opening a document


def test_after_a_question_it_is_about_the_documents_of_the_conversation(pipeline):
    first = pipeline.ask("What did Pentagon Press Secretary Pat Ryder say?")
    answer = pipeline.ask("What is it about?", previous=first)
    assert not answer.abstained
    assert answer.citations[0].source == first.citations[0].source
    assert answer.quotes[0].quote.startswith("In October 2024, North Korea sent troops to Russia")
