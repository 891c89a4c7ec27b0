"""The web chat in a real browser: ask, read the answer, check a citation; hostile text stays text.

Headless Debian Chromium (/usr/bin/chromium) driven by Playwright; screenshots go to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SHIPPED_SOURCES as SOURCES
from test_web_api import start_app

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")]  # pandas 3 vs gradio

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SCRIPT = "<script>window.__pwned=1</script>"
IMAGE = '<img src=x onerror="window.__pwned=1">'
HOSTILE = (f"Zorblax notes {IMAGE}\n\n"
           f"The Zorblax festival {SCRIPT} is held every March in Quentin {IMAGE} beside the river.\n\n"
           "Visitors bring paper lanterns ${window.__pwned=1} and *stars* to the square.\n")


@pytest.fixture(scope="module")
def app(model, tmp_path_factory):
    running, demo = start_app(model, tmp_path_factory.mktemp("browser"), {"hostile.txt": HOSTILE})
    yield running
    demo.close()


@pytest.fixture
def page(browser, app):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app.url)
    page.wait_for_selector("#qa-question textarea")
    yield page
    page.close()


def ask(page, question: str) -> None:
    answers = page.locator("#qa-chat .qa-answer, #qa-chat .qa-error").count()
    page.fill("#qa-question textarea", question)
    page.click("#qa-ask")
    page.wait_for_function(f"document.querySelectorAll('#qa-chat .qa-answer, #qa-chat .qa-error').length > {answers}",
                           timeout=60_000)


def test_an_unsure_answer_says_so_above_its_quote(page, app, monkeypatch):
    from dataclasses import replace

    # Every answer is unsure with the threshold at 1: the note shows, in the answer, above its quote.
    retriever = app.pipeline.retriever
    monkeypatch.setattr(retriever, "settings", replace(retriever.settings, unsure_below=1.0))
    ask(page, "How many North Korean troops are estimated to be in training?")
    answer = page.locator("#qa-chat .qa-answer").last
    note = answer.locator(".qa-unsure")
    assert note.is_visible() and note.inner_text() == "Not sure this answers the question: check the citation."
    # the quote follows the note in the page (Node.DOCUMENT_POSITION_FOLLOWING); positions move as the chat scrolls
    assert answer.evaluate("a => a.querySelector('.qa-unsure').compareDocumentPosition(a.querySelector('.qa-quote'))") & 4


def test_ask_then_check_a_citation(page):
    # The example questions render after the text box: wait for them (is_visible() does not wait).
    page.get_by_text("When did Russia invade Ukraine?").first.wait_for(state="visible", timeout=15_000)
    ask(page, "How many North Korean troops are estimated to be in training?")

    chat = page.locator("#qa-chat")
    assert "some 12,000 North Korean troops in total are in training" in chat.inner_text()
    assert chat.locator(".qa-marker").first.inner_text() == "[1]"
    assert chat.locator(".qa-citations li").count() >= 2

    # The first citation opens by itself: its quoted span is highlighted in the source.
    mark = page.locator("#qa-source mark.qa-span")
    mark.wait_for()
    assert mark.inner_text() == ("South Korean intelligence agencies estimate that some 12,000 North Korean "
                                 "troops in total are in training.")
    source = page.locator("#qa-source")
    assert "000_98eda58b59ac3056.txt" in source.inner_text()
    assert "characters 1187–1293" in source.inner_text()
    assert "exactly the quoted text" in source.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web-answer.png", full_page=True)

    # Another citation: another span, in the file its label names.
    second = page.locator("#qa-citations label").nth(1)
    second_file = next(name for name in ("000_98eda58b59ac3056.txt", "003_5763b751aeba3d4f.txt")
                       if name in second.inner_text())
    second.click()
    page.wait_for_function("!document.querySelector('#qa-source mark').innerText.includes('12,000')")
    assert f"file {second_file}" in source.inner_text()
    assert "exactly the quoted text" in source.inner_text()

    # The whole document, with the span still highlighted.
    page.locator("#qa-whole input").check()
    page.wait_for_function("!document.querySelector('#qa-source .qa-doc').innerText.startsWith('…')")
    whole_text = (SOURCES / second_file).read_text().strip()
    assert source.locator(".qa-doc").inner_text().strip().startswith(whole_text[:40])
    assert mark.count() == 1
    page.screenshot(path=ARTIFACTS / "web-whole-document.png", full_page=True)


def test_a_follow_up_is_searched_with_the_conversation_and_says_what_was_searched(page):
    ask(page, "How many North Korean troops arrived in Russia's far east?")
    chat = page.locator("#qa-chat")
    assert "Some 3,000 North Korean troops arrived" in chat.inner_text()
    assert chat.locator(".qa-searched-for").count() == 0  # a question that stands alone is searched as asked

    ask(page, "How many of them are in training?")
    searched = chat.locator(".qa-searched-for")
    searched.wait_for()
    assert searched.count() == 1 and searched.is_visible()
    assert searched.inner_text() == "searched for: How many of them are in training? North Korean Russia"
    last = chat.locator(".qa-answer").last
    assert last.locator(".qa-quote").first.inner_text().startswith(
        "“South Korean intelligence agencies estimate that some 12,000 North Korean troops in total are in training.”")
    # The citation panel checks the follow-up's quote in its source, as for any answer.
    mark = page.locator("#qa-source mark.qa-span")
    page.wait_for_function("document.querySelector('#qa-source mark')?.innerText.includes('12,000')")
    assert "000_98eda58b59ac3056.txt" in page.locator("#qa-source").inner_text()
    assert mark.inner_text().startswith("South Korean intelligence agencies estimate")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web-follow-up.png", full_page=True)


def test_hostile_document_and_question_are_shown_as_text(page):
    ask(page, f"{IMAGE} When is the Zorblax festival held?")

    chat = page.locator("#qa-chat").inner_text()
    assert f"{IMAGE} When is the Zorblax festival held?" in chat  # the question, as typed
    assert f"The Zorblax festival {SCRIPT} is held every March in Quentin {IMAGE} beside the river." in chat
    mark = page.locator("#qa-source mark.qa-span")
    mark.wait_for()
    assert SCRIPT in mark.inner_text() and IMAGE in mark.inner_text()
    assert "hostile.txt" in page.locator("#qa-source").inner_text()

    page.locator("#qa-whole input").check()
    page.wait_for_function("document.querySelector('#qa-source .qa-doc').innerText.includes('${window')")
    assert "Visitors bring paper lanterns ${window.__pwned=1} and *stars* to the square." in \
        page.locator("#qa-source").inner_text()
    page.screenshot(path=ARTIFACTS / "web-hostile.png", full_page=True)

    page.get_by_role("tab", name="Sources").click()
    page.locator("#qa-documents").get_by_text(f"Zorblax notes {IMAGE}").first.wait_for()
    page.screenshot(path=ARTIFACTS / "web-sources.png", full_page=True)

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#qa-chat script, #qa-source script").count() == 0
