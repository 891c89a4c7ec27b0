from hypothesis import given, settings as hsettings, strategies as st

from qa.config import Settings
from qa.ingest.chunking import chunk_document, chunk_windows, document_sentences, sentence_spans
from qa.ingest.documents import document_from_text, read_folder


def _check(document, chunks):
    for chunk in chunks:
        assert document.text[chunk.start:chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
    # Complete: every non-space character lies inside some chunk.
    covered = [False] * len(document.text)
    for chunk in chunks:
        covered[chunk.start:chunk.end] = [True] * (chunk.end - chunk.start)
    assert all(c or ch.isspace() for c, ch in zip(covered, document.text))


def test_offsets_exact_on_shipped_sources():
    from conftest import SHIPPED_SOURCES

    for document in read_folder(SHIPPED_SOURCES)[0]:
        for size in (200, 600, 1500):
            chunks = chunk_document(document, chunk_chars=size, overlap_sentences=1)
            _check(document, chunks)
            # Every chunk ends where a sentence ends (a sentence longer than the target is cut).
            ends = {e for s, e, _ in document_sentences(document, size)}
            assert all(c.end in ends for c in chunks)
            assert all(len(c.text) <= size for c in chunks)
        whole_sentences = {e for s, e in sentence_spans(document.text)}
        assert all(c.end in whole_sentences for c in chunk_document(document, chunk_chars=1500))


def test_abbreviations_and_initials_do_not_end_sentences():
    text = ("On Oct. 23, 2024, Spokesman John F. Kirby spoke. Maj. Gen. Pat Ryder agreed with the U.S. "
            "view. Then he left!")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "On Oct. 23, 2024, Spokesman John F. Kirby spoke.",
        "Maj. Gen. Pat Ryder agreed with the U.S. view.",
        "Then he left!"]


def test_a_typed_question_may_open_its_sentences_in_lower_case():
    typed = "we live in St. Ives, approx. 40 miles away. do we still pay? it says e.g. the ferry."
    assert [typed[s:e] for s, e in sentence_spans(typed, typed=True)] == [
        "we live in St. Ives, approx. 40 miles away.", "do we still pay?", "it says e.g. the ferry."]
    assert len(sentence_spans(typed)) == 1  # in a document a lower-case word goes on the sentence


def test_neighbouring_chunks_share_one_sentence():
    text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40))
    chunks = chunk_document(document_from_text("a.txt", text), chunk_chars=200, overlap_sentences=1)
    assert len(chunks) > 3
    for before, after in zip(chunks, chunks[1:]):
        last_sentence = sentence_spans(text, before.start, before.end)[-1]
        assert after.start == last_sentence[0]


def test_chunks_do_not_cross_paragraphs_once_half_full():
    paragraphs = ["Alpha " * 50 + "ends here.", "Beta " * 20 + "ends here."]
    document = document_from_text("p.txt", "\n\n".join(paragraphs))
    chunks = chunk_document(document, chunk_chars=600)
    assert [c.paragraph for c in chunks] == [1, 2]


def test_very_long_sentence_is_cut_at_spaces():
    document = document_from_text("long.txt", "word " * 5000)
    chunks = chunk_document(document, chunk_chars=300)
    _check(document, chunks)
    assert max(len(c.text) for c in chunks) <= 300


@hsettings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=3000), st.integers(min_value=50, max_value=800),
       st.integers(min_value=0, max_value=3))
def test_offsets_exact_and_complete_for_any_text(text, size, overlap):
    if not text.strip():
        return
    document = document_from_text("any.txt", text)
    _check(document, chunk_document(document, chunk_chars=size, overlap_sentences=overlap))


def _check_windows(document, chunk, windows, size):
    for window in windows:
        assert chunk.start <= window.start < window.end <= chunk.end
        assert document.text[window.start:window.end] == window.text == window.text.strip()
        assert len(window.text) <= size
    # Together they hold every non-space character of the chunk.
    covered = [False] * (chunk.end - chunk.start)
    for window in windows:
        covered[window.start - chunk.start:window.end - chunk.start] = [True] * (window.end - window.start)
    assert all(c or ch.isspace() for c, ch in zip(covered, chunk.text))


def test_windows_cut_a_chunk_into_whole_sentences_inside_it():
    from conftest import SHIPPED_SOURCES

    for document in read_folder(SHIPPED_SOURCES)[0]:
        chunks = chunk_document(document, chunk_chars=600)
        with_windows = 0
        for chunk in chunks:
            windows = chunk_windows(document, chunk, Settings(dense_windows=300))
            if len(chunk.text) <= 300:
                assert windows == []
                continue
            with_windows += 1
            assert len(windows) >= 2
            _check_windows(document, chunk, windows, 300)
            # Each ends where a sentence does, or inside one too long for a window (cut at a space).
            spans = sentence_spans(document.text, chunk.start, chunk.end)
            assert all(any(e == w.end or s < w.end < e and e - s > 300 for s, e in spans) for w in windows)
            assert chunk_windows(document, chunk, Settings(dense_windows=0)) == []
        assert with_windows > len(chunks) // 2


@hsettings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=2000), st.integers(min_value=100, max_value=800),
       st.integers(min_value=50, max_value=400))
def test_windows_exact_and_complete_for_any_text(text, size, window):
    if not text.strip():
        return
    document = document_from_text("any.txt", text)
    for chunk in chunk_document(document, chunk_chars=size):
        windows = chunk_windows(document, chunk, Settings(dense_windows=window))
        if windows:
            _check_windows(document, chunk, windows, window)


def test_indexed_text_names_title_and_heading_without_touching_the_chunk():
    from dataclasses import replace

    from qa.ingest.chunking import Chunk, indexed_text as indexed

    def indexed_text(document, chunk, context=True):
        return indexed(document, chunk, context)

    text = "Troops in Russia\n\nThey arrived in October.\n\nHow many?\n\nAbout 12,000 soldiers."
    document = replace(document_from_text("a.txt", text, title="Troops in Russia"),
                       headings=((0, 16), (text.index("How"), text.index("How") + 9)))

    def chunk(words: str) -> Chunk:
        start = text.index(words)
        return Chunk("a.txt", start, start + len(words), words, document.paragraph_at(start))

    opening, arrived, how, about = (chunk(w) for w in ("Troops in Russia\n\nThey arrived in October.",
                                                       "They arrived in October.", "How many?",
                                                       "About 12,000 soldiers."))
    # A chunk that starts with its title is left as it is; a heading equal to the title is named once.
    assert indexed_text(document, opening) == opening.text
    assert indexed_text(document, arrived) == "Troops in Russia\nThey arrived in October."
    assert indexed_text(document, how) == "Troops in Russia\nHow many?"
    assert indexed_text(document, about) == "Troops in Russia — How many?\nAbout 12,000 soldiers."
    assert indexed_text(document, about, context=False) == about.text
    assert indexed_text(replace(document, headings=()), about) == "Troops in Russia\nAbout 12,000 soldiers."
    assert indexed_text(replace(document, title=""), about) == "How many?\nAbout 12,000 soldiers."


def test_a_markdown_chunk_opening_with_its_heading_is_under_that_heading(tmp_path):
    from qa.ingest.chunking import Chunk, indexed_text
    from qa.ingest.documents import read_document

    path = tmp_path / "notes.md"
    path.write_text("# Field notes\n\nThe first part is long enough to fill a chunk of its own here.\n\n"
                    "## Numbers\n\nAbout 12,000 soldiers arrived.\n", encoding="utf-8")
    document = read_document(path)
    start = document.text.index("## Numbers")
    numbers = Chunk("notes.md", start, len(document.text) - 1, document.text[start:-1], 3)
    assert numbers.text == "## Numbers\n\nAbout 12,000 soldiers arrived."
    # Under "Numbers", which it opens with, not under "Field notes", the heading before it.
    assert indexed_text(document, numbers, context=True) == "Field notes\n## Numbers\n\nAbout 12,000 soldiers arrived."
    start = document.text.index("About")
    about = Chunk("notes.md", start, start + 30, document.text[start:start + 30], 4)
    assert about.text == "About 12,000 soldiers arrived."
    assert indexed_text(document, about, context=False) == about.text
    assert indexed_text(document, about, context=True) == "Field notes — Numbers\nAbout 12,000 soldiers arrived."


def test_chunk_context_leaves_quotes_and_offsets_exact_on_the_dev_set(model, tmp_path):
    """An index built with chunk context has the very chunks of one built without, and its
    answers to the development questions quote the documents exactly."""
    import json

    from conftest import DEV_SET, SHIPPED_SOURCES
    from qa.read.answer import answer_question
    from qa.ingest.chunking import indexed_text
    from qa.config import Settings
    from qa.pipeline import update
    from qa.retrieve import Retriever
    from qa.index.store import Index

    indexes = {}
    for context in (False, True):
        settings = Settings(index_dir=tmp_path / str(context), chunk_context=context)
        update(settings, model, SHIPPED_SOURCES, progress=False)
        indexes[context] = Index.open(settings.index_dir, settings)
    with_context = indexes[True]
    chunks = [with_context.chunk(n) for n in range(with_context.size)]
    assert chunks == [indexes[False].chunk(n) for n in range(indexes[False].size)]
    for chunk in chunks:
        document = with_context.document_by_source(chunk.source)
        assert document.text[chunk.start:chunk.end] == chunk.text
        assert indexed_text(document, chunk, context=True).endswith("\n" + chunk.text) \
            or chunk.text.startswith(document.title)

    retriever = Retriever(with_context, model, Settings(chunk_context=True))
    questions = [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]
    cited = 0
    for question in questions:
        answer = answer_question(retriever, question["question"], "hybrid", 3)
        for c in answer.citations:
            text = with_context.document_by_source(c.source).text
            assert text[c.start:c.end] == c.quote and text[c.passage_start:c.passage_end] == c.passage
            assert text[c.answer_start:c.answer_end] == c.answer
            cited += 1
    assert cited >= 2 * len(questions)
