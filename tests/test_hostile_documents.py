"""Documents written to hurt: text that once made splitting quadratic, files that must not
overwrite others or expand without limit, and encodings and markup read the wrong way."""

from __future__ import annotations

import os
import re
import signal
import time
from contextlib import contextmanager

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from qa.ingest.chunking import _ends_sentence, chunk_document, sentence_spans
from qa.config import Settings
from qa.ingest.documents import UnreadableFile, document_from_text, read_document, read_folder, strip_span
from qa.pipeline import update

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")  # pandas 3 vs gradio


@contextmanager
def at_most(seconds: float):
    """Fail once `seconds` pass: the old regex took minutes, and the regex engine checks signals."""
    def stop(*_):
        raise AssertionError(f"took over {seconds} s")
    previous = signal.signal(signal.SIGALRM, stop)
    outer_timer = signal.setitimer(signal.ITIMER_REAL, seconds)  # pytest-timeout's, if it set one
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_timer[0]:
            signal.setitimer(signal.ITIMER_REAL, *outer_timer)


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
        chunk_document(document_from_text("hostile.txt", text), chunk_chars=600)


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
    return [span for span in (strip_span(text, s, e) for s, e in spans) if span[1] > span[0]]


@hsettings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("ab A.!?…\"')]” \n\t\u00a0"), max_size=60), st.data())
def test_sentences_end_exactly_where_they_did_before(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert sentence_spans(text, start, end) == _old_sentence_spans(text, start, end)


# --- Reading documents right -----------------------------------------------------------------

def make_pdf(path, pages: list[str], shared: bool = False, password: str | None = None):
    """A PDF whose pages draw `pages` (PDF text operators) in Helvetica; `shared`: every page
    draws the first page's stream, as a small file can do to expand into a huge text."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    def name(n):
        return NameObject(n)

    writer = PdfWriter()
    font = DictionaryObject({name("/Type"): name("/Font"), name("/Subtype"): name("/Type1"),
                             name("/BaseFont"): name("/Helvetica")})
    streams = []
    for content in pages:
        page = writer.add_blank_page(612, 792)
        if content:
            if not (shared and streams):
                stream = DecodedStreamObject()
                stream.set_data(content.encode("latin-1"))
                streams.append(writer._add_object(stream.flate_encode()))
            page[name("/Contents")] = streams[-1]
            page[name("/Resources")] = DictionaryObject({name("/Font"): DictionaryObject({name("/F1"): font})})
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner", algorithm="RC4-128")
    writer.write(path)
    return path


def _drawn(text: str, times: int = 1) -> str:
    return "BT /F1 12 Tf 72 720 Td " + f"({text}) Tj " * times + "ET"


def test_utf16_files_with_a_byte_order_mark_are_read(tmp_path):
    for codec, bom in (("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")):
        path = tmp_path / f"{codec}.txt"
        path.write_bytes(bom + "Notepad wrote this.\r\nÇa marche, 東京.\r\n".encode(codec))
        document = read_document(path)
        assert document.text == "Notepad wrote this.\nÇa marche, 東京.\n"
        assert document.title == "Notepad wrote this."


def test_a_zero_byte_anywhere_means_binary(tmp_path):
    path = tmp_path / "late.txt"
    path.write_bytes(b"Looks like text. " * 1000 + b"\x00\x01\x02 then more text")
    with pytest.raises(UnreadableFile, match="binary data"):
        read_document(path)
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes(b"\xff\xfe" + "text\x00more".encode("utf-16-le"))
    with pytest.raises(UnreadableFile, match="binary data"):
        read_document(utf16)


def test_markdown_front_matter_gives_the_title_and_is_not_indexed(tmp_path):
    raw = ("---\ntitle: \"Garden: notes\"\ntags: [soil, secret-tag]\n---\n"
           "# Heading below\n\nTomatoes need sun. Water them daily.\n")
    path = tmp_path / "garden.md"
    path.write_text(raw)
    document = read_document(path)
    assert document.title == "Garden: notes"
    assert "secret-tag" not in document.text and "title" not in document.text
    # The front matter is blanked, not cut: offsets still point into the file as it is.
    assert len(document.text) == len(raw)
    start = raw.index("Tomatoes")
    assert document.text[start:start + 18] == "Tomatoes need sun."
    assert all("secret" not in c.text for c in chunk_document(document))
    assert [document.text[s:e] for s, e in document.paragraphs][0] == "# Heading below"


def test_markdown_title_falls_back_to_the_first_heading(tmp_path):
    (tmp_path / "a.md").write_text("---\nauthor: Ann\n---\nA note before any heading.\n\n## Real title ##\n\nBody.\n")
    (tmp_path / "rule.md").write_text("---\nJust a paragraph between two rules.\n---\n\nMore text.\n")
    documents = {d.source: d for d in read_folder(tmp_path)[0]}
    assert documents["a.md"].title == "Real title"
    assert "Ann" not in documents["a.md"].text
    # Not YAML mappings: a horizontal rule, which stays text.
    assert "Just a paragraph between two rules." in documents["rule.md"].text


def test_html_line_break_inside_a_word_keeps_the_word_whole(tmp_path):
    path = tmp_path / "page.html"
    path.write_text("<html><body><p>Mar<br>ianne Dubois signed the pact in 1891.</p>"
                    "<p>First line.<br>Second line<br/>Third line<br>\nfourth line</p></body></html>")
    document = read_document(path)
    assert "Marianne Dubois signed the pact in 1891." in document.text
    sentences = [document.text[s:e] for s, e in sentence_spans(document.text)]
    assert "Marianne Dubois signed the pact in 1891." in sentences
    assert ["First line.", "Second line", "Third line", "fourth line"] == sentences[-4:]


def test_pdf_without_a_text_layer_needs_ocr(tmp_path):
    path = make_pdf(tmp_path / "scan.pdf", ["", ""])
    with pytest.raises(UnreadableFile, match=r"has no text layer \(scanned\?\); it needs OCR"):
        read_document(path)


def test_password_protected_pdf_is_reported_as_encrypted(tmp_path):
    locked = make_pdf(tmp_path / "locked.pdf", [_drawn("Secret plans.")], password="secret")
    with pytest.raises(UnreadableFile, match="is encrypted") as error:
        read_document(locked)
    assert "FileNotDecryptedError" not in str(error.value)
    # Encrypted with an empty user password (only copying restricted): it opens and is read.
    open_ = make_pdf(tmp_path / "open.pdf", [_drawn("Public plans.")], password="")
    assert read_document(open_).text == "Public plans."


def test_linked_folders_are_followed_once_and_loops_reported(tmp_path):
    sources, outside = tmp_path / "sources", tmp_path / "outside"
    (sources / "real").mkdir(parents=True)
    outside.mkdir()
    (sources / "real" / "a.txt").write_text("Alpha text.")
    (outside / "b.txt").write_text("Beta text.")
    os.symlink(outside, sources / "linked")
    os.symlink("..", sources / "real" / "up")  # back to sources/: a loop
    os.symlink("real", sources / "same")  # a second name for real/
    documents, skipped = read_folder(sources)
    assert [d.source for d in documents] == ["linked/b.txt", "real/a.txt"]
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"real/up", "same"}
    assert "read already" in reasons["real/up"] and str(sources) in reasons["real/up"]


def test_text_over_the_document_limit_is_skipped_with_the_figures(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("Twelve chars" * 1000)
    with pytest.raises(UnreadableFile, match=r"extracted text is 12,000 characters, over the limit of "
                                             r"10,000; raise it with `qa index --max-document-chars`"):
        read_document(path, max_chars=10_000)
    assert len(read_document(path).text) == 12_000  # under the default limit


def test_pdf_text_over_the_limit_stops_extraction_early(tmp_path):
    # Four pages of 4,999 characters, each drawn by 8,025 bytes: page 2 could pass 12,000, so it
    # is not extracted.
    path = make_pdf(tmp_path / "long.pdf", [_drawn("Bomb text ", 500)] * 4)
    with pytest.raises(UnreadableFile, match=r"page 2 holds 8,025 bytes of drawing instructions, enough for more "
                                             r"text than the limit of 12,000 characters \(4,999 read before it\)"):
        read_document(path, max_chars=12_000)
    assert len(read_document(path, max_chars=24_000).text) == 4 * 4_999 + 3 * len("\n\n")


def test_small_pdf_that_expands_to_millions_of_characters_is_refused_fast(tmp_path, model):
    # 7 KB on disk; three pages drawing one 3.2 MB stream: 6 million characters of text, which
    # took pypdf 53 s to extract here. Refused before extraction, from the size of the drawing.
    (tmp_path / "sources").mkdir()
    path = make_pdf(tmp_path / "sources" / "bomb.pdf", [_drawn("Bomb text ", 200_000)] * 3, shared=True)
    assert path.stat().st_size < 30_000
    (tmp_path / "sources" / "ok.txt").write_text("A normal note about pears.")
    settings = Settings(index_dir=tmp_path / "index", max_document_chars=1_000_000)
    began = time.perf_counter()
    report = update(settings, model, tmp_path / "sources", progress=False)
    assert time.perf_counter() - began < 20
    assert report.added == ["ok.txt"]
    [skipped] = report.skipped
    assert skipped.path == "bomb.pdf"
    assert ("page 1 holds 3,200,025 bytes of drawing instructions, enough for more text than the limit of "
            "1,000,000 characters (0 read before it)") in skipped.reason
    assert "--max-document-chars" in skipped.reason


# --- Uploads through the web app ----------------------------------------------------------------

@pytest.fixture(scope="module")
def app(model, tmp_path_factory):
    from test_web_api import start_app

    running, demo = start_app(model, tmp_path_factory.mktemp("hostile-web"),
                              {"notes.txt": "The first notes: owls hunt at night.\n"})
    yield running
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app.url, verbose=False)


def _upload(client, tmp_path, name: str, content: str | bytes) -> str:
    from gradio_client import handle_file

    folder = tmp_path / f"upload-{time.monotonic_ns()}"
    folder.mkdir()
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return client.predict([handle_file(path)], api_name="/add_documents")[1]


def test_an_upload_never_replaces_a_source_of_the_same_name(client, app, tmp_path):
    status = _upload(client, tmp_path, "notes.txt", "The second notes: herons fish at dawn.\n")
    assert "added notes (2).txt (a file named notes.txt was there already)" in status
    status = _upload(client, tmp_path, "notes.txt", "The third notes: wrens sing at noon.\n")
    assert "added notes (3).txt" in status
    assert (app.sources / "notes.txt").read_text() == "The first notes: owls hunt at night.\n"
    assert (app.sources / "notes (2).txt").read_text() == "The second notes: herons fish at dawn.\n"
    indexed = {d.source for d in app.pipeline.retriever.backend.documents()}
    assert {"notes.txt", "notes (2).txt", "notes (3).txt"} <= indexed
    # The very same file again is not copied a fourth time.
    status = _upload(client, tmp_path, "notes.txt", "The first notes: owls hunt at night.\n")
    assert "notes.txt: this very file is already in the sources folder" in status
    assert not (app.sources / "notes (4).txt").exists()


def test_an_upload_is_read_once_and_taken_back_when_unreadable(client, app, tmp_path, monkeypatch):
    import qa.ingest.documents

    reads = []
    decoded = qa.ingest.documents._decoded
    monkeypatch.setattr(qa.ingest.documents, "_decoded", lambda data: reads.append(data) or decoded(data))
    status = _upload(client, tmp_path, "once.txt", "Read me once: the kettle whistles.\n")
    assert "added once.txt" in status
    assert reads.count(b"Read me once: the kettle whistles.\n") == 1

    status = _upload(client, tmp_path, "locked.pdf",
                     make_pdf(tmp_path / "x.pdf", [_drawn("Secret.")], password="pw").read_bytes())
    assert "locked.pdf: is encrypted" in status and "(not added)" in status
    assert not (app.sources / "locked.pdf").exists()


def test_questions_are_answered_while_a_hostile_file_is_uploaded(client, app, tmp_path):
    """Punctuation runs, long tokens and mixed scripts: 100 KB, 169 chunks to embed."""
    from concurrent.futures import ThreadPoolExecutor

    # Runs of punctuation followed by letters, not white space: what made the old splitter retry.
    # Each 45 KB line holds them all; 300 KB (506 chunks, 100 CPU seconds of embedding) only
    # repeated it more often.
    from gradio_client import Client

    hostile = _repeat_to("." * 20_000 + "ж漢" * 3_000 + " " + "!?" * 5_000 + "x" * 9_000 + "\n", 100_000)
    # The upload comes from another visitor's client: one client's event stream, shared by the
    # upload and the questions, closed under the questions when the upload ended (CancelledError).
    uploader = Client(app.url, verbose=False)
    with ThreadPoolExecutor(1) as pool:
        upload = pool.submit(_upload, uploader, tmp_path, "hostile.txt", hostile)
        answered, latencies = 0, []
        while not upload.done() or answered < 3:
            began = time.perf_counter()
            answer = client.predict("Who led the Wagner group?", "hybrid", 2, api_name="/ask")
            latencies.append(time.perf_counter() - began)
            assert "Prigozhin" in answer["answer"][0]["quote"]
            answered += 1
        status = upload.result(timeout=120)
    assert "added hostile.txt" in status
    # With the old splitter the update held the interpreter for minutes and no answer came.
    assert max(latencies) < 15, latencies
