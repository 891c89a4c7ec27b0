"""Which questions a training step draws (training/train_reader.py --explanation-share)."""

from __future__ import annotations

import random
import sys
from types import SimpleNamespace

from conftest import ROOT

sys.path.insert(0, str(ROOT / "training"))
import train_reader  # noqa: E402


def test_the_kinds_people_type_are_told_apart_from_factoid_questions():
    kinds = [train_reader.asks_beyond_facts(q) for q in (
        "Why did the train catch fire?", "How did the USGS rate the earthquake?",
        "Does the scientific community agree that prediction is possible?", "Is the Friday program free?",
        "What does ESC mean for graphical interfaces?", "How many people were killed?",
        "What year did the earthquake occur?", "Who founded the city?", "Isaac Newton was born where?")]
    assert kinds == [True, True, True, True, True, False, False, False, False]


def test_a_step_takes_its_share_from_the_kinds_in_turn_and_the_rest_from_the_pool():
    pool, kinds = list(range(100)), [f"why{i}" for i in range(5)]
    args = SimpleNamespace(questions_per_step=6, explanation_share=0.5)
    first, second = (train_reader.step_questions(pool, kinds, 10, step, args) for step in (0, 1))
    assert first == [10, 11, 12, "why0", "why1", "why2"]
    assert second == [16, 17, 18, "why3", "why4", "why0"]
    plain = SimpleNamespace(questions_per_step=6, explanation_share=0.0)
    assert train_reader.step_questions(pool, [], 10, 1, plain) == [16, 17, 18, 19, 20, 21]


def test_a_premise_is_the_answering_sentence_with_its_answer_and_lead_in_cut_off():
    text = "Hooper left the club in 1999 because the new owners cut his pay. He moved to Leeds."
    paragraph = train_reader.Paragraph(text, ((0, 64), (65, len(text))))
    answer = "the new owners cut his pay"
    start = text.index(answer)
    why = train_reader.Question(0, 0, "Why did Hooper leave the club?", 0, (start, start + len(answer)), answer)
    assert train_reader.premise_only(why, paragraph) == "Hooper left the club in 1999."
    # an answer inside its sentence, or one that would leave too few words, gives none
    year = text.index("1999")
    when = train_reader.Question(0, 0, "When did Hooper leave?", 0, (year, year + 4), "1999")
    leeds = text.index("Leeds")
    where = train_reader.Question(0, 0, "Where did he move?", 1, (leeds, leeds + 5), "Leeds")
    assert train_reader.premise_only(when, paragraph) is None
    assert train_reader.premise_only(where, paragraph) is None


def test_a_natural_set_gives_its_answering_sentences_and_never_one_as_a_negative(tmp_path):
    import json

    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "faq.md").write_text(
        "# Bins\n\n## Why are bins late?\n\nThe lorry broke down on Monday. A new one arrives in May.\n\n"
        "Crews start at 6 am. They finish by noon.\n\nGarden waste costs £52 a year.\n", encoding="utf-8")
    rows = [{"id": "a", "question": "why was my bin late", "kind": "why", "sources": ["faq.md"],
             "answers": ["The lorry broke down on Monday", "A new one arrives in May"]},
            {"id": "b", "question": "how much is the green bin in 2019", "kind": "near-miss",
             "sources": ["faq.md"], "answers": []},
            {"id": "c", "question": "who won the cup", "kind": "off-topic", "sources": [], "answers": []}]
    (tmp_path / "questions.jsonl").write_text("\n".join(map(json.dumps, rows)), encoding="utf-8")
    articles, questions = train_reader.load_natural([tmp_path], first_article=7)
    # the headings are not read: three paragraphs of statements
    assert [p.text for p in articles[0]][0] == "The lorry broke down on Monday. A new one arrives in May."
    assert len(articles[0]) == 3
    why, miss = questions  # the off-topic question has no document to be read against
    assert (why.article, why.paragraph, why.sentence, why.answer_text) == (7, 0, 0, "The lorry broke down on Monday")
    assert why.also == ((0, 1),)
    assert miss.sentence == -1 and miss.article == 7
    every = [None] * 7 + articles
    pairs = train_reader.natural_pairs(every, why, random.Random(0))
    assert [label for _, _, label, _ in pairs] == [1.0, 0.0, 0.0, 0.0, 0.0][:len(pairs)]
    assert "A new one arrives in May." not in [text for text, _, _, _ in pairs]  # it answers too
    assert all(label == 0.0 for _, _, label, _ in train_reader.natural_pairs(every, miss, random.Random(0)))


def test_a_step_takes_its_natural_share_last():
    pool, natural = list(range(100)), ["n0", "n1", "n2"]
    args = SimpleNamespace(questions_per_step=6, explanation_share=0.0, natural_share=0.34)
    assert train_reader.step_questions(pool, [], 10, 1, args, natural) == [16, 17, 18, 19, "n2", "n0"]
