"""A PDF citation in the web app: the /ask API gives its page boxes, the citation checker shows the
page drawn with the quote highlighted and a link that opens the PDF at that page, and that link
serves indexed PDFs and nothing else. Headless Debian Chromium checks where the highlight falls."""

from __future__ import annotations

import io
import socket

import httpx
import numpy as np
import pytest
from gradio_client import Client
from PIL import Image
from reportlab.lib.pagesizes import A4

from qa.app import web
from qa.app.web_chat import answered
from qa.app.web_citations import citation_panel
from qa.config import Settings
from qa.ingest.pdf_quotes import ANSWER_COLOUR, QUOTE_COLOUR
from test_pdf_citations import QUESTION, ledger
from test_pdf_positions import bare, read_back
from test_web_browser import ARTIFACTS, ask

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")  # pandas 3 vs gradio



def start(pipeline, auth=None):
    demo = web.build_app(pipeline)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web.launch(demo, "127.0.0.1", port, block=False, auth=auth)
    return f"http://127.0.0.1:{port}/", demo


@pytest.fixture(scope="module")
def pipeline(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("web-pdf")
    sources = root / "sources"
    sources.mkdir()
    (sources / "ledger.pdf").write_bytes(ledger())
    (sources / "notes.txt").write_text("Notes about bees.\n\nBees make honey near the orchard every summer.\n")
    return web.prepare(Settings(index_dir=root / "index", sources_dir=sources, device="cpu"), model, progress=False)


@pytest.fixture(scope="module")
def app(pipeline):
    url, demo = start(pipeline)
    yield url
    demo.close()


def pdf_citation(answer: dict) -> dict:
    return next(c for c in answer["citations"] if c["source"] == "ledger.pdf")


def test_the_ask_api_gives_a_pdf_citation_its_page_and_boxes(app, pipeline):
    answer = Client(app, verbose=False).predict(QUESTION, api_name="/ask")
    cited = pdf_citation(answer)
    data = (pipeline.settings.sources_dir / "ledger.pdf").read_bytes()
    assert cited["page"] == 2 and cited["boxes_note"] is None
    assert bare(read_back(data, 2, cited["boxes"])) == bare(cited["quote"])
    assert bare(read_back(data, 2, cited["answer_boxes"])) == bare(cited["quote"][
        cited["answer_start"] - cited["start"]:cited["answer_end"] - cited["start"]])
    other = [c for c in answer["citations"] if c["source"] != "ledger.pdf"]
    assert other and "boxes" not in other[0]


def link_of(panel: str) -> str:
    start = panel.index('class="qa-page-link" href="') + len('class="qa-page-link" href="')
    return panel[start:panel.index('"', start)]


def test_the_pdf_link_serves_the_indexed_pdf_and_no_other_file(app, pipeline):
    answer = answered(pipeline, QUESTION, None, None)
    panel = citation_panel(pipeline, [answer], 0, pdf_citation(answer)["n"], False)
    link = link_of(panel)
    assert link.startswith("gradio_api/file=") and link.endswith("/ledger.pdf#page=2")
    sources = pipeline.settings.sources_dir
    served = httpx.get(app + link.split("#")[0])
    assert served.status_code == 200 and served.content == (sources / "ledger.pdf").read_bytes()
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-disposition"].startswith("inline")
    # The sources folder itself is not served: not the PDF, not the other documents, not a file
    # put there that was never indexed.
    (sources / "unindexed.pdf").write_bytes(ledger())
    try:
        for name in ("ledger.pdf", "notes.txt", "unindexed.pdf"):
            assert httpx.get(f"{app}gradio_api/file={sources / name}").status_code == 403
    finally:
        (sources / "unindexed.pdf").unlink()


def test_behind_a_password_the_pdf_link_needs_the_login(pipeline):
    url, demo = start(pipeline, auth=("qa", "s3cret"))
    try:
        answer = answered(pipeline, QUESTION, None, None)
        link = link_of(citation_panel(pipeline, [answer], 0, pdf_citation(answer)["n"], False)).split("#")[0]
        assert httpx.get(url + link).status_code == 401
        with httpx.Client(base_url=url) as browser:
            assert browser.post("login", data={"username": "qa", "password": "s3cret"}).status_code == 200
            assert browser.get(link).headers["content-type"] == "application/pdf"
    finally:
        demo.close()


def test_a_pdf_changed_since_the_answer_shows_its_text_check_and_a_note(pipeline):
    answer = answered(pipeline, QUESTION, None, None)
    path = pipeline.settings.sources_dir / "ledger.pdf"
    kept = path.read_bytes()
    path.write_bytes(kept + b"\n% appended\n")
    try:
        panel = citation_panel(pipeline, [answer], 0, pdf_citation(answer)["n"], False)
    finally:
        path.write_bytes(kept)
    assert "The page cannot be shown: ledger.pdf changed since it was indexed" in panel
    assert "qa-page-image" not in panel and 'class="qa-doc"' in panel  # the text view stays


def near(pixels: np.ndarray, colour, tolerance: int = 24) -> np.ndarray:
    return np.all(np.abs(pixels.astype(int) - colour) <= tolerance, axis=2)


def within(shape, rectangles, scale: float, slack: int = 3) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in rectangles:
        mask[max(0, int(y0 * scale) - slack):int(np.ceil(y1 * scale)) + slack,
             max(0, int(x0 * scale) - slack):int(np.ceil(x1 * scale)) + slack] = True
    return mask


@pytest.mark.browser
def test_the_checker_shows_the_page_with_the_highlight_inside_the_quotes_boxes(browser, app, pipeline):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app)
        page.wait_for_selector("#qa-question textarea")
        ask(page, QUESTION)
        page.locator("#qa-citations label", has_text="ledger.pdf").first.click()
        image = page.locator("#qa-source img.qa-page-image")
        image.wait_for()
        page.wait_for_function("document.querySelector('#qa-source img.qa-page-image').complete")
        source = page.locator("#qa-source")
        assert "Page 2 of ledger.pdf" in source.inner_text()
        assert page.locator("#qa-source a.qa-page-link").get_attribute("href").endswith("ledger.pdf#page=2")
        # The text view stays, its span the quote.
        answer = answered(pipeline, QUESTION, None, None)
        cited = pdf_citation(answer)
        assert source.locator(".qa-doc mark.qa-span").inner_text() == cited["quote"]

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "web-pdf-page.png", full_page=True)
        shot = np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("RGB"))
        scale = shot.shape[1] / A4[0]  # the page's width in points, drawn at the image's width
        yellow, orange = near(shot, QUOTE_COLOUR), near(shot, ANSWER_COLOUR)
        assert yellow.sum() > 50 and orange.sum() > 20
        shape = shot.shape[:2]
        assert not (yellow & ~within(shape, cited["boxes"], scale)).any()
        assert not (orange & ~within(shape, cited["answer_boxes"], scale)).any()
    finally:
        page.close()
