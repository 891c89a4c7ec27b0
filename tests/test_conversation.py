"""Follow-up questions: the rules of qa.read.conversation on literals, then a conversation through the
pipeline on the shipped sources (real model, real index)."""

from __future__ import annotations

import json
import re

import pytest

from qa.read.conversation import MAX_CARRIED, is_follow_up, query_after, search_query
from qa.pipeline import load

TROOPS = "How many North Korean troops arrived in Russia's far east?"
ARRIVED = ("Some 3,000 North Korean troops arrived in Russia’s far east earlier this month courtesy of "
           "Russian naval transport ships, according to U.S. officials.")


@pytest.mark.parametrize("question", [
    "How many of them are in training?",           # a pronoun
    "What did he call the development?",
    "Who ratified it?",
    "What about Central Asian republics?",         # "what about …"
    "And how many are in training?",               # "and …"
    "how about China",
    "Why?",                                        # too short to search on alone
    "In which year?",
    "Is it true?",                                 # "it" with no clause after it refers back
    "Did it go to Russia's far east?",
    "Can it be used to reach the United States?",
    "After the summit, what did he say?",          # too little before the comma to point into
    "What could trigger an escalation spiral, according to him?",  # no question after the comma
])
def test_questions_that_lean_on_the_one_before_are_follow_ups(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    TROOPS,
    "Who confirmed that North Korea is sending troops to military training areas in Russia?",  # "that" joins
    "Which mercenary group nearly rebelled against Moscow in 2023?",
    "Is it true that North Korean soldiers are already fighting in Ukraine?",  # "it" props up a clause
    "Would it be possible to rent a second plot?",
    "How long does it take to get a plot?",
    "Is it allowed to park on the pavement outside my house?",
    "I bought a licence but broke my arm and can't fish this year. can I get my money back?",  # a time
    "I've just laid a new lawn. am I allowed to water it with a hose?",  # "it": the lead's lawn
    "my son is 14, does he need to pay for a licence?",  # "he": the asker's son, before the comma
    "i've got 3 books out that are due back in may, where do i take them",
])
def test_questions_that_stand_alone_are_not(question):
    assert not is_follow_up(question)


def test_a_follow_up_carries_the_names_of_the_question_and_answer_before_it_as_written():
    query = search_query("How many of them are in training?", TROOPS, ARRIVED)
    # The question first, unchanged; then names, not stems ("Korean", not "korean"), each once.
    assert query == "How many of them are in training? North Korean Russia Russian"


def test_words_the_follow_up_already_has_are_not_carried_again():
    query = search_query("What about the russian ships?", TROOPS, ARRIVED)
    assert query == "What about the russian ships? North Korean Russia"  # "Russian" is there already


def test_without_names_the_previous_questions_content_words_are_carried():
    assert (search_query("Who led it?", "which mercenary group came close to rebelling?", None)
            == "Who led it? mercenary group came close rebelling")


def test_a_follow_up_with_a_name_of_its_own_changes_the_subject():
    asked = "What did South Korea's president say?"
    answered = "The office of South Korean President Yoon Suk Yeol has said it will not sit idly by."
    # Pointing back at a thing: the previous question's names, not its answer's, which would drown "China".
    assert search_query("Has China said anything about it?", asked, answered) == (
        "Has China said anything about it? South Korea")
    # Not pointing back: the new name takes the old one's place; what was asked is carried.
    assert search_query("What about Ukraine's president?", asked, answered) == "What about Ukraine's president? say"
    # Pointing back at a person, often the one the answer named: carried as before.
    assert search_query("What did he say about Kursk?", "Who is Mark Rutte?", "Mark Rutte leads NATO.") == (
        "What did he say about Kursk? Mark Rutte NATO")
    # "It" is no person: a titled one asked about before is not what it points at, the topic is.
    assert search_query("What did President Yoon say about it?", "What did Gen. Flynn say the troops would gain?",
                        "Gen. Charles Flynn said so.") == "What did President Yoon say about it? troops gain"
    assert search_query("What did President Yoon say about it?", "What did Gen. Flynn say about the Kursk troops?",
                        "Gen. Charles Flynn said so.") == "What did President Yoon say about it? Kursk"
    # A person the previous answer gives a title is no "it" either: with nothing else to carry, nothing is.
    assert search_query("What is China's position on it?", "Who is Mike Turner?",
                        "Rep. Mike Turner, an Ohio Republican, said so.") == "What is China's position on it?"
    # A name the previous question holds is not new: "them" is still the North Korean troops.
    assert search_query("How many of them are in Russia?", TROOPS, ARRIVED) == (
        "How many of them are in Russia? North Korean Russian")


def test_asking_who_or_what_a_new_name_is_stands_alone_however_short():
    asked = "How many North Korean soldiers have died in Ukraine?"
    assert search_query("What is Kursk?", asked, "Some 3,000 North Korean troops arrived.") == "What is Kursk?"
    assert search_query("Who is Ra Mason?", "What did Taras Kuzio say?", "Kuzio said so.") == "Who is Ra Mason?"
    # typed in lower case, as people type: a name of words the conversation never used
    japan = "why is this a big deal for japan"
    assert search_query("who is mark rutte", japan, "Officials find it troubling.") == "who is mark rutte"
    assert search_query("who is the mayor", japan, "Officials find it troubling.") != "who is the mayor"
    assert search_query("who is he", japan, "Gen. Flynn said so.") == "who is he Gen Flynn"
    assert search_query("who is kuzio", "What did Taras Kuzio say?", "Kuzio said so.") != "who is kuzio"
    # a name typed in lower case, which the index holds and the reader's dictionary lacks
    china = "is china involved in this"
    index = lambda word: word.lower() in {"kursk", "happened", "china", "involved", "ukraine"}  # noqa: E731
    dictionary = lambda word: word.lower() in {"happened", "china", "involved"}  # noqa: E731
    assert search_query("what happened in kursk", china, "China said so.", index, None, dictionary) == "what happened in kursk"
    assert search_query("what happened in kursk", china, "China said so.") != "what happened in kursk"
    # a word the conversation used, or one of the dictionary, is no subject of its own
    assert search_query("what happened next", china, "China said so.", index, None, dictionary) != "what happened next"
    assert search_query("what happened in kursk", "why did ukraine go into kursk", "It did.", index, None,
                        dictionary) != "what happened in kursk"
    # a name the previous question holds, or a pronoun, still leans on it
    assert search_query("What is Kursk?", "Why did Ukraine go into Kursk?", "It did.") == "What is Kursk? Ukraine"
    assert search_query("What is his role?", "Who is Gen. Flynn?", "He commands.") == "What is his role? Gen Flynn"


def test_a_question_that_stands_alone_or_has_no_previous_one_is_searched_as_asked():
    assert search_query(TROOPS, "Who is Ra Mason?", "Ra Mason is a professor.") == TROOPS
    assert search_query("Who ratified it?", None, None) == "Who ratified it?"
    assert search_query("   ", TROOPS, ARRIVED) == "   "  # nothing to search: the answer step says so
    assert search_query("?!", TROOPS, ARRIVED) == "?!"


def test_words_the_index_does_not_hold_are_not_carried():
    known = lambda word: word != "Jinping"  # noqa: E731
    assert search_query("What did he say?", "Did Xi Jinping visit Russia?", None, known) == "What did he say? Xi Russia"


def test_at_most_a_dozen_words_are_carried():
    many = " ".join(f"Name{n}" for n in range(40))
    query = search_query("Who are they?", many, None)
    assert query.split()[3:] == [f"Name{n}" for n in range(MAX_CARRIED)]


def test_the_previous_answer_as_json_gives_its_search_and_first_quote():
    previous = {"question": "And how many are in training?", "searched_for": "And how many are in training? Kim",
                "answer": [{"quote": "Ahn Young-joon took the photo.", "citation": 1}], "error": None}
    # A chain of follow-ups keeps its subject: the previous *search* is carried, not only its question.
    assert query_after("Who is he?", previous) == "Who is he? Kim Ahn Young-joon"
    assert query_after("Who is he?", {**previous, "answer": []}) == "Who is he? Kim"
    assert query_after("Who is he?", {**previous, "error": "The question is empty"}) == "Who is he?"
    assert query_after("Who is he?", None) == "Who is he?"


def test_a_thing_or_group_pointed_back_at_carries_the_answer_words_names_not_the_whole_quote():
    quote = ("North Korea is sending troops to military training areas in Russia, U.S. Secretary of Defense "
             "Lloyd Austin confirmed this week.")
    marked = quote.index("military training areas")
    previous = {"question": "Is North Korea really sending soldiers to Russia?", "error": None,
                "answer": [{"quote": quote, "citation": 1}],
                "citations": [{"n": 1, "quote": quote, "start": 100, "answer_start": 100 + marked,
                               "answer_end": 100 + marked + len("military training areas")}]}
    # "them": the soldiers asked about, not the Secretary of Defense the sentence also names
    assert query_after("how many of them are there", previous) == "how many of them are there North Korea Russia"
    # "he" points at a person, most often one the answer names: the whole quote's names, as before
    assert query_after("What did he say?", previous).endswith("North Korea Russia Secretary Defense Lloyd Austin")
    # the answer itself may be what "it" is: "Which group …?" "Wagner …" "Who led it?"
    wagner = "The Wagner group, led by Yevgeny Prigozhin, came close to rebelling against Moscow."
    asked = {"question": "Which mercenary group nearly rebelled against Moscow?", "error": None,
             "answer": [{"quote": wagner, "citation": 1}],
             "citations": [{"n": 1, "quote": wagner, "start": 0, "answer_start": 4, "answer_end": 10}]}
    assert query_after("Who led it?", asked) == "Who led it? Moscow Wagner"
    # an answer exported before citations had offsets: the whole quote, as before
    assert query_after("Who led it?", {**asked, "citations": []}) == "Who led it? Moscow Wagner Yevgeny Prigozhin"


@pytest.fixture(scope="module")
def pipeline(local_index, settings, model):
    return load(settings, model)


def test_a_follow_up_is_answered_from_the_documents_with_the_conversations_names(pipeline):
    first = pipeline.ask(TROOPS)
    assert "3,000" in first.quotes[0].quote and "searched_for" not in first.as_dict()

    follow_up = pipeline.ask("How many of them are in training?", previous=first)
    assert follow_up.question == "How many of them are in training?"
    # "them" points at a group: the names of the question and of the answer's marked words ("Some
    # 3,000"), not the rest of the quote ("Russian naval transport ships")
    assert follow_up.as_dict()["searched_for"] == "How many of them are in training? North Korean Russia"
    assert follow_up.quotes[0].quote == ("South Korean intelligence agencies estimate that some 12,000 North "
                                         "Korean troops in total are in training.")
    assert follow_up.citations[0].source == "000_98eda58b59ac3056.txt"


def test_a_pronoun_alone_finds_nobody_but_after_its_question_finds_the_person(pipeline):
    first = pipeline.ask("Who called having North Korean troops on the ground very concerning?")
    assert "Charles Flynn" in first.quotes[0].quote

    assert pipeline.ask("What is his role?").abstained  # nobody to match "his" to
    follow_up = pipeline.ask("What is his role?", previous=first)
    assert not follow_up.abstained
    assert "top commander in the Pacific" in follow_up.quotes[0].quote
    assert "Charles Flynn" in follow_up.searched_for


def test_a_name_the_documents_never_mention_is_not_held_against_the_follow_up(pipeline):
    first = pipeline.ask("What did Xi Jinping say about the troops?")
    assert first.abstained and "never mention “Xi Jinping”" in first.message
    # Too short to search on alone, with a name of its own: the Pentagon takes Xi Jinping's place,
    # and the rest of what was asked is carried, never the name the documents do not hold
    follow_up = pipeline.ask("What did the Pentagon say?", previous=first)
    assert follow_up.searched_for == "What did the Pentagon say? troops"
    assert "Jinping" not in (follow_up.message or "") and "Pat Ryder" in follow_up.quotes[0].quote
    japan = pipeline.ask("Is Japan worried about this?", previous=first)
    assert japan.abstained and japan.message.endswith("they never mention “Japan”.")


def test_a_bad_follow_up_gets_the_usual_message_and_no_search(pipeline):
    first = pipeline.ask(TROOPS)
    answer = pipeline.ask("  ", previous=first)
    assert answer.error == "The question is empty: type a question about your documents."
    assert answer.searched_for is None and answer.citations == ()


def test_cli_ask_after_a_previous_question_says_what_it_searched_for(local_index, settings, capsys):
    from qa.app.cli import main

    index = ["--index", str(settings.index_dir), "-k", "2"]
    assert main(["ask", "How many of them are in training?", "--after", TROOPS, *index]) == 0
    out = capsys.readouterr().out
    assert out.startswith("“South Korean intelligence agencies estimate that ")
    assert re.search(r"\*\*[^*]*12,000[^*]*\*\*", out.splitlines()[0])  # the answer words, marked
    assert "(searched for: How many of them are in training? North Korean Russia)" in out

    assert main(["ask", "What is his role?", "--after", "Who called having North Korean troops on the ground "
                 "very concerning?", "--json", *index]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["question"] == "What is his role?" and "Charles Flynn" in data["searched_for"]
    assert "top commander in the Pacific" in data["answer"][0]["quote"]

    assert main(["ask", "What is his role?", "--json", *index]) == 0  # alone: nobody to match, nothing carried
    data = json.loads(capsys.readouterr().out)
    assert data["abstained"] and "searched_for" not in data


def test_a_follow_up_near_the_length_limit_is_still_answered(pipeline):
    first = pipeline.ask("Which mercenary group came close to rebelling against Moscow?")
    question = "Who led it? " + "Tell me please. " * 124  # 1,996 characters: the carried names pass 2,000
    answer = pipeline.ask(question, previous=first)
    assert answer.error is None and len(answer.searched_for) > 2000
    assert answer.question == " ".join(question.split())
