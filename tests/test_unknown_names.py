"""Names the index never holds (qa.read.unknown_names): looked up word by word, forgiven when a
passage read spells them closely."""

from __future__ import annotations

import pytest

from qa.read.unknown_names import fold, names_not_in, unknown_names

INDEX = {"library", "riverside", "helen", "marsh", "gruyères", "portuguese", "yen", "who", "did"}
PASSAGES = ["The Riverside Library was designed by Helen Marsh. It wasn't a day too soon.", "Cheese from Gruyères; Portuguese words.",
            "Ng Yen Yen said so."]


def known(word: str) -> bool:
    return word.lower() in INDEX


@pytest.mark.parametrize("question, missing", [
    ("Where did the Kadamba dynasty originate?", ["Kadamba"]),
    ("As of 2000, how many people lived in the Plano Piloto?", ["Plano Piloto"]),
    ("Who designed the Riverside Library?", []),
    # spelt a little differently from a word of the passages read: not missing
    ("How many Portugese words are there?", []),
    ("What cheese comes from Gruyeres?", []),
    ("When did Ng YenYen say so?", []),
    # a short name a letter away from a word is another name: "Hay Wain" is not "day wasn't"
    ("Who painted The Hay Wain?", ["Hay Wain"]),
    ("If I've got a library card, can I borrow?", []),  # no name: "I've" is "I have"
    ("Did Helen Marsh design the Kadamba Library?", ["Kadamba Library"]),
    ("Who ran the Kadamba's library?", ["Kadamba"]),
    # a title is no name, and its abbreviation is often in no document: "Mr" is not looked up
    ("What did Mr. Marsh design?", []),
    ("What did Dr Kadamba design?", ["Dr Kadamba"]),
    # the first word, words after a sentence's end or a quotation mark, stop words, and lower case
    ("Kadamba? Where is it?", []),
    ("what did the kadamba dynasty build?", []),
    ("Who Did It?", []),
    ("What Is The Capital Of Kadamba?", ["Capital Of Kadamba"]),  # title case: every word capitalised, here each a stop word
])
def test_names_missing_from_the_index_and_the_passages(question, missing):
    assert unknown_names(question, known, PASSAGES) == missing


def test_passages_are_read_only_when_a_word_is_not_in_the_index():
    def passages():
        raise AssertionError("read")
        yield ""

    assert unknown_names("Who designed the Riverside Library?", known, passages()) == []


def test_fold_drops_accents_and_case():
    assert fold("Gruyères") == fold("GRUYERES") == "gruyeres"


def test_a_name_spelt_a_little_differently_is_respelt_as_the_passages_write_it():
    from qa.read.unknown_names import check_names, respell

    missing, respelt = check_names("How many Portugese words did Ng YenYen use in Gruyeres?", known, PASSAGES)
    # An accent is not a respelling, nor two words run together; a changed letter is.
    assert missing == [] and respelt == {"Portugese": "Portuguese"}
    assert respell("Portugese words, not Portugeses", respelt) == "Portuguese words, not Portugeses"
    assert check_names("Is the MARSHS report out?", known, PASSAGES) == ([], {})  # an acronym is not respelt
    assert check_names("Is the HELN report out?", known, PASSAGES) == (["HELN"], {})  # nor a short word


def test_at_most_three_missing_names_are_looked_for():
    question = "Did " + " and ".join(f"Kadamba{letter}" for letter in "ABCDEFGH") + " meet?"
    assert unknown_names(question, known, PASSAGES) == ["KadambaA", "KadambaB", "KadambaC"]


def test_a_common_word_typed_wrong_is_respelt_as_the_passages_write_it():
    from qa.read.unknown_names import misspelt_words

    passages = PASSAGES + ["The library levy is £2 a night; the lease runs for a year."]
    index = INDEX | {"levy", "lease", "night"}
    dictionary = {"lease", "least", "night", "words"}  # words the reader's word pieces hold whole
    respelt = misspelt_words("whats the libary levvy, doesnt the leese say? Is the Libary open at nite?",
                             lambda word: word.lower() in index, passages, lambda word: word in dictionary)
    # Contractions get their apostrophe; a capitalised word is check_names's; "nite" is too short.
    assert respelt == {"whats": "what's", "libary": "library", "levvy": "levy", "doesnt": "doesn't", "leese": "lease"}
    # A word of the dictionary is not a typo, even when the index lacks it and a passage word is near.
    assert misspelt_words("what is the least rent", lambda word: word in index, passages,
                          lambda word: word in dictionary) == {}
    # nor another ending of a passage's word
    assert misspelt_words("are the nights long", lambda word: word in index, passages, lambda word: False) == {}


DOCUMENT = ("Founded in Oslo in 1905, the Nordic Shipping Company carries timber from Norway to Brazil. "
            "Its chairman, Ingrid Halvorsen, joined NYC's port board in 2019.")


@pytest.mark.parametrize("question, absent", [
    ("What does the Nordic Shipping Company carry?", []),
    # Another company, held elsewhere in the index, is never named in this document.
    ("What does the Dell company carry to Brazil?", ["Dell"]),
    ("When did Ingrid Halvorsen join Tesla's board?", ["Tesla"]),
    # Acronyms, a word opening the same way and a people's name for their country count as held.
    ("When did the chairman join the NYC port board?", []),
    ("Which Brazilian port does the company sail to?", []),
    ("What does the Norwegian company carry?", []),
    ("What does the Swedish company carry?", ["Swedish"]),
    # A name a letter away from the document's spelling is a typo, not another name.
    ("When did Ingrid Halvorson join the port board?", []),
])
def test_names_a_quoted_document_never_holds(question, absent):
    assert names_not_in(question, DOCUMENT, [DOCUMENT]) == absent
