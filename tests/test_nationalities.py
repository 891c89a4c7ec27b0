"""Near misses by nationality: the country that qualifies what is asked for against the country
named around the answer the reader marked (qa.read.nationalities)."""

import pytest

from qa.read.nationalities import asked_country, country_conflict, mentions

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("question, asked", [
    ("Which French general led the attack?", ("france", "French")),
    ("How many North Korean soldiers have been killed?", ("north-korea", "North Korean")),
    ("Who is Russia's defense minister?", ("russia", "Russia's")),
    ("who's the US ambassador", ("united-states", "US")),
    ("What Iranian film festival was created in 1973?", ("iran", "Iranian")),
    # Not qualifying what is asked, or a language rather than a people.
    ("Why did Russia invade Ukraine?", None),
    ("What did the French president say?", None),
    ("What French word means a small shop?", None),
    ("Which of us is the oldest?", None),
])
def test_the_country_right_after_the_question_word_is_asked(question, asked):
    assert asked_country(question) == asked


def test_us_the_pronoun_is_no_country_and_longer_names_come_first():
    assert mentions("Tell us what you saw") == []
    assert [key for *_, key in mentions("North Korean troops met South Koreans")] == \
        ["north-korea", "south-korea"]
    assert [key for *_, key in mentions("Latin America and the U.S. Army’s")] == ["latin-america", "united-states"]


def _marked(quote: str, answer: str) -> tuple[int, int]:
    start = quote.index(answer)
    return start, start + len(answer)


@pytest.mark.parametrize("question, quote, answer, clash", [
    ("Which French general led the attack?", "The German general Erich Ludendorff led the attack at dawn.",
     "Erich Ludendorff", True),
    ("Who is Russia's defense minister?", "US Secretary of Defense Lloyd Austin said so on Monday.",
     "Lloyd Austin", True),
    ("How many North Korean soldiers were wounded?", "Some 600,000 Russians have been killed or wounded.",
     "Some 600,000", True),
    # The country asked about is there, by another of its names, or no country is named near the answer.
    ("How many North Korean troops are in training?", "Some 12,000 North Korean troops are in training, Seoul says.",
     "Some 12,000", False),
    ("Who is the U.S. Army's top commander?", "Gen. Charles Flynn, the U.S. Army’s top commander, said so.",
     "Gen. Charles Flynn", False),
    ("Which American city hosted it?", "It was held in Boston, the capital of Massachusetts.", "Boston", False),
    # Far from the answer, another country says nothing about whose the answer is.
    ("Which French general led the attack?", "General Foch led the attack at dawn, after the long German "
     "bombardment of the lines had ended.", "General Foch", False),
])
def test_another_country_around_the_answer_is_a_conflict(question, quote, answer, clash):
    reason = country_conflict(question, quote, *_marked(quote, answer))
    assert bool(reason) == clash
    if clash:
        assert reason.startswith("is about another country than “")
