"""Which questions a training step draws (training/train_reader.py --explanation-share)."""

from __future__ import annotations

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
