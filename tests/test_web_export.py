"""The web chat shows every citation's quote, not only the first's, and exports the conversation
as Markdown and as JSON that `qa verify` checks against the sources (a real browser, as in
test_web_browser.py)."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest
from playwright.sync_api import Error as PlaywrightError

from qa.app import web_html
from qa.app.export import verify
from test_web_api import start_app
from test_web_browser import ARTIFACTS, ask

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")]  # pandas 3 vs gradio

SOLDIERS = "How many soldiers does Russia recruit each month?"
FESTIVAL = "When is the Zorblax festival held?"
SCRIPT = "<script>window.__pwned=1</script>"
IMAGE = '<img src=x onerror="window.__pwned=1">'
FILLER = ("Farmers in the valley grow barley and rye on terraced fields. The old mill was rebuilt in stone "
          "after the flood. Children learn to swim in the lake during the short summer. The railway reached "
          "the valley late, and the station still has its wooden benches. ")
# Three paragraphs, each longer than a chunk, so that the festival is cited from three passages;
# the second's sentence is over 200 characters, so the chat shortens it.
ZORBLAX = (f"Zorblax notes\n\n"
           f"The Zorblax festival {SCRIPT} is held every March in Quentin beside the river. {FILLER}\n\n"
           f"{FILLER}The Zorblax festival {IMAGE} is held with lanterns, drums and long processions that wind "
           "through every street of the old town from dusk until well after midnight, while the bakers "
           "of Quentin sell honey cakes shaped like stars to the crowds that come from the whole valley.\n\n"
           f"{FILLER}The first Zorblax festival {SCRIPT} was held in 1921, when the river froze for a month.\n")


@pytest.fixture(scope="module")
def app(model, tmp_path_factory):
    running, demo = start_app(model, tmp_path_factory.mktemp("export"), {"zorblax.txt": ZORBLAX})
    yield running
    demo.close()


@pytest.fixture
def page(browser, app):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app.url)
    page.wait_for_selector("#qa-question textarea")
    yield page
    page.close()


def test_further_citations_show_their_quotes_short_and_expandable_and_escaped():
    long_quote = "It <b>is</b> " + "very " * 60 + "long."
    html = web_html.answer_html({
        "question": "q", "abstained": False, "error": None, "message": None,
        "answer": [{"quote": "First <i>quote</i>.", "citation": 1}],
        "citations": [{"n": 1, "source": "a.txt", "title": "A", "paragraph": 1, "page": None,
                       "start": 0, "end": 18, "quote": "First <i>quote</i>."},
                      {"n": 2, "source": "b.txt", "title": "B", "paragraph": 2, "page": None,
                       "start": 5, "end": 16, "quote": "Second <x>.", "answer_start": 12, "answer_end": 15},
                      {"n": 3, "source": "c.txt", "title": "C", "paragraph": 3, "page": None,
                       "start": 0, "end": len(long_quote), "quote": long_quote}]})
    assert html.count("First &lt;i&gt;quote&lt;/i&gt;.") == 1  # quoted above, not repeated in the list
    assert '“Second <b class="qa-answer-words">&lt;x&gt;</b>.”' in html
    summary, whole = html.split("<summary>")[1].split("</summary>")
    assert summary.startswith('<span class="qa-short">“It &lt;b&gt;is&lt;/b&gt; very very') and "…" in summary
    assert len(summary) < 300 and f"“{web_html.escape(' '.join(long_quote.split()))}”</details>" in whole
    assert "<b>is</b>" not in html and "\n" not in html


def test_chat_shows_the_quotes_of_citations_2_and_3(page, app):
    ask(page, SOLDIERS)
    items = page.locator("#qa-chat .qa-citations li")
    assert "“" not in items.nth(0).inner_text()  # citation [1] is the quote above the list
    expected = app.pipeline.ask(SOLDIERS)  # what the chat asked: the same defaults
    for i, c in enumerate(expected.citations[1:3], start=1):
        assert f"“{' '.join(c.quote.split())}”" in items.nth(i).inner_text()
        assert items.nth(i).locator("b.qa-answer-words").inner_text() == c.answer
    assert any("“Some 3,000 North Korean troops arrived in Russia’s far east" in items.nth(i).inner_text()
               for i in range(1, 3))

    # A hostile document: each further citation's quote shows its markup as text; a long one is
    # shortened, and expands to the whole sentence.
    ask(page, FESTIVAL)
    expected = app.pipeline.ask(FESTIVAL)  # what the chat asked: the same defaults
    assert not expected.abstained and len(expected.citations) >= 3
    quoted = {q.citation for q in expected.quotes}
    answer = page.locator("#qa-chat .qa-answer").last
    shortened = 0
    for c in expected.citations:
        if c.n in quoted:
            continue
        item = answer.locator(f".qa-citations li[value='{c.n}']")
        flat = " ".join(c.quote.split())
        if len(flat) <= web_html.SHORT_QUOTE_CHARS:
            assert f"“{flat}”" in item.inner_text()
            continue
        shortened += 1
        assert flat not in item.inner_text() and flat[:100] in item.inner_text()
        item.locator("summary").click()
        assert f"“{flat}”" in item.inner_text()
    assert shortened >= 1, "the long festival sentence should be among the citations"
    assert SCRIPT in answer.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web-citation-quotes.png", full_page=True)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#qa-chat script").count() == 0 and page.locator("img[src='x']").count() == 0


def download(page, button: str, must_hold: str, seconds: float = 30) -> str:
    """The text the export button downloads once it holds `must_hold` (the export is remade
    after each answer, a moment after the answer shows)."""
    page.wait_for_selector(f"{button}:not([disabled])")
    deadline = time.monotonic() + seconds
    while True:
        with page.expect_download() as info:
            page.click(button)
        try:
            text = open(info.value.path(), encoding="utf-8").read()
        except PlaywrightError as error:
            # The export is remade a moment after each answer: a download begun just before the
            # new file replaced the old one is cancelled. Click again, as a user would.
            if "canceled" not in str(error) or time.monotonic() > deadline:
                raise
            text = ""
        if must_hold in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


def test_export_the_conversation_and_verify_it_against_the_sources(page, app, tmp_path):
    assert page.locator("#qa-export-md").is_disabled()  # nothing to export yet
    ask(page, SOLDIERS)
    ask(page, FESTIVAL)
    markdown = download(page, "#qa-export-md", "Zorblax")
    assert f"## {SOLDIERS}" in markdown and "## When is the Zorblax festival held?" in markdown
    # The quote, with the answer words in bold inside it
    assert re.search(r"> “US officials estimated that Russia recruits [^\n]*\*\*[^*\n]*25,000 to 30,000[^*\n]*\*\*", markdown)
    assert "[^1.1]: *North Korean Troops Join Russian Forces" in markdown and "[^2.1]: *Zorblax notes*" in markdown
    assert "\\<script\\>" in markdown and "<script>" not in markdown

    exported = json.loads(download(page, "#qa-export-json", "Zorblax"))
    assert exported["format"] == "qa-export" and exported["version"] == 1
    assert [a["question"] for a in exported["answers"]] == [SOLDIERS, FESTIVAL]
    checks = verify(exported, app.sources)
    assert len(checks) >= 6 and all(c.status == "exact" for c in checks)

    # The festival notes gain a first paragraph: their quotes move; the news articles' stay exact.
    sources = tmp_path / "sources"
    shutil.copytree(app.sources, sources)
    notes = sources / "zorblax.txt"
    notes.write_text("Preface.\n\n" + notes.read_text(encoding="utf-8"), encoding="utf-8")
    checks = verify(exported, sources)
    assert {c.status for c in checks if c.source == "zorblax.txt"} == {"moved"}
    assert {c.status for c in checks if c.source != "zorblax.txt"} == {"exact"}
    moved = next(c for c in checks if c.source == "zorblax.txt")
    assert (moved.new_start, moved.new_end) == (moved.start + len("Preface.\n\n"), moved.end + len("Preface.\n\n"))
