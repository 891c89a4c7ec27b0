"""Near misses by a qualifier: a year, number, ordinal, weekday, month or code the question names and
the passage does not, while the quote gives another; or an answer of a kind the quote lacks."""

import pytest

from qa.read.qualifiers import conflict, missing_name, missing_speaker, qualifiers

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
    # A range that does not hold the number, or a number with no bound, is still another number.
    ("The boat was 90 minutes late. How much will I get?", "| 30 to 59 minutes | 25% of the single fare |", "",
     "gives another number, not “90”"),
    ("Did 500 homes flood?", "Some 640 homes and 85 businesses were flooded.", "", "gives another number, not “500”"),
    ("Do parents get access to their children's accounts up to age 16?", "Parents have access for children under 11.",
     "", "gives another number, not “16”"),
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
    # A bound or a range answers for the numbers it covers: the asker's own situation is no near miss.
    ("I live 60 miles away from the centre. Who does the home visit?",
     "If you live more than 40 miles from the centre, a partner rescue near you will do the visit for us.", ""),
    ("My 15 year old is coming too. Does he have to pay?", "Children under 16 do not pay.", ""),
    ("Can I adopt at 25?", "You must be 21 or over and able to show proof of your address.", ""),
    ("My ferry was 20 minutes late. What do I get back?", "We do not pay when the delay was less than 30 minutes.", ""),
    ("The boat was 45 minutes late. How much will I get?", "| 30 to 59 minutes | 25% of the single fare |", ""),
])
def test_matching_or_absent_qualifiers_are_no_conflict(question, quote, context):
    assert conflict(question, quote, context) is None


def test_qualifiers_reads_codes_ordinals_decades_and_hyphenated_words():
    found = qualifiers("The fifth-grade class of 2004 met on Sunday, the 14th, at HCT-04 in the 1990s.")
    assert found == {("ordinal", "5"), ("year", "2004"), ("day", "sunday"), ("ordinal", "14"), ("code", "hct04")}


def test_a_year_before_the_quote_in_its_paragraph_dates_it():
    before = "In 2022 the river rose 40 centimetres above the top of the wall. "
    quote = "Some 640 homes were flooded, and the clean-up cost the city $112 million."
    assert conflict("How much did the clean-up after the 1978 flood cost?", quote, "", before) == \
        "gives another year, not “1978”"
    assert conflict("How much did the clean-up after the 2022 flood cost?", quote, "", before) is None
    # in the title or heading, another year does not date the quote: only its paragraph does
    assert conflict("How much did the clean-up after the 1978 flood cost?", quote, "Floods since 2022", "") is None


@pytest.mark.parametrize("question, passage, missing", [
    ("When did Mayor Vasquez-Doyle visit the spillway?", "Deputy Mayor Colm Brandt visited the spillway.",
     "Mayor Vasquez-Doyle"),
    ("Which general is Gen. Kim Yong-bok?", "Gen. Charles Flynn said the troops would learn.", "Gen. Kim Yong-bok"),
    ("When did Mayor Vasquez-Doyle visit the spillway?", "The spillway was visited by Ms. Vasquez-Doyle.", None),
    # a name is held by any of its words after the title, or a form of them
    ("What did Dr Martin Luther King Jr say?", "King spoke from the steps.", None),
    ("What did President Zelenskyy's office say?", "Zelenskyy said the troops were there.", None),
    # untitled names are left to the reader: passages name places and peoples otherwise ("US")
    ("How many members are on the NYC city council?", "The council has 51 members.", None),
    ("Why did the mayor visit?", "The deputy mayor visited.", None),
])
def test_a_titled_name_the_passage_never_holds_is_missing(question, passage, missing):
    assert missing_name(question, passage, "") == missing


@pytest.mark.parametrize("question, passage, missing", [
    ("What did the deputy council leader say about the lights?",
     "“Nobody goes into politics to turn the lights off,” says council leader Fiona Mallard.", "deputy council leader"),
    ("What did Japan's prime minister say about the troops?", "Officials in Kyiv released a video.",
     "Japan's prime minister"),
    # every word of the speaker is held somewhere in the passage, in any order or form
    ("What did the transport director say?", "said Harriet Oyelaran, the council's director of transport", None),
    ("what have economists said about the rate rise", "Tomas Brenner, chief economist, said the rise", None),
    ("What did the US defense secretary say?", "US Secretary of Defense Lloyd Austin stated", None),
    # a country is held in any of its forms
    ("What did the Japanese coast guard say?", "Japan's coast guard said the ship left.", None),
    # not a speaker: the words end before a say-verb, or they name anyone at all
    ("what did the transport director mean when she said they were running out of road", "", None),
    ("What did critics say about the plan?", "Opponents argued that it cost too much.", None),
    ("What did the article say about the plan?", "The plan costs £4 million.", None),
])
def test_a_speaker_the_passage_never_names_is_missing(question, passage, missing):
    assert missing_speaker(question, passage) == missing
