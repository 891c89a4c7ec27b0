"""Take README's screenshot: the web chat over the shipped sources, one answer, its citation checked.

    .venv/bin/python docs/screenshot.py            # writes docs/images/chat.png

Starts `qa serve` on a copy of sources/ with an index in a temporary folder (index/ is left
alone), asks one question in headless Debian Chromium (/usr/bin/chromium, driven by Playwright;
no browser is downloaded), waits for citation [1] to open with its span highlighted, and saves
the page.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "chat.png"
CHROMIUM = Path("/usr/bin/chromium")
QUESTION = "How many North Korean troops are estimated to be in training?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"qa serve stopped with status {server.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"qa serve did not answer at {url} in {seconds:.0f} s")


def main() -> int:
    if not CHROMIUM.exists():
        raise SystemExit("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    from PIL import Image
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="qa-screenshot-") as tmp:
        sources = Path(tmp) / "sources"
        shutil.copytree(ROOT / "sources", sources)
        port = free_port()
        qa = Path(sys.executable).parent / "qa"
        server = subprocess.Popen([str(qa), "serve", str(sources), "--index", str(Path(tmp) / "index"),
                                   "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            wait_until_serving(url, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM),
                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                page.fill("#qa-question textarea", QUESTION)
                page.click("#qa-ask")
                page.locator("#qa-chat .qa-answer").first.wait_for(timeout=120_000)
                page.locator("#qa-source mark.qa-span").wait_for(timeout=60_000)
                OUT.parent.mkdir(parents=True, exist_ok=True)
                # The chat scrolls to its newest line; show the question and the answer's start.
                page.evaluate("""() => { window.scrollTo(0, 0);
                    for (const e of document.querySelectorAll('#qa-chat *'))
                        if (e.scrollHeight > e.clientHeight + 1) e.scrollTop = 0; }""")
                page.screenshot(path=OUT, full_page=True)
                browser.close()
            # 256 colours keep the picture under 300 KB with no visible loss.
            Image.open(OUT).quantize(colors=256).save(OUT, optimize=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
