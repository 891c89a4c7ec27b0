"""Near misses by a qualifier: a year, number, ordinal, weekday, month or code the question names and
the passage does not, while the quote gives another; or an answer of a kind the quote lacks."""

import pytest

from qa.read.qualifiers import conflict, qualifiers

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("question, quote, context, reason", [
    ("How much did it cost to raise the wall in 2004?", "Raising the wall was priced at $130 million in 2023.", "",
     "gives another year, not “2004”"),
    ("When will the spillways at all 23 farms be ready?", "The spillways at the first eight farms will be ready by May.",
     "", "gives another number, not “23”"),
    ("How much did fifth-grade math scores fall?", "Math scores for eighth graders fell by 4 points.", "",
     "gives another ordinal, not “fifth”"),
    ("What time does the open morning on the first Sunday start?", "The open morning is on the first Saturday, "
     "10 am to noon.", "", "gives another day, not “Sunday”"),
    ("When was policy HCT-04 approved?", "Policy HCT-07 was approved on 11 June 2024.", "",
     "gives another reference, not “HCT-04”"),
    ("What is the phone number of the plot secretary?", "Email the plot secretary at plots@example.org.", "",
     "gives no phone number"),
    ("How much is the release fee at the pound?", "You must pay the release fee before you collect your car.", "",
     "gives no amount"),
])
def test_a_changed_qualifier_or_a_missing_kind_is_a_conflict(question, quote, context, reason):
    assert conflict(question, quote, context) == reason


@pytest.mark.parametrize("question, quote, context", [
    # The qualifier is in the words before the quote, its heading or its title.
    ("How much did the 2004 rebuild cost?", "It cost $40 million, twice the 1990 estimate.", "The wall was rebuilt in 2004."),
    # Idiom, not a qualifier: number words and "first" in a question.
    ("How far can an e-bike go on one charge?", "A fully charged e-bike has a range of about 50 kilometres.", ""),
    ("What century did the Spaniards first introduce writing?", "Spaniards introduced writing in the 16th century.", ""),
    # A decade holds many years; a number matches its rounded form.
    ("Who discovered the electron in the 1890s?", "J. J. Thomson discovered it in 1897.", ""),
    ("Who raised $6 million on the anniversary?", "Ron Paul raised $6.04 million in one day.", ""),
    # An answer of the asked kind.
    ("What is the phone number of the adjudicator?", "Phone 01632 960 418, Monday to Friday.", ""),
    ("How much money does merchandising generate?", "It generates several million dollars a year.", ""),
    ("What time of year is the festival held?", "It is held in spring.", ""),
    ("In what year did Tiberius conquer the Alps?", "In 15 BC, Tiberius conquered the Alps.", ""),
    # Nothing of the kind in the quote to conflict with: not a near miss by qualifier.
    ("What happened in 1947?", "The river flooded the old town.", ""),
])
def test_matching_or_absent_qualifiers_are_no_conflict(question, quote, context):
    assert conflict(question, quote, context) is None


def test_qualifiers_reads_codes_ordinals_decades_and_hyphenated_words():
    found = qualifiers("The fifth-grade class of 2004 met on Sunday, the 14th, at HCT-04 in the 1990s.")
    assert found == {("ordinal", "5"), ("year", "2004"), ("day", "sunday"), ("ordinal", "14"), ("code", "hct04")}
