"""Documents written to hurt: text that once made splitting quadratic, files that must not
overwrite others or expand without limit, and encodings and markup read the wrong way."""

from __future__ import annotations

import re
import signal
import time
from contextlib import contextmanager

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from qa.chunking import _ends_sentence, _trim, chunk_document, sentence_spans
from qa.documents import document_from_text


@contextmanager
def at_most(seconds: float):
    """Fail once `seconds` pass: the old regex took minutes, and the regex engine checks signals."""
    def stop(*_):
        raise AssertionError(f"took over {seconds} s")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- Sentence splitting is linear ------------------------------------------------------------

# Pieces of adversarial text: long runs of end punctuation and closers without white space, very
# long tokens, and several scripts; repeated to 200 KB.
_RUNS = st.builds(lambda ch, n: ch * n, st.sampled_from([".", "!", "?", "…", ".\"", "?)", "!”", "…’"]),
                  st.integers(1, 20_000))
_TOKENS = st.builds(lambda word, n: word * n,
                    st.text(st.sampled_from("aZ9ж漢ﺏक😀.'\""), min_size=1, max_size=8),
                    st.integers(1, 5_000))
_SPACES = st.sampled_from([" ", "\n", "\n\n", "\t", "\u3000"])
HOSTILE = st.lists(st.one_of(_RUNS, _TOKENS, _SPACES), min_size=1, max_size=12).map(
    lambda pieces: "".join(pieces))


def _repeat_to(text: str, size: int) -> str:
    return (text * (size // len(text) + 1))[:size]


@hsettings(max_examples=25, deadline=None)
@given(HOSTILE)
def test_splitting_200_kb_of_hostile_text_takes_well_under_two_seconds(piece):
    text = _repeat_to(piece, 200_000)
    if not text.strip():
        return
    # 200 KB splits in under 0.2 s here on a busy core; the old regex took minutes on some of these.
    with at_most(2.0):
        sentence_spans(text)
        chunk_document(document_from_text("hostile.txt", text), 600)


def test_a_64_kb_file_of_dots_splits_at_once():
    with at_most(1.0):  # 46 s before
        assert sentence_spans("." * 65_536) == [(0, 65_536)]


_OLD_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n")


def _old_sentence_spans(text, start, end):
    # The splitter as it was before it was made linear: the reference for where sentences end.
    spans, begin = [], start
    for match in _OLD_SENTENCE_END.finditer(text, start, end):
        if match.group() != "\n" and not _ends_sentence(text, match.start(), match.end(), end):
            continue
        spans.append((begin, match.end()))
        begin = match.end()
    spans.append((begin, end))
    return [span for span in (_trim(text, s, e) for s, e in spans) if span[1] > span[0]]


@hsettings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("ab A.!?…\"')]” \n\t\u00a0"), max_size=60), st.data())
def test_sentences_end_exactly_where_they_did_before(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert sentence_spans(text, start, end) == _old_sentence_spans(text, start, end)
