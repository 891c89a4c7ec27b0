"""The web app through its API: the real app on a free port, over a copy of the shipped sources,
called with gradio_client the way another program would call it."""

from __future__ import annotations

import json
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from qa.app import web, web_chat, web_citations, web_html, web_sources
from qa.config import Settings
from qa.ingest.documents import read_document
from qa.pipeline import Pipeline

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")  # pandas 3 vs gradio

SHIPPED_SOURCES = Path(__file__).resolve().parent.parent / "sources"

# Twenty questions about the shipped sources, each with a word its answer must quote.
QUESTIONS = {
    "How many North Korean troops are estimated to be in training?": "12,000",
    "Which mercenary group nearly rebelled against Moscow in 2023?": "Wagner",
    "When did Russia invade Ukraine?": "2022",
    "How many North Korean troops arrived in Russia's far east?": "3,000",
    "How large is North Korea's army?": "1.3 million",
    "How many Russians have been killed or wounded in the war?": "600,000",
    "Who led the Wagner group?": "Prigozhin",
    "Who is the NATO Secretary-General?": "Rutte",
    "Where did Kim Jong Un and Putin sign a mutual defense pact?": "Pyongyang",
    "Which country supplies drones to Russia?": "Iran",
    "Who chairs the House Intelligence Committee?": "Turner",
    "Who is the Army's top commander in the Pacific?": "Flynn",
    "What did Secretary Austin call the troop deployment?": "serious",
    "What did Cuba's Ministry of Foreign Affairs accuse Moscow of operating?": "trafficking",
    "Which region of Russia did Ukraine invade?": "Kursk",
    "Who is the president of South Korea?": "Yoon",
    "What might Moscow have promised Pyongyang in exchange for troops?": "nuclear",
    "Where does Taras Kuzio teach?": "Kyiv-Mohyla",
    "Where did North Korean soldiers travel from before Vladivostok?": "Wonsan",
    "How many artillery rounds has North Korea sent Russia?": "million",
}


@dataclass
class RunningApp:
    url: str
    pipeline: Pipeline
    sources: Path


def start_app(model, root: Path, extra_sources: dict[str, str] | None = None):
    """The real app over a copy of the shipped sources (plus `extra_sources`) on a free port;
    returns (RunningApp, the Gradio Blocks to close)."""
    sources = root / "sources"
    shutil.copytree(SHIPPED_SOURCES, sources)
    for name, text in (extra_sources or {}).items():
        (sources / name).write_text(text, encoding="utf-8")
    settings = Settings(index_dir=root / "index", sources_dir=sources, device="cpu")
    pipeline = web.prepare(settings, model, progress=False)
    demo = web.build_app(pipeline)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web.launch(demo, "127.0.0.1", port, block=False)
    return RunningApp(f"http://127.0.0.1:{port}/", pipeline, sources), demo


@pytest.fixture(scope="module")
def app(model, tmp_path_factory):
    running, demo = start_app(model, tmp_path_factory.mktemp("web"))
    yield running
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    return Client(app.url, verbose=False)


def assert_exact(answer: dict, sources: Path) -> None:
    """Every citation's offsets point at its quote in the source file, and every quote is cited."""
    for c in answer["citations"]:
        text = read_document(sources / c["source"], c["source"]).text
        assert text[c["start"]:c["end"]] == c["quote"]
        assert text[c["passage_start"]:c["passage_end"]] == c["passage"]
    quoted = {c["n"]: c["quote"] for c in answer["citations"]}
    for quote in answer["answer"]:
        assert quote["quote"] == quoted[quote["citation"]]


def test_ask_returns_quotes_with_exact_offsets(client, app):
    answer = client.predict("How many North Korean troops are estimated to be in training?", "hybrid", 3,
                            api_name="/ask")
    assert not answer["abstained"] and answer["error"] is None
    assert "12,000" in answer["answer"][0]["quote"]
    assert 1 <= len(answer["citations"]) <= 3
    assert answer["citations"][0]["source"] == "000_98eda58b59ac3056.txt"
    assert_exact(answer, app.sources)


def test_each_mode_answers(client, app):
    for mode in ("bm25", "dense"):
        answer = client.predict("Which mercenary group nearly rebelled against Moscow in 2023?", mode, 2,
                                api_name="/ask")
        assert answer["mode"] == mode
        assert "Wagner" in answer["answer"][0]["quote"]
        assert_exact(answer, app.sources)


def test_a_name_the_sources_never_mention_is_named_in_the_message(client):
    answer = client.predict("What did Boris Johnson say about North Korea?", api_name="/ask")
    assert answer["abstained"] and answer["answer"] == [] and answer["citations"]
    assert answer["message"] == "The sources do not answer this question: they never mention “Boris Johnson”."


def test_unanswerable_question_abstains_with_nearest_passages(client):
    answer = client.predict("What is the boiling point of liquid nitrogen?", api_name="/ask")
    assert answer["abstained"] and answer["answer"] == []
    assert answer["message"] == "The sources do not answer this question."
    assert answer["error"] is None


@pytest.mark.parametrize("question, says", [
    ("", "empty"),
    ("?!?! ...", "no words"),
    ("why " * 600, "at most 2,000 characters"),
])
def test_bad_question_gets_a_clear_message(client, question, says):
    answer = client.predict(question, "hybrid", 5, api_name="/ask")
    assert answer["abstained"] and answer["citations"] == []
    assert says in answer["error"]


def test_bad_mode_gets_a_clear_message(client):
    answer = client.predict("When did Russia invade Ukraine?", "fuzzy", 5, api_name="/ask")
    assert "mode must be one of hybrid, bm25, dense" in answer["error"]


def test_an_index_that_goes_away_is_reported_and_the_app_keeps_answering(client, app, monkeypatch):
    from qa.index.milvus import MilvusUnavailable

    def gone(*args, **kwargs):
        raise MilvusUnavailable("cannot reach Milvus at http://127.0.0.1:9: is it running?")

    monkeypatch.setattr(app.pipeline.retriever, "search", gone)
    answer = client.predict("Who led the Wagner group?", "hybrid", 3, api_name="/ask")
    assert answer["abstained"] and "cannot reach Milvus" in answer["error"]
    monkeypatch.undo()
    assert not client.predict("Who led the Wagner group?", "hybrid", 3, api_name="/ask")["abstained"]


def test_twenty_concurrent_clients_each_get_their_own_answer(app):
    def ask(item):
        n, (question, expected) = item
        k = 1 + n % 4  # each client its own settings too
        return question, expected, k, Client(app.url, verbose=False).predict(question, "hybrid", k, api_name="/ask")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(ask, enumerate(QUESTIONS.items())))
    assert len(results) == 20
    for question, expected, k, answer in results:
        assert answer["question"] == question
        assert len(answer["citations"]) <= k
        # Each client gets its own question's first citation (answered or, when the reader is
        # unsure, shown as the nearest passage).
        assert expected in answer["citations"][0]["quote"], (question, answer["citations"][0])
        assert_exact(answer, app.sources)


def test_upload_indexes_new_documents_and_refuses_bad_ones(client, app, tmp_path):
    good = tmp_path / "lantern festival.txt"
    good.write_text("The Lantern Festival of Quenby\n\nThe lantern festival of Quenby is held every "
                    "March beside the old mill pond, and it began in 1871.\n", encoding="utf-8")
    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ\x90\x00")
    empty = tmp_path / "empty.md"
    empty.write_text("   \n")

    _, status, _, _ = client.predict([handle_file(good), handle_file(program), handle_file(empty)],
                                     api_name="/add_documents")
    assert "added lantern festival.txt" in status
    assert "setup.exe: unsupported file type .exe" in status
    assert "empty.md: no text in it" in status
    assert (app.sources / "lantern festival.txt").is_file()
    assert not (app.sources / "setup.exe").exists() and not (app.sources / "empty.md").exists()
    assert "lantern festival.txt" in {d.source for d in app.pipeline.retriever.backend.documents()}

    answer = client.predict("When did the lantern festival of Quenby begin?", "hybrid", 3, api_name="/ask")
    assert answer["citations"][0]["source"] == "lantern festival.txt"
    assert "1871" in answer["answer"][0]["quote"]
    assert_exact(answer, app.sources)


def test_upload_over_the_size_limit_is_refused(app, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    with pytest.raises(web_sources.BadUpload, match="big.txt: .* over the upload limit"):
        web_sources.save_upload(str(big), app.sources, max_bytes=100)
    assert not (app.sources / "big.txt").exists()


# --- Pure helpers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, saved", [
    ("report.pdf", "report.pdf"),
    ("notes/2024/minutes.md", "minutes.md"),
    ("C:\\Users\\me\\letter.txt", None),
    ("folder\\page.html", "page.html"),
    ("  spaced name.TXT ", "spaced name.TXT"),
    ("ﬁle.txt", "file.txt"),  # the "ﬁ" ligature is normalised (NFKC)
    ("Cafe\u0301.md", "Café.md"),  # a combining accent becomes one character
])
def test_safe_upload_name_keeps_only_a_plain_file_name(name, saved):
    if saved is None:
        with pytest.raises(web_sources.BadUpload):
            web_sources.safe_upload_name(name)
    else:
        assert web_sources.safe_upload_name(name) == saved


@pytest.mark.parametrize("name, reason", [
    ("../../etc/passwd.txt", "'..'"),
    ("docs/../../x.txt", "'..'"),
    ("\uff0e\uff0e\uff0fescape.txt", "'..'"),  # full-width "../" normalises to the real thing
    ("/etc/hosts.txt", "absolute path"),
    ("\\\\server\\share\\x.txt", "absolute path"),
    ("bad\x00name.txt", "control"),
    ("line\nbreak.txt", "control"),
    ("gpj\u202etxt.exe", "control"),  # a right-to-left override hides the real extension
    (".hidden.txt", "hidden"),
    ("", "no name"),
    ("..", "'..'"),
    ("folder/", "no name"),
    ("x" * 300 + ".txt", "longer than 200"),
    ("program.exe", "unsupported file type .exe"),
    ("README", "unsupported file type (none)"),
])
def test_safe_upload_name_refuses_names_that_could_escape_or_hide(name, reason):
    with pytest.raises(web_sources.BadUpload, match=reason.replace("(", r"\(").replace(")", r"\)")):
        web_sources.safe_upload_name(name)


def test_context_html_highlights_the_span_and_escapes_everything():
    text = "Intro <b>bold</b> & more. The <script>alert(1)</script> quote here. After <img src=x onerror=y>."
    start = text.index("The <script>")
    end = text.index(" After")
    html = web_citations.context_html(text, start, end)
    assert ('<mark class="qa-span">The &lt;script&gt;alert(1)&lt;/script&gt; quote here.</mark>') in html
    assert "Intro &lt;b&gt;bold&lt;/b&gt; &amp; more. " in html
    assert "&lt;img src=x onerror=y&gt;" in html
    assert "<script>" not in html and "<img" not in html and "<b>" not in html


def test_context_html_shows_a_window_and_marks_what_is_cut():
    text = "a" * 50 + " " + "b" * 2000 + " QUOTE " + "c" * 2000 + " " + "d" * 50
    start = text.index("QUOTE")
    html = web_citations.context_html(text, start, start + 5, around=100)
    assert html.startswith('<div class="qa-doc">…') and html.endswith("…</div>")
    assert "a" * 50 not in html and len(html) < 400
    whole = web_citations.context_html(text, start, start + 5, around=None)
    assert "a" * 50 in whole and "d" * 50 in whole and "…" not in whole


def _citation(**changes) -> dict:
    c = {"n": 1, "source": "a<b>.txt", "title": "T <i>", "paragraph": 2, "page": None, "start": 6,
         "end": 11, "quote": "quote", "passage": "", "passage_start": 0, "passage_end": 0, "score": 0.5}
    return {**c, **changes}


def test_source_panel_confirms_the_span_or_says_the_document_changed():
    text = "Some  quote text."
    panel = web_citations.source_panel(text, _citation(), whole=False)
    assert "✓ The highlighted span is exactly the quoted text (characters 6–11 of 17)" in panel
    assert "a&lt;b&gt;.txt" in panel and "T &lt;i&gt;" in panel and "<i>" not in panel
    changed = web_citations.source_panel("Other text entirely.", _citation(), whole=False)
    assert "changed since the answer was given" in changed and "<mark" not in changed
    assert "no longer in the index" in web_citations.source_panel(None, _citation(), whole=False)


def test_answer_html_escapes_quotes_questions_and_marks_nearest_passages():
    answered = {"question": "q", "abstained": False, "error": None, "message": None,
                "answer": [{"quote": "It <img src=x onerror=alert(1)>\n\nworks.", "citation": 1}],
                "citations": [_citation(page=3)]}
    html = web_html.answer_html(answered)
    assert "“It &lt;img src=x onerror=alert(1)&gt; works.”" in html
    assert '<sup class="qa-marker">[1]</sup>' in html
    assert "a&lt;b&gt;.txt, ¶2, page 3" in html and "\n" not in html
    nearest = web_html.answer_html({**answered, "abstained": True, "answer": [],
                               "message": "The sources do not answer this question."})
    assert "The sources do not answer this question." in nearest and "not an answer" in nearest
    assert web_html.question_html("<script>x</script>") == '<div class="qa-question">&lt;script&gt;x&lt;/script&gt;</div>'
    quote = "the <b>answer</b> words"
    marked = web_html.answer_html({**answered, "answer": [{"quote": quote, "citation": 1}],
                              "citations": [_citation(start=10, end=10 + len(quote), quote=quote,
                                                      answer_start=14, answer_end=27)]})
    assert '“the <b class="qa-answer-words">&lt;b&gt;answer&lt;/b&gt;</b> words”' in marked
    error = web_html.answer_html({**answered, "error": "The question is empty <here>."})
    assert error == '<div class="qa-error">The question is empty &lt;here&gt;.</div>'
    # an answer the reader is unsure of says so before its quotes; a sure one says nothing
    unsure = web_html.answer_html({**answered, "unsure": True})
    assert '<p class="qa-unsure">Not sure this answers the question: check the citation.</p>' in unsure
    assert unsure.index("qa-unsure") < unsure.index("qa-quote") and "qa-unsure" not in html


# --- Cleaning up after itself -----------------------------------------------------------------------

def test_uploads_saved_or_refused_leave_nothing_in_gradios_temp_folder(client, app, tmp_path):
    from gradio.utils import get_upload_folder

    tag = tmp_path.name  # unique to this run
    good = tmp_path / f"kept-{tag}.txt"
    good.write_text("Kiwis are flightless birds of New Zealand.\n")
    refused = tmp_path / f"refused-{tag}.exe"
    refused.write_bytes(b"MZ\x90\x00")
    _, status, _, _ = client.predict([handle_file(good), handle_file(refused)], api_name="/add_documents")
    assert f"added kept-{tag}.txt" in status and "unsupported file type .exe" in status
    assert not list(Path(get_upload_folder()).rglob(f"*{tag}*"))
    (app.sources / good.name).unlink()


def test_an_evaluation_leaves_nothing_of_the_question_set_in_gradios_temp_folder(client, tmp_path):
    from gradio.utils import get_upload_folder

    from conftest import DEV_SET

    questions = tmp_path / f"set-{tmp_path.name}.jsonl"  # unique to this run
    questions.write_text(DEV_SET.read_text().splitlines()[0] + "\n")
    table, metrics_png, *_ = client.predict(handle_file(questions), ["bm25"], 3, api_name="/evaluate")
    assert "hit@1" in table and Path(metrics_png).read_bytes()[:4] == b"\x89PNG"  # the client got the files
    assert not list(Path(get_upload_folder()).rglob(questions.name))


# --- Any input to /ask gets the documented JSON -------------------------------------------------------

ANSWER_KEYS = {"question", "abstained", "answer", "citations", "mode", "message", "error"}


@pytest.mark.parametrize("question, mode, k, says", [
    ("When did Russia invade Ukraine?", "hybrid", "abc", "k (the number of citations) must be a whole number from 1 to 10, not 'abc'"),
    ("When did Russia invade Ukraine?", "hybrid", 0, "from 1 to 10, not 0"),
    ("When did Russia invade Ukraine?", "hybrid", 11, "from 1 to 10, not 11"),
    ("When did Russia invade Ukraine?", "hybrid", 2.5, "from 1 to 10, not 2.5"),
    ("When did Russia invade Ukraine?", ["hybrid"], 3, "mode must be one of hybrid, bm25, dense, not ['hybrid']"),
    (42, "hybrid", 3, "The question must be text, not a number."),
    (["When?"], "hybrid", 3, "The question must be text, not a list."),
    ({"q": "When?"}, "hybrid", 3, "The question must be text, not an object."),
])
def test_any_input_gets_the_documented_json_with_the_error(client, question, mode, k, says):
    answer = client.predict(question, mode, k, api_name="/ask")
    assert set(answer) == ANSWER_KEYS
    assert answer["error"].endswith(says) and answer["abstained"] and answer["citations"] == []


def test_mode_and_k_are_optional_over_rest_in_both_forms(app):
    import requests

    def call(route: str, body: dict) -> dict:
        event = requests.post(f"{app.url}gradio_api/call/{route}", json=body, timeout=60).json()["event_id"]
        stream = requests.get(f"{app.url}gradio_api/call/{route}/{event}", timeout=120).text
        assert stream.startswith("event: complete"), stream
        return json.loads(stream.split("data: ", 1)[1])[0]

    for route, body in (("ask", {"data": ["When did Russia invade Ukraine?"]}),
                        ("v2/ask", {"question": "When did Russia invade Ukraine?"})):
        answer = call(route, body)
        assert answer["error"] is None and answer["mode"] == "hybrid" and "2022" in answer["answer"][0]["quote"]
        assert len(answer["citations"]) <= Settings().k
    assert call("ask", {"data": []})["error"].startswith("The question is empty")
    assert "not 'abc'" in call("v2/ask", {"question": "When?", "k": "abc"})["error"]


def test_checked_ask_fills_defaults_and_accepts_whole_numbers():
    settings = Settings()
    assert web_chat.checked_ask("Q?", None, None, settings) == ("Q?", "hybrid", 5)
    assert web_chat.checked_ask("Q?", "", "", settings) == ("Q?", "hybrid", 5)
    assert web_chat.checked_ask("Q?", "bm25", 3.0, settings) == ("Q?", "bm25", 3)
    assert web_chat.checked_ask(None, "dense", " 7 ", settings) == (None, "dense", 7)
    for bad_k in (True, -1, float("nan"), float("inf"), [3], "3.5"):
        with pytest.raises(ValueError, match="k .* must be a whole number"):
            web_chat.checked_ask("Q?", "hybrid", bad_k, settings)
