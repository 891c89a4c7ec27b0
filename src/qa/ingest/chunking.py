"""`Document` → `Chunk`s of whole sentences, with exact character offsets.

Invariant: `document.text[chunk.start:chunk.end] == chunk.text` for every chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.config import DEFAULTS, Settings
from qa.ingest.documents import Document, strip_span


@dataclass(frozen=True)
class Chunk:
    source: str
    start: int
    end: int
    text: str
    paragraph: int  # 1-based, of the chunk's first sentence
    page: int | None = None  # 1-based, PDF only


# Words that end in a period without ending a sentence ("Gen. Flynn", "Oct. 18").
ABBREVIATIONS = frozenset("""
    mr mrs ms dr prof sr jr st mt gen col maj capt lt sgt cmdr adm rep sen gov pres rev hon
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    no nos vol vols fig figs eq p pp ch sec art approx est dept univ inc ltd co corp bros
    vs etc al cf ca ie eg viz
""".split())

# End punctuation with any closing quotes or brackets, or a newline. The white space that must
# follow is checked in Python, not with a look-ahead: a failed look-ahead made the regex retry from
# every character of a long run of dots, which took 46 s on a 64 KB file of them.
_SENTENCE_MARK = re.compile(r"[.!?…]+[\"'”’)\]]*|\n")


def sentence_spans(text: str, start: int = 0, end: int | None = None, typed: bool = False) -> list[tuple[int, int]]:
    """(start, end) of each sentence in text[start:end], white space trimmed; newlines always split.
    `typed`: text a person typed (a question), where a sentence may open in lower case ("… for a
    fortnight. do I have to pay?"); in documents a lower-case word after a full stop goes on the
    sentence. Linear in the length of the text, whatever it holds."""
    end = len(text) if end is None else end
    spans, begin = [], start
    for match in _SENTENCE_MARK.finditer(text, start, end):
        if match.group() != "\n" and not (match.end() < end and text[match.end()].isspace()
                                          and _ends_sentence(text, match.start(), match.end(), end, typed)):
            continue
        spans.append((begin, match.end()))
        begin = match.end()
    spans.append((begin, end))
    return [span for span in (strip_span(text, s, e) for s, e in spans) if span[1] > span[0]]


def _ends_sentence(text: str, mark: int, after: int, limit: int, typed: bool = False) -> bool:
    following = text[after:after + 40].lstrip()[:1]
    if following and following.islower() and not typed:
        return False
    if text[mark] != ".":
        return True
    word_start = mark
    while word_start > 0 and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:mark].lstrip("\"'“‘([").lower()
    # Initials ("John F. Kirby") and dotted abbreviations ("U.S.") do not end sentences.
    return not (word in ABBREVIATIONS or len(word) == 1 and word.isalpha()
                or re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def _split_long(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    # A "sentence" longer than a chunk (a table row, a run-on line) is cut at white space.
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + limit // 2, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append(strip_span(text, start, cut))
        start = cut
    pieces.append(strip_span(text, start, end))
    return [p for p in pieces if p[1] > p[0]]


def document_sentences(document: Document, max_chars: int) -> list[tuple[int, int, int]]:
    """(start, end, paragraph index) of every sentence, none longer than `max_chars`."""
    sentences = []
    for number, (p_start, p_end) in enumerate(document.paragraphs):
        for s, e in sentence_spans(document.text, p_start, p_end):
            sentences.extend((a, b, number) for a, b in _split_long(document.text, s, e, max_chars))
    return sentences


def chunk_document(document: Document, settings: Settings = DEFAULTS, *, chunk_chars: int | None = None,
                   overlap_sentences: int | None = None) -> list[Chunk]:
    """Pack whole sentences into chunks of about `settings.chunk_chars`, preferring paragraph
    breaks, and repeat the last `settings.overlap_sentences` of a chunk at the start of the next
    one; `chunk_chars` and `overlap_sentences`, when given, instead of the settings'."""
    size = settings.chunk_chars if chunk_chars is None else chunk_chars
    overlap = settings.overlap_sentences if overlap_sentences is None else overlap_sentences
    return [_chunk(document, start, end, paragraph)
            for start, end, paragraph in _pack(document_sentences(document, size), size, overlap)]


def chunk_windows(document: Document, chunk: Chunk, settings: Settings = DEFAULTS) -> list[Chunk]:
    """The windows of `chunk`: its sentences packed as `chunk_document` packs a document's, into
    pieces of about `settings.dense_windows` (none when the chunk is no longer than that, or it is
    0), overlapping by `settings.overlap_sentences`. Each is embedded beside the chunk, and a
    chunk's dense score is its best one's."""
    window_chars = settings.dense_windows
    if not window_chars or chunk.end - chunk.start <= window_chars:
        return []
    sentences = []
    for number, (p_start, p_end) in enumerate(document.paragraphs):
        start, end = max(p_start, chunk.start), min(p_end, chunk.end)
        if start < end:
            for s, e in sentence_spans(document.text, start, end):
                sentences.extend((a, b, number) for a, b in _split_long(document.text, s, e, window_chars))
    return [_chunk(document, start, end, paragraph)
            for start, end, paragraph in _pack(sentences, window_chars, settings.overlap_sentences)]


def indexed_chunks(document: Document, settings: Settings = DEFAULTS) -> list[tuple[Chunk, str, list[str]]]:
    """What an index stores of `document`, cut as `settings` say: each chunk, the text embedded and
    BM25-indexed for it (`indexed_text`), and the embedded texts of its dense windows."""
    return [(chunk, indexed_text(document, chunk, settings.chunk_context),
             [indexed_text(document, window, settings.chunk_context)
              for window in chunk_windows(document, chunk, settings)])
            for chunk in chunk_document(document, settings)]


def _chunk(document: Document, start: int, end: int, paragraph: int) -> Chunk:
    return Chunk(source=document.source, start=start, end=end, text=document.text[start:end],
                 paragraph=paragraph + 1, page=document.page_at(start))


def _pack(sentences: list[tuple[int, int, int]], chunk_chars: int,
          overlap_sentences: int) -> list[tuple[int, int, int]]:
    """(start, end, paragraph index of the first sentence) of each chunk that `sentences` (start,
    end, paragraph index) are packed into; see `chunk_document`."""
    chunks, i = [], 0
    while i < len(sentences):
        start = sentences[i][0]
        j = i + 1
        while j < len(sentences):
            too_long = sentences[j][1] - start > chunk_chars
            new_paragraph = sentences[j][2] != sentences[j - 1][2]
            if too_long or new_paragraph and sentences[j - 1][1] - start >= chunk_chars // 2:
                break
            j += 1
        chunks.append((start, sentences[j - 1][1], sentences[i][2]))
        if j == len(sentences):
            break
        # Overlap only inside one paragraph, and only when it leaves room for new text.
        i = max(j - overlap_sentences, i + 1)
        while i < j and (sentences[i][2] != sentences[j][2]
                         or sentences[j][1] - sentences[i][0] > chunk_chars):
            i += 1
    return chunks


def indexed_text(document: Document, chunk: Chunk, context: bool) -> str:
    """What is embedded and BM25-indexed for `chunk`: its text, and with `context`
    (Settings.chunk_context) after a line "title — heading" naming its document and nearest heading
    (each left out when absent or already at the chunk's start). A chunk alone may not say what it
    is about: only the first one holds the title.
    Quotes and offsets come from `chunk.text`, never from this."""
    if not context:
        return chunk.text
    # A Markdown chunk that opens with a "#" line is under that heading, not the one before it.
    opening = chunk.text.lstrip("#").lstrip()
    heading = document.heading_at(chunk.start + len(chunk.text) - len(opening))
    # At most 200 characters of each: a long heading would push the chunk out of the model's window.
    names = [name for name in dict.fromkeys(" ".join(n.split())[:200] for n in (document.title, heading))
             if name and not opening.startswith(name)]
    return f"{' — '.join(names)}\n{chunk.text}" if names else chunk.text
