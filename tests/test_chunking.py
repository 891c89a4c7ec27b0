from hypothesis import given, settings as hsettings, strategies as st

from qa.chunking import chunk_document, document_sentences, sentence_spans
from qa.documents import document_from_text, read_folder


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
            chunks = chunk_document(document, size, overlap_sentences=1)
            _check(document, chunks)
            # Every chunk ends where a sentence ends (a sentence longer than the target is cut).
            ends = {e for s, e, _ in document_sentences(document, size)}
            assert all(c.end in ends for c in chunks)
            assert all(len(c.text) <= size for c in chunks)
        whole_sentences = {e for s, e in sentence_spans(document.text)}
        assert all(c.end in whole_sentences for c in chunk_document(document, 1500))


def test_abbreviations_and_initials_do_not_end_sentences():
    text = ("On Oct. 23, 2024, Spokesman John F. Kirby spoke. Maj. Gen. Pat Ryder agreed with the U.S. "
            "view. Then he left!")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "On Oct. 23, 2024, Spokesman John F. Kirby spoke.",
        "Maj. Gen. Pat Ryder agreed with the U.S. view.",
        "Then he left!"]


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
    _check(document, chunk_document(document, size, overlap))
