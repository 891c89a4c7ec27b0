import json
import subprocess
import sys

import pytest

from conftest import DEV_SET
from qa.answer import NO_ANSWER, answer_question, answer_type
from qa.evaluate import contains_answer

QUESTIONS = [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def dev_answers(retriever):
    return {q["id"]: answer_question(retriever, q["question"]) for q in QUESTIONS}


@pytest.mark.parametrize("question", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_every_quote_is_verbatim_from_its_source(retriever, dev_answers, question):
    answer = dev_answers[question["id"]]
    for citation in answer.citations:
        text = retriever.backend.document_by_source(citation.source).text
        assert text[citation.start:citation.end] == citation.quote
        assert text[citation.passage_start:citation.passage_end] == citation.passage
        assert citation.passage_start <= citation.start < citation.end <= citation.passage_end
    for quote in answer.quotes:
        assert quote.quote == answer.citations[quote.citation - 1].quote
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_development_set_quality_bar(dev_answers):
    answerable = [q for q in QUESTIONS if q["answers"]]
    first = sum(contains_answer(dev_answers[q["id"]].citations[0].quote, q["answers"]) for q in answerable)
    assert first / len(answerable) >= 0.9
    for q in answerable:
        answer = dev_answers[q["id"]]
        assert not answer.abstained, q["question"]
        assert any(contains_answer(c.passage, q["answers"]) for c in answer.citations[:3]), q["question"]


def test_off_topic_questions_abstain_and_show_nearest_passages(dev_answers):
    for q in QUESTIONS:
        if not q["answers"]:
            answer = dev_answers[q["id"]]
            assert answer.abstained and answer.quotes == ()
            assert answer.text == NO_ANSWER
            assert answer.citations, "nearest passages are shown, marked as not an answer"


@pytest.mark.parametrize("question, message", [
    ("", "empty"), ("   \n\t ", "empty"), ("?!?! ... ---", "no words"),
    ("why " * 30_000, "characters long"),
])
def test_bad_questions_get_a_clear_message(retriever, question, message):
    answer = answer_question(retriever, question)
    assert answer.abstained and message in answer.error and answer.citations == ()


def test_control_characters_and_other_scripts_are_answered(retriever):
    assert not answer_question(retriever, "How many soldiers\x00 does Russia\x1b recruit each month?").error
    answer = answer_question(retriever, "Сколько солдат? 朝鲜军队在哪里?")
    assert answer.error is None and answer.abstained


def test_answer_types():
    assert answer_type("How many troops?") == "number"
    assert answer_type("When did it start?") == "date"
    assert answer_type("Who confirmed it?") == "person"
    assert answer_type("Why would they?") is None


def test_cli_json_shape(shipped_index, settings):
    result = subprocess.run([sys.executable, "-m", "qa.cli", "ask", "Which mercenary group nearly rebelled?",
                             "--index", str(settings.index_dir), "--json", "-k", "3"],
                            capture_output=True, text=True, check=True)
    data = json.loads(result.stdout)
    assert set(data) >= {"question", "abstained", "answer", "citations", "mode"}
    assert data["abstained"] is False and data["mode"] == "hybrid"
    assert set(data["answer"][0]) == {"quote", "citation"}
    assert set(data["citations"][0]) >= {"n", "source", "title", "paragraph", "page", "start", "end", "quote",
                                         "passage", "passage_start", "passage_end", "score"}
    assert "Wagner" in data["citations"][0]["quote"]


def test_cli_rejects_an_empty_question(shipped_index, settings):
    result = subprocess.run([sys.executable, "-m", "qa.cli", "ask", " ", "--index", str(settings.index_dir)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "empty" in result.stderr and "Traceback" not in result.stderr
