"""A Word document added through the web page in a real browser: uploaded with the file chooser,
then asked about, cited with its section heading; script in its text, heading, title and fields
stays text and runs nothing.

Headless Debian Chromium (/usr/bin/chromium) driven by Playwright, as in test_web_browser.py.
"""

from __future__ import annotations

import pytest
from docx import Document as WordDocument

from test_web_browser import ARTIFACTS, IMAGE, SCRIPT, ask, page  # noqa: F401 (fixtures)
from test_web_api import start_app

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")]  # pandas 3 vs gradio


@pytest.fixture(scope="module")
def app(model, tmp_path_factory):
    running, demo = start_app(model, tmp_path_factory.mktemp("browser-docx"))
    yield running
    demo.close()


def write_hostile_report(path):
    word = WordDocument()
    word.core_properties.title = f"Quenby {SCRIPT} lantern report"
    word.add_paragraph(f"Quenby lantern report {IMAGE}", style="Title")
    word.add_paragraph("The lantern festival of Quenby is held every March beside the mill pond.")
    word.add_heading(f"Who pays for the Quenby lanterns? {SCRIPT}", 1)
    word.add_paragraph(f"The Quenby mill society pays for the lanterns {SCRIPT} and for the candles {IMAGE}.")
    table = word.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "year", (0, 1): "lanterns", (1, 0): "2023", (1, 1): "1,240"}.items():
        table.cell(row, col).text = text
    word.save(path)
    return path


def test_a_word_upload_is_answered_with_its_heading_and_runs_nothing(page, app, tmp_path):
    report = write_hostile_report(tmp_path / "quenby.docx")
    page.get_by_role("tab", name="Sources").click()
    page.locator("#qa-upload input[type=file]").set_input_files(str(report))
    status = page.locator("#qa-upload-status")
    status.get_by_text("added quenby.docx").wait_for(timeout=120_000)
    assert (app.sources / "quenby.docx").read_bytes() == report.read_bytes()

    page.get_by_role("tab", name="Chat").click()
    ask(page, "Who pays for the Quenby lanterns?")
    chat = page.locator("#qa-chat")
    assert f"The Quenby mill society pays for the lanterns {SCRIPT} and for the candles {IMAGE}." in chat.inner_text()
    # The citation names the file, its paragraph and the section heading, shown as text.
    label = page.locator("#qa-citations label").first.inner_text()
    assert "quenby.docx" in label and f"· Who pays for the Quenby lanterns? {SCRIPT}" in label
    mark = page.locator("#qa-source mark.qa-span")
    mark.wait_for()
    assert SCRIPT in mark.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "web-docx.png", full_page=True)

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#qa-chat script, #qa-source script, #qa-citations script").count() == 0
