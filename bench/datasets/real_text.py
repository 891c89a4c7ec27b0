"""A folder of real documents, ~10 MB or ~100 MB, to time whole `qa index` builds on (issue 35).

Written under bench/out/ (ignored by git, never committed), one .txt file a document, in a fixed
order of sources, until the size asked for; deterministic on a given machine (the same data and
installed packages give the same bytes). No text is repeated to reach the size: a paragraph of 80
characters or more that was already written (the same words, whitespace aside) is left out, and so
is a document left with under 200 characters; one over 1 MB is written in parts.

The sources, in order, with their licences:

1. COVID-QA's 98 biomedical papers (../shared/train/covid-qa.json.gz; Apache-2.0, Möller et al. 2020), 2.3 MB;
2. SQuAD 1.1 train's 442 Wikipedia articles, their paragraphs' text (../shared/train/squad-v1.1-train.json.gz;
   CC BY-SA 4.0, Rajpurkar et al. 2016), 14.0 MB. 1 and 2 are what bench/indexing/build_throughput.py's
   `--mb` writes: a 10 MB corpus is these two alone;
3. SelQA dev's Wikipedia sections, their candidate sentences (../shared/train/selqa-ass-dev.json.gz; Apache-2.0);
4. Python's own documentation topics (the `pydoc_data.topics` of the installed Python; PSF License);
5. GNU Info manuals under /usr/share/info (coreutils, find, diffutils, …; GNU FDL / GPL);
6. English manual pages, sections 1-8, under /usr/share/man, the roff markup stripped by a small
   converter here (each package's licence, named in /usr/share/doc/PACKAGE/copyright; the Linux
   man-pages project's own for most of sections 2, 3 and 7); the Google Cloud CLI's pages are not here (7);
7. the Google Cloud CLI's reference pages (gcloud_*.1.gz in /usr/share/man/man1; Apache-2.0), its
   generally available commands only (no alpha or beta copies of the same command);
8. Node.js's documentation, its Markdown files under /usr/share/doc/nodejs (MIT);
9. Debian and upstream changelogs under /usr/share/doc/*/ (each package's licence, as 6).

    .venv/bin/python -m bench.datasets.real_text --mb 10     # bench/out/real-text/10mb/
    .venv/bin/python -m bench.datasets.real_text --mb 100    # bench/out/real-text/100mb/

Prints how many bytes and documents each source gave, and writes them with the licences to
FOLDER.README.md beside the folder. Sources 3-9 depend on what the machine has
installed (this one: Debian 12 with the Google Cloud CLI and Node.js); if they run out before the
size asked for, the folder holds what there was and the script says so.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.paths import OUT, SHARED

MAN = Path("/usr/share/man")
DOC = Path("/usr/share/doc")
INFO = Path("/usr/share/info")


def folder_for(megabytes: float) -> Path:
    return OUT / "real-text" / f"{megabytes:g}mb"


# Each source yields (title, text) documents.

def _squad_layout(name: str) -> Iterator[tuple[str, str]]:
    path = SHARED / "train" / name
    if not path.is_file():
        sys.exit(f"needs {path}")
    for n, article in enumerate(json.load(gzip.open(path, "rt", encoding="utf-8"))["data"]):
        yield (str(article.get("title") or f"paper {n}").replace("_", " "),
               "\n\n".join(p["context"] for p in article["paragraphs"]))


def covid() -> Iterator[tuple[str, str]]:
    return _squad_layout("covid-qa.json.gz")


def squad() -> Iterator[tuple[str, str]]:
    return _squad_layout("squad-v1.1-train.json.gz")


def selqa() -> Iterator[tuple[str, str]]:
    path = SHARED / "train" / "selqa-ass-dev.json.gz"
    if not path.is_file():
        return
    sections: dict[str, list[str]] = {}
    for item in json.load(gzip.open(path, "rt", encoding="utf-8")):
        title = " — ".join(str(item.get(k)) for k in ("article", "section") if item.get(k)) or str(item.get("type"))
        sections.setdefault(title, item["candidates"])
    for title, sentences in sections.items():
        yield title, " ".join(sentences)


def python_docs() -> Iterator[tuple[str, str]]:
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return
    for name in sorted(topics):
        yield f"Python documentation: {name}", topics[name]


def info_manuals() -> Iterator[tuple[str, str]]:
    for path in sorted(INFO.glob("*.info*.gz")):
        text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        nodes = [n for n in text.split("\x1f") if n.strip() and not n.lstrip().startswith("Tag Table:")]
        yield f"GNU Info: {path.name.removesuffix('.gz')}", "\n\n".join(nodes)


_NAMED = {"em": "—", "en": "–", "bu": "•", "aq": "'", "dq": '"', "lq": "“", "rq": "”", "oq": "‘", "cq": "’",
          "co": "©", "rg": "®", "tm": "™", "mu": "×", ">=": "≥", "<=": "≤", "->": "→", "<-": "←", "hy": "-",
          "ti": "~", "ha": "^", "rs": "\\", "ga": "`", "dg": "†", "de": "°", "sc": "§", "pl": "+", "eq": "="}
_ESCAPES = re.compile(r"\\(?:f(?:\[[^\]]*\]|\(..|.)|s[+-]?\d+|\*(?:\[[^\]]*\]|\(..|.)|\((..)|\[([^\]]*)\]|[&|^c%:]|"
                      r"(-)|(e)|(0|~| )|n(?:\(..|.)|[kh]'[^']*'|.)")
_BREAKS = {"PP", "P", "LP", "TP", "IP", "HP", "sp", "br", "RS", "RE", "Pp", "Bl", "El", "It", "Sh", "Ss", "nf", "fi",
           "EX", "EE", "in", "ti", "Bd", "Ed", "TQ"}
_DROP = {"TH", "Dd", "Dt", "Os", "ds", "de", "nr", "so", "ig", "if", "ie", "el", "ft", "ps", "ne", "na", "ad", "hy",
         "nh", "ll", "tr", "ta", "cc", "Li", "ev", "als", "rm", "am", "di", "ns", "rs", "IX", "UC", "PD", "AT"}


def _unescape(text: str) -> str:
    def one(match: re.Match) -> str:
        named = match.group(1) or match.group(2)
        if named is not None:
            return _NAMED.get(named, "")
        if match.group(3):
            return "-"
        if match.group(4):
            return "\\"
        if match.group(5):
            return " "
        return ""
    return _ESCAPES.sub(one, text)


def _roff_args(rest: str) -> str:
    return " ".join(part.strip('"') for part in re.findall(r'"[^"]*"|\S+', rest))


def roff_text(source: str) -> str:
    """The words of a man page: requests that print (headings, fonts, mdoc's macros) give their
    arguments, the others nothing; paragraphs are separated by blank lines."""
    lines: list[str] = []
    skipping = False
    for raw in source.splitlines():
        if skipping:  # a macro definition (.de … ..) or an ignored block (.ig … ..)
            skipping = raw.strip() != ".."
            continue
        if raw.startswith(('.\\"', "'\\\"", '\\"', ".\\#")) or raw.strip() in (".", "'"):
            continue
        if raw.startswith((".", "'")):
            request, _, rest = raw[1:].strip().partition(" ")
            if request in ("de", "ig", "de1", "am"):
                skipping = True
                continue
            if request in ("SH", "SS", "Sh", "Ss"):
                lines += ["", _unescape(_roff_args(rest)).strip(), ""]
            elif request in _BREAKS:
                lines.append("")
                if request in ("TP", "IP", "It", "HP", "TQ") and rest:
                    lines.append(_unescape(_roff_args(rest)))
            elif request in _DROP or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,2}", request or "-"):
                continue
            else:  # font and mdoc macros (.B, .BR, .Nm, .Fl …): their arguments are text
                lines.append(_unescape(_roff_args(rest)))
        else:
            lines.append(_unescape(raw))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _man_pages(gcloud: bool) -> Iterator[tuple[str, str]]:
    for section in sorted(p for p in MAN.glob("man[1-8]") if p.is_dir()):
        for path in sorted(section.iterdir()):
            if path.is_symlink() or not path.is_file():
                continue
            if path.name.startswith("gcloud") != gcloud:
                continue
            if gcloud and re.match(r"gcloud_(alpha|beta|preview)(_|\.)", path.name):
                continue
            try:
                source = (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")).read().decode("utf-8", "replace")
            except (OSError, EOFError):
                continue
            if source.lstrip().startswith(".so "):  # a page that only points at another
                continue
            name = path.name.removesuffix(".gz")
            yield f"manual page {name}", roff_text(source)


def man_pages() -> Iterator[tuple[str, str]]:
    return _man_pages(gcloud=False)


def gcloud_pages() -> Iterator[tuple[str, str]]:
    return _man_pages(gcloud=True)


def nodejs_docs() -> Iterator[tuple[str, str]]:
    for path in sorted((DOC / "nodejs").rglob("*.md")):
        yield f"Node.js {path.relative_to(DOC / 'nodejs')}", path.read_text(encoding="utf-8", errors="replace")


def changelogs() -> Iterator[tuple[str, str]]:
    for path in sorted(DOC.glob("*/changelog*.gz")):
        if path.is_symlink():
            continue
        try:
            text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        except (OSError, EOFError):
            continue
        yield f"{path.parent.name} {path.name.removesuffix('.gz')}", text


SOURCES = (("COVID-QA papers (Apache-2.0)", covid), ("SQuAD 1.1 train articles (CC BY-SA 4.0)", squad),
           ("SelQA dev sections (Apache-2.0)", selqa), ("Python documentation topics (PSF)", python_docs),
           ("GNU Info manuals (GFDL/GPL)", info_manuals), ("manual pages 1-8 (packages' licences)", man_pages),
           ("Google Cloud CLI reference pages (Apache-2.0)", gcloud_pages),
           ("Node.js documentation (MIT)", nodejs_docs), ("Debian and upstream changelogs (packages' licences)",
                                                          changelogs))


PART_CHARS = 1_000_000  # a longer document (a changelog of many years) is written in parts of about this size


def _parts(paragraphs: list[str]) -> list[list[str]]:
    """Paragraphs in runs of about `PART_CHARS` characters, under `qa index`'s limit on a document."""
    parts, part, size = [], [], 0
    for paragraph in paragraphs:
        if part and size + len(paragraph) > PART_CHARS:
            parts.append(part)
            part, size = [], 0
        part.append(paragraph)
        size += len(paragraph) + 2
    return [*parts, part] if part else parts


def write(folder: Path, megabytes: float) -> dict[str, tuple[int, int]]:
    """Documents into `folder` until `megabytes` (10^6 bytes) of UTF-8; returns, per source, (documents, bytes)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    limit, written, number = int(megabytes * 1e6), 0, 0
    seen: set[bytes] = set()
    report: dict[str, tuple[int, int]] = {}
    for label, source in SOURCES:
        if written >= limit:
            break
        documents = size = 0
        for title, text in source():
            if written >= limit:
                break
            kept = []
            for paragraph in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
                paragraph = paragraph.strip("\n")
                words = " ".join(paragraph.split())
                if not words:
                    continue
                if len(words) >= 80:
                    key = hashlib.blake2b(words.encode(), digest_size=16).digest()
                    if key in seen:
                        continue
                    seen.add(key)
                kept.append(paragraph)
            if sum(len(p) for p in kept) < 200:
                continue
            for part, paragraphs in enumerate(_parts(kept)):
                body = f"{title}{f' (part {part + 1})' if part else ''}\n\n" + "\n\n".join(paragraphs) + "\n"
                (folder / f"{number:06d}.txt").write_text(body, encoding="utf-8")
                number += 1
                documents += 1
                size += len(body.encode())
                written += len(body.encode())
        report[label] = (documents, size)
    return report


def write_readme(folder: Path, report: dict[str, tuple[int, int]]) -> Path:
    """FOLDER.README.md beside the folder (not in it, where `qa index` would read it): what it holds,
    from where, under which licence."""
    lines = [f"# {folder.name}: real text for timing `qa index` (bench/datasets/real_text.py)", "",
             "Not to be committed or passed on: each source's licence (named beside it) applies.", "",
             "| source (licence) | documents | MB |", "|---|---|---|"]
    lines += [f"| {label} | {documents:,} | {size / 1e6:.2f} |" for label, (documents, size) in report.items()]
    total = sum(size for _, size in report.values())
    lines += [f"| all | {sum(d for d, _ in report.values()):,} | {total / 1e6:.2f} |", "",
              "A paragraph of 80 characters or more that came before is left out: no text is repeated.", ""]
    readme = folder.with_name(folder.name + ".README.md")
    readme.write_text("\n".join(lines))
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--mb", type=float, default=10, help="megabytes of text to write (default 10)")
    parser.add_argument("--out", type=Path, help="folder to write (default bench/out/real-text/<MB>mb)")
    args = parser.parse_args(argv)
    folder = args.out or folder_for(args.mb)
    report = write(folder, args.mb)
    write_readme(folder, report)
    total = sum(size for _, size in report.values())
    for label, (documents, size) in report.items():
        print(f"  {label:52} {documents:6,} documents {size / 1e6:7.2f} MB")
    print(f"{folder}: {sum(d for d, _ in report.values()):,} documents, {total / 1e6:.2f} MB")
    if total < args.mb * 1e6 * 0.99:
        print(f"only {total / 1e6:.1f} MB of distinct real text found, not {args.mb:g}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
