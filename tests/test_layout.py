"""Lines that label, questions the text asks, and the section a question heading opens: none is
ever quoted as an answer, and the text under a matching question is (issue 31)."""

from __future__ import annotations

import pytest

from qa.read.answer import answer_question, asks_beyond_facts, asks_for_explanation
from qa.config import Settings
from qa.ingest.documents import document_from_text
from qa.read.layout import (echoes_question, is_aside, is_caption, is_label_line, is_non_answer, is_question,
                             question_parts, section_question)
from qa.pipeline import load, update

ARTICLE = """Why the river town is moving uphill – and what it costs

A crane lifts a prefabricated house onto a new foundation in Harwick, May 3, 2026.

Jo Lindqvist/Harwick Herald

May 5, 2026

The town of Harwick voted on Tuesday to move 140 homes away from the river.

Why would a town move itself?

The river has flooded Harwick four times since 2010. Insurers stopped covering homes in the lowest streets last year. Moving the homes costs less than rebuilding them after every flood.

Read more: The best bakeries of the valley

What happens to the empty land?

It will become a park that the river is allowed to flood.
"""


@pytest.fixture(scope="module")
def article():
    return document_from_text("article.txt", ARTICLE)


def lines(document, test):
    return [line for line in document.text.split("\n") if line.strip()
            if test(document, *(lambda s: (s, s + len(line)))(document.text.index(line)))]


def test_titles_credits_dates_and_questions_are_non_answers(article):
    non_answers = lines(article, is_non_answer)
    assert non_answers == [
        "Why the river town is moving uphill – and what it costs",
        "A crane lifts a prefabricated house onto a new foundation in Harwick, May 3, 2026.",  # a photo's caption
        "Jo Lindqvist/Harwick Herald",
        "May 5, 2026", "Why would a town move itself?", "Read more: The best bakeries of the valley",
        "What happens to the empty land?"]


def test_statements_tables_and_list_items_are_not_labels():
    text = "Opening hours | 9 to 5\n- Water the beds daily\nThe garden opens at nine.\nShort line"
    doc = document_from_text("t.txt", text)
    found = {line: is_label_line(doc, doc.text.index(line), doc.text.index(line) + len(line))
             for line in text.split("\n")}
    assert found == {"Opening hours | 9 to 5": False, "- Water the beds daily": False,
                     "The garden opens at nine.": False, "Short line": True}
    assert is_question("Is it open?”") and not is_question("He asked why.")
    # The lines of a hard-wrapped paragraph are not labels, however short.
    wrapped = document_from_text("w.md", "Intro.\n\nThe new bridge could bring twice as many visitors\n"
                                         "because coaches could cross the river.\n")
    line = "The new bridge could bring twice as many visitors"
    assert not is_label_line(wrapped, wrapped.text.index(line), wrapped.text.index(line) + len(line))


def test_a_question_heading_opens_the_section_under_it(article):
    text = article.text
    heading = section_question(article, text.index("Insurers stopped"))
    assert text[heading[0]:heading[1]] == "Why would a town move itself?"
    # A label that is not a question ends the section: the teaser line here.
    assert section_question(article, text.index("The town of Harwick voted")) is None
    faq = document_from_text("faq.txt", "Q: Can I bring my dog?\nA: Dogs on a lead are welcome.\n\n"
                                        "Q: Is there parking?\nA: Twelve spaces behind the hall.")
    span = section_question(faq, faq.text.index("Twelve spaces"))
    assert faq.text[span[0]:span[1]] == "Q: Is there parking?"


@pytest.mark.parametrize("question, expected", [
    ("Why would a town move itself?", True), ("How does the scheme work?", True),
    ("What does 'managed retreat' mean?", True), ("What can residents do?", True),
    ("How many homes will move?", False), ("Who took the photo?", False), ("When was the vote?", False),
    # why or how opening a later clause, as people type
    ("Day trippers leave most of the rubbish, so why dont they have to pay the levy?", True),
    ("my landlord is fine with pets so why do you need it in writing", True),
    ("my friend wasnt allowed into the spin class, why", True),
    ("Along with the Thames, how many rivers flow through it?", False),
])
def test_explanations_are_told_from_factoid_questions(question, expected):
    assert asks_for_explanation(question) is expected


def indexed(tmp_path_factory, model, name: str, text: str):
    """A retriever over one document `name` holding `text`, indexed for real."""
    folder = tmp_path_factory.mktemp(name.split(".")[0])
    (folder / "sources").mkdir()
    (folder / "sources" / name).write_text(text)
    settings = Settings(index_dir=folder / "index", sources_dir=folder / "sources")
    update(settings, model, progress=False)
    return load(settings, model).retriever


@pytest.fixture(scope="module")
def article_retriever(tmp_path_factory, model):
    return indexed(tmp_path_factory, model, "article.txt", ARTICLE)


@pytest.mark.parametrize("question", [
    "Why is Harwick moving homes away from the river?", "Why would a town move itself?",
    "What happens to the empty land?", "When was the photo of the crane taken?", "Who took the photo?",
])
def test_no_title_heading_question_or_credit_is_ever_quoted(article_retriever, question):
    answer = answer_question(article_retriever, question)
    document = article_retriever.backend.document_by_source("article.txt")
    for citation in answer.citations:
        assert document.text[citation.start:citation.end] == citation.quote
        assert not is_question(citation.quote), citation.quote
        assert not is_label_line(document, citation.start, citation.end), citation.quote


def test_a_why_answer_quotes_consecutive_sentences_exactly(article_retriever):
    answer = answer_question(article_retriever, "Why would a town move itself?")
    assert not answer.abstained
    first = answer.citations[0]
    document = article_retriever.backend.document_by_source("article.txt")
    assert first.quote.startswith("The river has flooded Harwick four times since 2010.")
    assert "Insurers stopped covering homes" in first.quote  # more than one sentence
    assert document.text[first.start:first.end] == first.quote
    assert first.start <= first.answer_start < first.answer_end <= first.end


def test_a_yes_no_answer_quotes_what_follows_too(article_retriever):
    """The sentence a yes-no question is about is often not its answer: the one after qualifies it."""
    answer = answer_question(article_retriever, "Do insurers still cover the homes in the lowest streets?")
    assert not answer.abstained
    first = answer.citations[0]
    document = article_retriever.backend.document_by_source("article.txt")
    assert "Insurers stopped covering homes" in first.quote
    assert "Moving the homes costs less" in first.quote  # the sentence after it, in one exact quote
    assert document.text[first.start:first.end] == first.quote


@pytest.mark.parametrize("question", [
    "Why would North Korea send troops to Russia?", "What could the United States do about it?",
    "What does this mean for the United States?", "Why did we write this?",
])
def test_shipped_headlines_and_question_subheadings_are_never_quoted(retriever, question):
    answer = answer_question(retriever, question)
    for citation in answer.citations:
        document = retriever.backend.document_by_source(citation.source)
        assert not is_non_answer(document, citation.start, citation.end), citation.quote
        assert citation.quote not in (document.title, "Why We Wrote This")


def test_a_long_headline_is_a_title_but_a_one_line_document_is_text():
    headline = "Why the " + "very " * 20 + "long river town is moving uphill – and what it costs"
    doc = document_from_text("a.txt", f"{headline}\n\nThe town voted to move.")
    assert is_non_answer(doc, 0, len(headline))
    prose = document_from_text("b.txt", "Bees dance to tell hive mates where the flowers are. They see blue.")
    assert not is_non_answer(prose, 0, len("Bees dance to tell hive mates where the flowers are."))


def test_a_sentence_the_question_repeats_is_not_an_answer(article_retriever):
    lead = "The town of Harwick voted on Tuesday to move 140 homes away from the river."
    assert echoes_question(f"{lead} Why would a town move itself?", lead)
    assert not echoes_question("How many homes will Harwick move?", lead)
    answer = answer_question(article_retriever, f"{lead} Why did they decide to do that?")
    assert all(c.quote != lead for c in answer.citations)


def test_after_a_lead_the_reader_reads_what_is_asked(article_retriever):
    from qa.read.answer import asked_part

    lead = "The town of Harwick voted on Tuesday to move 140 homes away from the river."
    assert asked_part(f"{lead} How many times has the river flooded since 2010?") == \
        "How many times has the river flooded since 2010?"
    assert asked_part(f"{lead} Why?") == f"{lead} Why?"
    # A question that says little without its lead is read with it: the lead is the asker's situation.
    for short in ("What can I do?", "What does that mean?", "What are my options?"):
        assert asked_part(f"{lead} {short}") == f"{lead} {short}"
    assert asked_part("How many homes will move?") == "How many homes will move?"
    # The asker's own situation is read with what is asked, however long that is; typed in lower
    # case, a question's sentences still split, so its kind comes from the last one.
    mine = "my dad is in the cottage hospital and I'm booked into a B&B nearby. do I have to pay the levy?"
    assert asked_part(mine) == mine and asks_beyond_facts(mine)
    assert asked_part("We moved here in May. How many times has the river flooded since 2010?").startswith("We")
    assert asked_part("Joseph I gave his minister more power. Who was his prime minister?") == \
        "Who was his prime minister?"  # a king's numeral is no first person
    answer = answer_question(article_retriever, f"{lead} How many times has the river flooded since 2010?")
    assert not answer.abstained and "four times since 2010" in answer.citations[0].quote


def test_a_heading_that_joins_questions_offers_each_of_them():
    heading = "What are the implications for the U.S. – and what might they do about it?"
    assert question_parts(heading) == [heading, "What are the implications for the U.S.", "what might they do about it?"]
    joined = "Why is the city paying farmers, and how will the money be spent?"
    assert question_parts(joined)[1:] == ["Why is the city paying farmers", "how will the money be spent?"]
    # A plain question, and "and" inside one question, stay whole; short pieces are phrases.
    assert question_parts("How much does a plot cost?") == ["How much does a plot cost?"]
    assert question_parts("Who can apply for a plot and a shed?") == ["Who can apply for a plot and a shed?"]
    assert question_parts("Why now – and why here?") == ["Why now – and why here?"]
    # A heading's markup is not what it asks.
    assert question_parts("## How do I give up my plot?") == ["How do I give up my plot?"]
    assert question_parts("Q: Is there parking?") == ["Is there parking?"]
    assert question_parts("**2. Can I bring my dog?**") == ["Can I bring my dog?"]


def test_the_paragraph_right_under_a_question_heading_is_also_read_after_it(article_retriever):
    from qa.read.answer import candidate_sentences, read_sentences, shared_reader

    question = "Why is the town moving?"
    hits = article_retriever.search(question, k=8)
    candidates = candidate_sentences(article_retriever, question, hits)
    headed = dict(zip(candidates.texts, candidates.headed))
    # Both sentences of the paragraph under "Why would a town move itself?" carry it; others do not.
    assert headed["Insurers stopped covering homes in the lowest streets last year."].startswith(
        "Why would a town move itself? The river has flooded")
    assert headed["The river has flooded Harwick four times since 2010."] == "Why would a town move itself? "
    assert headed["The town of Harwick voted on Tuesday to move 140 homes away from the river."] == ""
    # Read both ways, a sentence keeps the better reading: the heading can only add evidence.
    reader = shared_reader()
    plain = reader.select(question, candidates.texts, candidates.contexts, candidates.cosine,
                          candidates.overlap, candidates.ranks)
    scores = {(s.start, s.end): s.score for s in read_sentences(reader, article_retriever, question, hits)}
    for (_, start, end), reading in zip(candidates.spans, plain):
        if (start, end) in scores:
            assert scores[(start, end)] >= reading.score - 1e-9


@pytest.mark.parametrize("credit", ["Jo Lindqvist/Harwick Herald", "Ahn Young-joon/AP", "AP Photo/Ahn Young-joon",
                                    "Photo: Jo Lindqvist", "Getty Images"])
def test_a_line_right_before_a_photo_credit_is_a_caption_and_never_an_answer(credit):
    text = ARTICLE.replace("Jo Lindqvist/Harwick Herald", credit)
    document = document_from_text("article.txt", text)
    start = text.index("A crane lifts")
    end = text.index("\n", start)
    assert is_caption(document, start, end) and is_non_answer(document, start, end)
    statement = text.index("The town of Harwick voted")
    assert not is_caption(document, statement, text.index("\n", statement))


def test_front_matter_typed_line_under_line_is_never_an_answer():
    """Headline, caption, credit and date with no blank line between, as pasted from a news page."""
    block = ("Why the river town is moving uphill – and what it costs\n"
             "A crane lifts a prefabricated house onto a new foundation in Harwick, May 3, 2026.\n"
             "Jo Lindqvist/Harwick Herald\nPublished May 5, 2026\n")
    document = document_from_text("article.txt", block + ARTICLE[ARTICLE.index("\nThe town of Harwick"):])
    assert lines(document, is_non_answer)[:4] == block.splitlines()
    assert is_caption(document, 0 + block.index("A crane"), block.index(" 2026.\n") + 6)
    assert not is_non_answer(document, *(lambda s: (s, document.text.index("\n", s)))(
        document.text.index("The town of Harwick voted")))


@pytest.mark.parametrize("caption", [
    "A crane lifts a house onto its new foundation. Photo: Jo Lindqvist",
    "A crane lifts a house onto its new foundation. Photograph: Jo Lindqvist/Harwick Herald",
    "A crane lifts a house onto its new foundation. (Photo credit: Jo Lindqvist)",
])
def test_a_caption_ending_with_its_own_credit_is_never_an_answer(caption):
    for text in (f"Why the river town is moving uphill\n{caption}\nPublished May 5, 2026\n\nThe town voted.\n",
                 f"Why the river town is moving uphill\n\n{caption}\n\nThe town voted.\n"):
        document = document_from_text("article.txt", text)
        assert is_caption(document, text.index("A crane"), text.index("foundation.") + 11)
        assert not is_caption(document, text.index("The town voted"), len(text) - 1)
    said = "She showed us the photo: it was the old house.\n"
    assert not is_caption(document_from_text("a.txt", said), 0, len(said) - 1)


def test_a_hard_wrapped_opening_paragraph_is_not_front_matter():
    text = ("The town of Harwick voted on Tuesday to move\nits lowest streets away from the river\n"
            "after the fourth flood since 2010\n\nMore follows.\n")
    document = document_from_text("wrapped.txt", text)
    line = "its lowest streets away from the river"
    assert not is_non_answer(document, text.index(line), text.index(line) + len(line))


@pytest.mark.parametrize("text, label", [
    ("Why We Wrote This\nA small village has spent two years fighting a quarry.", True),
    ("The Big Picture\nSeaside towns are asking whether tourists should pay.", True),
    # A hard-wrapped sentence, a line that ends like a statement, a list under it, a blank line: no label.
    ("For almost sixty years the quarry\nHas been a quiet neighbour to Ashcombe.", False),
    ("He said:\nNothing at all.", False), ("Key Points\n- the first point", False),
])
def test_a_label_typed_above_its_text_is_never_an_answer(text, label):
    from qa.read.layout import is_label_above

    document = document_from_text("page.txt", f"Title of the page\n\n{text}\n")
    start = document.text.index(text)
    line = document.text.index("\n", start)
    assert is_label_above(document.text, start, line) is label
    assert is_non_answer(document, start, line) is label
    assert not is_label_above(f"Before it. {text}", 11, 11 + text.index("\n"))  # not at a line's start


@pytest.mark.parametrize("line", ["In popular culture / Cover versions", "DVD/Blu-ray releases", "Why We Wrote This"])
def test_a_paragraph_before_a_heading_with_a_slash_is_no_caption(line):
    text = (f"Title of the page\n\nLorre alleged this in his vanity cards, at the end of episodes.\n\n{line}\n\n"
            "More text follows here.\n")
    document = document_from_text("page.txt", text)
    start = text.index("Lorre")
    assert not is_caption(document, start, text.index("\n", start))


STORY = [  # a news story of over 400 words (MIN_ASIDE_DOCUMENT_WORDS), its paragraphs on one topic
    "The town of Harwick voted on Tuesday to move 140 homes away from the river, after four floods since 2010 "
    "left the lowest streets under water for weeks at a time.",
    "The river homes will be taken down by 2029, and the town will pay each family the value of its home as "
    "it stood before the first flood, not what the flooded house would sell for today.",
    "Insurers stopped covering homes in the lowest streets last year. Without cover, families could not sell, "
    "and banks would not lend on the houses, so the vote gave many of them their only way out.",
    "The new homes will be built on farmland above the town that the council bought in 2024. Each family may "
    "choose a plot, and the first streets are to be ready for families to move in by next autumn.",
    "Moving the homes costs less than rebuilding them after every flood, the council says. The last flood cost "
    "the town and its insurers more than the whole move will, and the river is rising faster each decade.",
    "Not every family wants to leave. Some have lived by the river for generations, and the older residents "
    "say the new streets are too far from the shops, the church and the station for people who do not drive.",
    "The council says a bus will run between the new streets and the town centre every twenty minutes, and "
    "that the empty land by the river will become a park that the river is allowed to flood.",
    "Engineers who studied the river for the council found that a higher wall would only move the water to the "
    "next town downstream, which had already said it would go to court to stop one being built.",
    "The move will be paid for by a national flood fund and by a loan that the town will repay over thirty "
    "years from a small charge on every council tax bill, about forty pounds a year for a typical home.",
    "Families who refuse to move will keep their homes, but the town will stop repairing the river road, and "
    "the council warns that after the next flood it may not be able to reach them for several days.",
    "Other river towns are watching closely. If Harwick can move its homes without leaving families poorer, "
    "the council leader says, the same plan could be used along the whole valley in the coming decades.",
]
TEASER = "A seaside bakery turns 200. Its owners are both under 25."
FINED = "Anyone caught building below the flood line can be fined up to £1,000."
TEASED = "\n\n".join(["Harwick moves its homes uphill", *STORY[:3], TEASER, *STORY[3:5], FINED, *STORY[5:]]) + "\n"


def test_a_teaser_for_another_article_is_an_aside_but_a_short_paragraph_of_the_story_is_not():
    document = document_from_text("teased.txt", TEASED)
    teaser = TEASED.index(TEASER)
    assert is_aside(document, teaser, TEASED.index(" Its owners"))
    assert is_non_answer(document, teaser, TEASED.index(" Its owners"))
    fined = TEASED.index(FINED)  # one sentence of the story, its words as new as a teaser's
    assert not is_aside(document, fined, fined + len(FINED))
    for paragraph in STORY:
        assert not is_aside(document, TEASED.index(paragraph), TEASED.index(paragraph) + len(paragraph))
    # In a short FAQ every paragraph's words are new; under a heading a paragraph answers it.
    faq = "# Bins\n\n## Why are bins late?\n\nThe lorry broke down. A new one comes in May.\n\nCrews start at 6 am. They end by noon.\n\nGarden waste costs £52.\n"
    short = document_from_text("faq.md", faq)
    for sentence in ("The lorry broke down.", "Crews start at 6 am."):
        assert not is_aside(short, faq.index(sentence), faq.index(sentence) + len(sentence))
    headed = TEASED.replace(TEASER, "Bakery news\n\n" + TEASER)
    assert not is_aside(document_from_text("headed.txt", headed), headed.index(TEASER), headed.index(" Its owners"))


def test_the_shipped_articles_teasers_are_never_quoted(retriever):
    """The shipped article carries two teasers for other stories between its paragraphs."""
    for question in ("What did Elon Musk say about the troops?", "Is there hope for peace in Gaza?"):
        answer = answer_question(retriever, question)
        assert all("Elon Musk is spending big" not in c.quote and "peace can look impossible" not in c.quote
                   for c in answer.citations), question


def test_the_shipped_articles_photo_caption_is_never_quoted(local_index, settings, model):
    answer = load(settings, model).ask("What is shown on the TV screen at Seoul Railway Station?")
    assert all("A TV screen shows file images" not in c.quote for c in answer.citations)


def test_a_sentence_opening_its_paragraph_by_pointing_back_is_read_after_the_paragraph_before():
    """"This is helpful politically for the Kremlin." means nothing alone: when a sentence opens its
    paragraph with a word that points back, the reader's context and its similarity to the question
    take in the paragraph before, unless that one is a heading, a label line or a question."""
    from qa.read.answer import context_start

    text = ("Why Russia wants the troops\n\nRussia gets a boost in forces from North Korea.\n\n"
            "This is helpful politically for the Kremlin. Within Russia there is agitation.\n\n"
            "The war goes on.\n\nWhy would North Korea do this?\n\nIt wants technology in return.\n")
    document = document_from_text("troops.txt", text)
    paragraph = lambda opening: next(s for s, _ in document.paragraphs if text.startswith(opening, s))  # noqa: E731
    helpful, boost = paragraph("This is helpful"), paragraph("Russia gets")
    assert context_start(document, helpful, helpful) == boost  # "This": the paragraph before
    within = text.index("Within Russia")
    assert context_start(document, within, helpful) == helpful  # not its paragraph's first sentence
    war = paragraph("The war goes on")
    assert context_start(document, war, war) == war  # points back at nothing
    technology = paragraph("It wants")
    assert context_start(document, technology, technology) == technology  # after a question heading: no


@pytest.mark.parametrize("sentence, about", [
    ("This guide explains who can register, what to bring and what it costs.", True),
    ("This page answers the questions our reception team hears most often.", True),
    ("These FAQs set out how to adopt a cat.", True),
    ("The following section describes the stages of an adoption.", True),
    # What a document says, not what it is for: answers.
    ("This policy applies to all sailings from 1 April.", False),
    ("This is why the council brought in the charge.", False),
    ("The report explains that the levy raised £1.14 million.", False),
])
def test_a_sentence_about_the_document_itself_is_told_apart(sentence, about):
    from qa.read.layout import describes_document

    assert describes_document(sentence) is about


GROUPS = """Group visits to the Halworth Museum

This page explains how to book a group visit, what it costs and how many adults to bring.

Why is the museum closing the steam hall?

The steam hall will close for the whole of next winter.

Its roof has leaked since the storms of 2024, and the engines inside have started to rust. Repairs cost £2.1 million.

How do we book a group visit?

Book online at least four weeks before your visit. We confirm every booking by email within two working days.

How many adults do we need to bring?

We ask schools to bring at least one adult for every:

- 5 pupils in nursery and reception classes;
- 10 pupils aged 5 to 11;
- 15 pupils aged 11 and over.

Adults counted in these ratios come in free.
"""


@pytest.fixture(scope="module")
def groups_retriever(tmp_path_factory, model):
    return indexed(tmp_path_factory, model, "groups.md", GROUPS)


@pytest.mark.parametrize("question", [
    "How do I book a group visit?", "how long does a booking take to confirm",
    "How many adults do we need to bring?",
])
def test_what_the_document_is_for_is_never_the_answer(groups_retriever, question):
    """"This page explains how to book …" shares the words of every question on its topic."""
    answer = answer_question(groups_retriever, question)
    assert answer.citations
    assert all("This page explains" not in c.quote for c in answer.citations)


def test_a_sentence_ending_in_a_colon_is_quoted_with_what_it_introduces(groups_retriever):
    answer = answer_question(groups_retriever, "How many adults do schools have to bring along?")
    first = answer.citations[0]
    document = groups_retriever.backend.document_by_source("groups.md")
    assert first.quote.startswith("We ask schools to bring at least one adult for every:")
    assert first.quote.endswith("15 pupils aged 11 and over.")  # the whole list, not the next paragraph
    assert document.text[first.start:first.end] == first.quote
    assert first.start <= first.answer_start <= first.answer_end <= first.end


def test_an_explanation_goes_on_into_the_next_paragraph_when_its_sentence_ends_one(groups_retriever):
    """News and FAQ paragraphs are often one sentence: the reason comes in the next paragraph."""
    from qa.read.answer import ScoredSentence, widened

    document = groups_retriever.backend.document_by_source("groups.md")
    hit = next(h for h in groups_retriever.search("steam hall roof engines rust", "hybrid", 5)
               if "The steam hall will close" in h.chunk.text and "Repairs cost" in h.chunk.text)
    start = document.text.index("The steam hall will close")
    end = document.text.index("\n", start)
    sentence = ScoredSentence(hit, start, end, 0.5, start, start)
    run = widened(sentence, groups_retriever, "Why is the steam hall closing?")
    assert document.text[run.start:run.end] == (
        "The steam hall will close for the whole of next winter.\n\n"
        "Its roof has leaked since the storms of 2024, and the engines inside have started to rust.")  # one of it
    # A factoid question's answer stays one sentence; a heading stops the run.
    assert widened(sentence, groups_retriever, "When will the steam hall close?") == sentence
    purpose = document.text.index("This page explains")
    end = document.text.index("\n", purpose)
    assert widened(ScoredSentence(hit, purpose, end, 0.5, purpose, purpose), groups_retriever,
                   "Why does the page explain it?").end == end


def test_a_number_of_the_question_before_is_not_held_against_a_follow_up(groups_retriever):
    """A follow-up carries the question before's words for search, numbers too when it names
    nothing; but a number the user typed only then is not what the follow-up asks about."""
    from qa.pipeline import answer_after

    before = {"question": "Do 15 pupils need a teacher?", "answer": []}
    follow_up = answer_after(groups_retriever, "And the steam hall, what will its repairs cost?", before)
    assert "15" in follow_up.searched_for
    assert not follow_up.abstained, follow_up.message
    assert "£2.1 million" in follow_up.quotes[0].quote
