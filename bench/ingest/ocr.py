"""OCR engines on printed English: character error rate and pages per second on 2 cores.

Each shipped .txt source (sources/ and tests/data/natural/*/sources/) is typeset on US Letter
pages at 300 dpi (1-inch margins, Liberation Serif 11 pt, Liberation Sans 10 pt, DejaVu Serif 10 pt
in turn), and each engine reads every page, in `--workers` processes of one thread each.

- CER: Levenshtein distance between the engine's text and the page's text, both with white space
  folded to single spaces, over the page's length; summed over all pages.
- `--scan` first degrades each page as a photocopy would: turned 0.6°, blurred, speckled with
  noise and saved as a JPEG (quality 70).
- pages/s: pages over the wall time of reading them all, each worker's engine loaded beforehand;
  CPU s a page: the workers' CPU time per page, which a busy machine disturbs less than wall time.

    .venv/bin/python -m bench.ingest.ocr --engines tesseract,tesseract-cli,rapidocr-onnxruntime [--scan] \
        [--output bench/out/ocr/engines.json]

The figures are printed, and with `--output` added to that JSON file (bench/results/ocr-engines.yaml
is checked against it).

Engines: `tesseract` is qa.ingest.ocr (tesserocr with libtesseract and tessdata_fast's English
model); `tesseract-cli` the Debian binary through pytesseract; `rapidocr-onnxruntime` (1.4,
PP-OCRv4 models) and `rapidocr` (3.x, PP-OCRv6 small models), both with the models their wheels
bundle. The two RapidOCRs install different OpenCV wheels, so run `rapidocr` from a venv of its own.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import re
import time
from pathlib import Path

from bench.paths import ROOT, SOURCES

DPI = 300
PAGE = (int(8.5 * DPI), 11 * DPI)  # US Letter
MARGIN = DPI
FONTS = (("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf", 11),
         ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", 10),
         ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 10))


def source_texts() -> list[str]:
    paths = sorted(SOURCES.glob("*.txt")) + sorted((ROOT / "tests" / "data" / "natural").glob("*/sources/*.txt"))
    return [path.read_text(encoding="utf-8") for path in paths]


def typeset(text: str, font_path: str, points: int):
    """Pages of `text` (paragraphs split at blank lines, lines wrapped to the margins), each as
    (a grayscale image, the text drawn on it)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, round(points * DPI / 72))
    width, line_height = PAGE[0] - 2 * MARGIN, round(points * DPI / 72 * 1.3)
    lines = []
    for paragraph in re.split(r"\n\s*\n", text):
        line = ""
        for word in paragraph.split():
            if line and font.getlength(f"{line} {word}") > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines += [line, ""]
    per_page = (PAGE[1] - 2 * MARGIN) // line_height
    pages = []
    for first in range(0, len(lines), per_page):
        chunk = lines[first:first + per_page]
        if not "".join(chunk).strip():
            continue
        image = Image.new("L", PAGE, 255)
        draw = ImageDraw.Draw(image)
        for number, line in enumerate(chunk):
            draw.text((MARGIN, MARGIN + number * line_height), line, font=font, fill=0)
        pages.append((image, "\n".join(chunk)))
    return pages


def photocopy(image, seed: int):
    """`image` turned slightly, blurred, speckled and JPEG-compressed, as a cheap scan would be."""
    import numpy as np
    from PIL import Image, ImageFilter

    turned = image.rotate(0.6, resample=Image.BICUBIC, expand=False, fillcolor=255)
    pixels = np.asarray(turned.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32)
    pixels += np.random.default_rng(seed).normal(0, 12, pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=70)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def test_pages(scan: bool) -> list[tuple[object, str]]:
    pages = []
    for number, text in enumerate(source_texts()):
        pages += typeset(text, *FONTS[number % len(FONTS)])
    return [(photocopy(image, seed) if scan else image, text) for seed, (image, text) in enumerate(pages)]


def load_engine(name: str):
    """A function from a page image to its text, with the engine loaded once, on one thread."""
    if name == "tesseract":
        from qa.ingest import ocr

        return lambda image: ocr.page_text(ocr.read_image(image, dpi=DPI))[0]
    if name == "tesseract-cli":
        import pytesseract

        os.environ["OMP_THREAD_LIMIT"] = "1"
        return lambda image: pytesseract.image_to_string(image, lang="eng", config=f"--dpi {DPI}")
    if name == "rapidocr-onnxruntime":
        import numpy as np
        from rapidocr_onnxruntime import RapidOCR

        engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
        return lambda image: "\n".join(line[1] for line in engine(np.asarray(image.convert("RGB")))[0] or [])
    if name == "rapidocr":
        import numpy as np
        from rapidocr import RapidOCR

        engine = RapidOCR(params={"Global.log_level": "warning",
                                  "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                                  "EngineConfig.onnxruntime.inter_op_num_threads": 1})
        return lambda image: "\n".join(engine(np.asarray(image.convert("RGB"))).txts or ())
    raise SystemExit(f"unknown engine {name!r}")


def engine_version(name: str) -> str:
    from importlib.metadata import version

    if name == "tesseract":
        from qa.ingest import ocr

        return f"{ocr.available()} (tesserocr {version('tesserocr')})"
    if name == "tesseract-cli":
        import pytesseract

        return f"tesseract {pytesseract.get_tesseract_version()} (pytesseract {version('pytesseract')})"
    return f"{name} {version(name)}"


_read = None  # this worker's engine


def _start(name: str, ready) -> None:
    global _read
    from PIL import Image, ImageDraw, ImageFont

    _read = load_engine(name)
    line = Image.new("L", (800, 200), 255)
    ImageDraw.Draw(line).text((20, 60), "Warm up the engine.", font=ImageFont.truetype(FONTS[0][0], 50), fill=0)
    _read(line)
    ready.wait()


def _cpu_seconds() -> float:
    """This process's CPU time and that of the children it waited for (the Tesseract command)."""
    return sum(os.times()[:4])


def _read_page(image) -> tuple[str, float]:
    started = _cpu_seconds()
    text = _read(image)
    return text, _cpu_seconds() - started


def measure(name: str, pages, workers: int) -> dict:
    from rapidfuzz.distance import Levenshtein

    context = multiprocessing.get_context("fork")
    ready = context.Barrier(workers + 1)
    with context.Pool(workers, initializer=_start, initargs=(name, ready)) as pool:
        ready.wait()  # every worker has loaded its engine and read one line
        started = time.perf_counter()
        results = pool.map(_read_page, [image for image, _ in pages], chunksize=1)
        wall = time.perf_counter() - started
    folded = lambda text: " ".join(text.split())  # noqa: E731
    errors = sum(Levenshtein.distance(folded(text), folded(ocr_text))
                 for (_, text), (ocr_text, _) in zip(pages, results))
    characters = sum(len(folded(text)) for _, text in pages)
    return {"cer": errors / characters, "pages_per_s": len(pages) / wall,
            "cpu_s_per_page": sum(cpu for _, cpu in results) / len(pages), "pages": len(pages),
            "characters": characters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="tesseract", help="comma-separated: tesseract, tesseract-cli, "
                        "rapidocr-onnxruntime, rapidocr")
    parser.add_argument("--workers", type=int, default=2, help="processes, one engine thread each")
    parser.add_argument("--scan", action="store_true", help="degrade the pages as a photocopy would")
    parser.add_argument("--save-pages", type=Path, help="also write the pages as PNG files to this folder")
    parser.add_argument("--output", type=Path, help="add the figures to this JSON file (made if missing)")
    args = parser.parse_args()
    pages = test_pages(args.scan)
    if args.save_pages:
        args.save_pages.mkdir(parents=True, exist_ok=True)
        for number, (image, text) in enumerate(pages, 1):
            image.save(args.save_pages / f"page-{number:02d}.png", dpi=(DPI, DPI))
            (args.save_pages / f"page-{number:02d}.txt").write_text(text, encoding="utf-8")
    print(f"{len(pages)} pages at {DPI} dpi{', photocopied' if args.scan else ''}; {args.workers} workers; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    suffix = "_scan" if args.scan else ""
    figures = {}
    for name in args.engines.split(","):
        result = measure(name, pages, args.workers)
        key = name.replace("-", "_")
        print(f"# {engine_version(name)}: {result['pages']} pages, {result['characters']:,} characters; "
              f"load average after {os.getloadavg()[0]:.1f}")
        figures[f"{key}{suffix}_cer"] = round(result["cer"], 4)
        figures[f"{key}{suffix}_pages_per_s"] = round(result["pages_per_s"], 2)
        figures[f"{key}{suffix}_cpu_per_page_s"] = round(result["cpu_s_per_page"], 2)
        for figure in list(figures)[-3:]:
            print(f"  {figure}: {figures[figure]}")
    if args.output:
        old = json.loads(args.output.read_text()) if args.output.is_file() else {}
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({**old, **figures}, indent=1) + "\n")


if __name__ == "__main__":
    main()
