"""Answers people can take away: a conversation as Markdown with footnoted quotes, or as JSON that
carries what anyone needs to check each quote later, and that check (`verify`).

Every quote is `document.text[start:end]` of a source's extracted text, and every citation
carries the SHA-256 of that text, so a quote can be found again later: still exact, moved (the
document changed around it) or gone. Only `verify` reads files; the rest is plain data in, text out.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from qa.ingest.documents import UnreadableFile, read_document
from qa.errors import UserError

FORMAT = "qa-export"
VERSION = 1
ABOUT = ("Each citation's quote is text[start:end] of the text qa extracted from its source file "
         "(Python string indices: Unicode code points, end exclusive; `qa show SOURCE` prints that "
         "text), and text_sha256 is the SHA-256 of that text in UTF-8. `qa verify THIS_FILE "
         "--sources DIR` checks every quote again.")
SHORT_QUOTE = 60  # characters of a quote shown in a verification line
# A long conversation's export is a few MB: a file past this is no export (and /dev/zero never ends).
MAX_EXPORT_BYTES = 64 * 2**20
# Verification reads a source whatever limits its index had (`qa index --max-file-mb` goes to 2 GB).
_NO_LIMIT_BYTES, _NO_LIMIT_CHARS = 2**31, 10**9


class ExportError(UserError):
    """A file that is not a qa export (or not one this version reads); the message says why."""


@dataclass(frozen=True)
class QuoteCheck:
    """What became of one exported quote when its source was read again."""
    answer: int  # 1-based: which answer of the export
    n: int  # the citation's number in that answer
    source: str
    start: int  # where the quote was, in the exported document text
    end: int
    quote: str
    status: str  # "exact", "moved", "gone", or "missing" (the source is not there or unreadable)
    new_start: int | None = None  # where a moved quote is now
    new_end: int | None = None
    text_changed: bool | None = None  # the document's text differs from the exported one (None: unknown)
    reason: str = ""  # for "missing": why the source could not be read
    ocr: bool = False  # the quote was read by OCR from a PDF page (its text depends on the OCR mode)

    @property
    def exact(self) -> bool:
        return self.status == "exact"

    def line(self) -> str:
        """One line for a reader: status, which quote, where it was (and is), its beginning."""
        quote = " ".join(self.quote.split())
        shown = quote if len(quote) <= SHORT_QUOTE else quote[:SHORT_QUOTE - 1] + "…"
        head = f"{self.status:<7} Q{self.answer} [{self.n}] {self.source}"
        if self.status == "missing":
            return f"{head} “{shown}”: source missing: {self.reason}"
        where = f"chars {self.start}-{self.end}"
        if self.status == "moved":
            where += f" → {self.new_start}-{self.new_end}"
        tail = {"exact": " (the document changed elsewhere)" if self.text_changed else "",
                "moved": "",
                "gone": ": no longer in the document" + (
                    " (read by OCR: give --ocr as the index was built)" if self.ocr else "")}[self.status]
        return f"{head} {where} “{shown}”{tail}"


# --- Export: answers (Answer.as_dict() or Answer) in, text or JSON out --------------------------

def to_json(answers, exported_at: str | None = None) -> dict:
    """The conversation as one JSON object, with a format name and version, that `verify` reads:
    per citation the source, offsets, quote and the SHA-256 of the source's extracted text."""
    exported = {"format": FORMAT, "version": VERSION}
    if exported_at:
        exported["exported_at"] = exported_at
    exported["about"] = ABOUT
    exported["answers"] = [_without_passages(_plain(a)) for a in answers]
    return exported


def to_markdown(answers, exported_at: str | None = None) -> str:
    """The conversation as Markdown: each question a heading, each quote verbatim with a footnote
    giving its file, title, paragraph, page, offsets and text hash; abstentions say so."""
    from qa.read.answer import UNSURE

    answers = [_plain(a) for a in answers]
    several = len(answers) > 1
    lines = ["# qa — answers quoted from your documents", ""]
    when = f"Exported {exported_at}. " if exported_at else ""
    lines += [when + "Every quote is verbatim from the source named in its footnote; the JSON export "
                     "lets `qa verify` check them again.", ""]
    for i, answer in enumerate(answers, start=1):
        # Footnote labels are global to a Markdown file: in a conversation, answer.citation.
        def label(n: int, i: int = i) -> str:
            return f"{i}.{n}" if several else str(n)

        lines += [f"## {_md(answer.get('question') or '(empty question)')}", ""]
        citations = answer.get("citations") or []
        if answer.get("error"):
            lines += [f"*Not searched: {_md(answer['error'])}*", ""]
            continue
        if answer.get("abstained"):
            lines += [f"**{_md(answer.get('message') or 'The sources do not answer this question.')}**", ""]
            if citations:
                lines += ["Nearest passages (not an answer):", ""]
                lines += [f"- “{_md(c['quote'])}” [^{label(c['n'])}]" for c in citations] + [""]
        else:
            if answer.get("unsure"):
                lines += [f"*{UNSURE}*", ""]
            by_n = {c["n"]: c for c in citations}
            quoted = [q["citation"] for q in answer.get("answer") or []]
            for n in quoted:
                c = by_n[n]
                lines += [f"> “{_marked_md(c)}” [^{label(n)}]", ""]
            others = [c for c in citations if c["n"] not in quoted]
            if others:
                lines += ["Also cited:", ""]
                lines += [f"- “{_marked_md(c)}” [^{label(c['n'])}]" for c in others] + [""]
        lines += [f"[^{label(c['n'])}]: {_footnote(c)}" for c in citations]
        lines += [""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _plain(answer) -> dict:
    return answer.as_dict() if hasattr(answer, "as_dict") else answer


def _without_passages(answer: dict) -> dict:
    # The passage around each quote is for reading in the app; the offsets locate it again.
    return {**answer, "citations": [{k: v for k, v in c.items() if k != "passage"}
                                    for c in answer.get("citations") or []]}


_MD_ACTIVE = re.compile(r"([\\`*_\[\]<>#|~$&])")


def _md(text: str) -> str:
    """`text` as Markdown that renders as exactly this text on one line: markup characters are
    escaped (a quote may hold `<script>` or `*`), line breaks folded to spaces."""
    return _MD_ACTIVE.sub(r"\\\1", " ".join(str(text).split()))


def _marked_md(c: dict) -> str:
    """A citation's quote with its answer words in bold (display only: the quote stays verbatim)."""
    quote = c["quote"]
    if "answer_start" not in c or not c["start"] <= c["answer_start"] < c["answer_end"] <= c["end"]:
        return _md(quote)
    a, b = c["answer_start"] - c["start"], c["answer_end"] - c["start"]
    before, words, after = quote[:a], quote[a:b], quote[b:]
    if not words.strip():
        return _md(quote)
    # `**` must hug its words (Markdown ignores "** words **"), so the spaces around them go outside.
    gap_before = " " if before.strip() and (before[-1].isspace() or words[0].isspace()) else ""
    gap_after = " " if after.strip() and (after[0].isspace() or words[-1].isspace()) else ""
    return f"{_md(before)}{gap_before}**{_md(words)}**{gap_after}{_md(after)}"


def _code(text: str) -> str:
    """`text` as a Markdown code span (file names: shown as they are, underscores and all)."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _footnote(c: dict) -> str:
    page = f", page {c['page']}" if c.get("page") else ""
    heading = f", section “{_md(c['heading'])}”" if c.get("heading") else ""
    digest = f" (text SHA-256 {c['text_sha256'][:16]}…)" if c.get("text_sha256") else ""
    return (f"*{_md(c.get('title') or c['source'])}* — {_code(c['source'])}, ¶{c.get('paragraph')}{page}"
            f"{heading}, characters {c['start']}–{c['end']}{digest}")


# --- Verification: an export and the sources folder in, one QuoteCheck per quote out -----------

def load_export(path: str | Path):
    """The JSON in the file `path`, read only when it is a regular file of at most MAX_EXPORT_BYTES
    (a pipe can hang a reader, a device never end); ExportError saying what is wrong otherwise."""
    path = Path(path)
    wanted = "the JSON file a qa export or `qa ask --json` wrote"
    try:
        facts = path.stat()
    except FileNotFoundError:
        raise ExportError(f"no file {path}: give {wanted}") from None
    if stat.S_ISDIR(facts.st_mode):
        raise ExportError(f"{path} is a folder: give {wanted}")
    if not stat.S_ISREG(facts.st_mode):
        raise ExportError(f"{path} is not a regular file (a pipe, a device): give {wanted}")
    if facts.st_size > MAX_EXPORT_BYTES:
        raise ExportError(f"{path} is {facts.st_size / 2**20:,.0f} MB, larger than any qa export "
                          f"(at most {MAX_EXPORT_BYTES // 2**20} MB)")
    # O_NONBLOCK: should the file be swapped for a pipe since, opening it does not wait for a writer.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
        data = f.read(MAX_EXPORT_BYTES + 1)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ExportError(f"{path} is not UTF-8 text, so not a qa export") from None
    except json.JSONDecodeError as error:
        raise ExportError(f"{path} is not JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise ExportError(f"{path} is JSON nested too deeply to be a qa export") from None


def read_export(data) -> list[dict]:
    """The answers of a qa export (`to_json`) or of one `qa ask --json` answer, checked enough to
    verify; ExportError saying what is wrong with anything else."""
    if not isinstance(data, dict):
        raise ExportError(f"not a qa export: expected a JSON object, found {_kind(data)}")
    if "format" in data:
        if data["format"] != FORMAT:
            raise ExportError(f"not a qa export: its format is {data['format']!r}, not {FORMAT!r}")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ExportError(f"a qa export without a valid version (found {version!r})")
        if version > VERSION:
            raise ExportError(f"a qa export of version {version}; this qa reads version {VERSION}: update qa")
        answers = data.get("answers")
        if not isinstance(answers, list):
            raise ExportError("a qa export without its list of answers")
    elif "question" in data and "citations" in data:
        answers = [data]  # `qa ask --json`
    else:
        raise ExportError("not a qa export: no \"format\": \"qa-export\" and not a `qa ask --json` answer")
    for i, answer in enumerate(answers, start=1):
        citations = answer.get("citations") if isinstance(answer, dict) else None
        if not isinstance(citations, list):
            raise ExportError(f"answer {i} has no list of citations")
        for j, c in enumerate(citations, start=1):
            _check_citation(c, f"answer {i}, citation {j}")
    return answers


def _check_citation(c, where: str) -> None:
    if not isinstance(c, dict):
        raise ExportError(f"{where} is {_kind(c)}, not an object")
    for name in ("n", "start", "end"):
        if not isinstance(c.get(name), int) or isinstance(c.get(name), bool) or c[name] < 0:
            raise ExportError(f"{where}: {name!r} must be a whole number ≥ 0, not {c.get(name)!r}")
    if c["end"] < c["start"]:
        raise ExportError(f"{where}: 'end' ({c['end']}) is before 'start' ({c['start']})")
    for name in ("source", "quote"):
        if not isinstance(c.get(name), str) or not c[name]:
            raise ExportError(f"{where}: {name!r} must be non-empty text")
    if not isinstance(c.get("text_sha256", ""), str):
        raise ExportError(f"{where}: 'text_sha256' must be text")


def _kind(value) -> str:
    kinds = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def verify(export, sources_dir: Path, ocr: str | None = None) -> list[QuoteCheck]:
    """Each quote of `export` checked against its source in `sources_dir`, read again as qa reads
    it (PDF pages by OCR as `ocr` chooses, Settings.ocr): exact (same offsets), moved (found
    elsewhere in the document, nearest first), gone, or missing (no such file, or unreadable).
    ExportError when `export` is not a qa export."""
    answers = read_export(export)
    texts: dict[str, tuple[str | None, str]] = {}  # each source is read once
    checks = []
    for i, answer in enumerate(answers, start=1):
        for c in answer["citations"]:
            if c["source"] not in texts:
                texts[c["source"]] = _source_text(Path(sources_dir), c["source"], ocr)
            text, reason = texts[c["source"]]
            checks.append(check_quote(i, c, text, reason))
    return checks


def check_quote(answer: int, citation: dict, text: str | None, reason: str = "") -> QuoteCheck:
    """What became of one citation's quote in `text`, its document's text now (None: unreadable)."""
    c = citation
    base = dict(answer=answer, n=c["n"], source=c["source"], start=c["start"], end=c["end"], quote=c["quote"],
                ocr=bool(c.get("ocr")))
    if text is None:
        return QuoteCheck(**base, status="missing", reason=reason)
    changed = (hashlib.sha256(text.encode("utf-8")).hexdigest() != c["text_sha256"]
               if c.get("text_sha256") else None)
    if text[c["start"]:c["end"]] == c["quote"]:
        return QuoteCheck(**base, status="exact", text_changed=changed)
    found = nearest_occurrence(text, c["quote"], c["start"])
    if found is None:
        return QuoteCheck(**base, status="gone", text_changed=changed)
    return QuoteCheck(**base, status="moved", new_start=found, new_end=found + len(c["quote"]),
                      text_changed=changed)


def nearest_occurrence(text: str, quote: str, near: int) -> int | None:
    """The start of the occurrence of `quote` in `text` closest to `near`, or None."""
    best, at = None, text.find(quote)
    while at != -1:
        if best is None or abs(at - near) < abs(best - near):
            best = at
        if at > near:  # later ones are only farther away
            break
        at = text.find(quote, at + 1)
    return best


def _source_text(sources_dir: Path, source: str, ocr: str | None = None) -> tuple[str | None, str]:
    """A source's extracted text, or None and why it cannot be read."""
    parts = PurePosixPath(source)
    # An export is a file from anywhere: it may name only files inside the sources folder.
    if parts.is_absolute() or ".." in parts.parts or "\\" in source or re.match(r"^[A-Za-z]:", source):
        return None, f"{source!r} is not a file name inside the sources folder"
    path = sources_dir / source
    if not path.is_file():
        return None, f"no such file in {sources_dir}"
    try:
        return read_document(path, source, _NO_LIMIT_BYTES, _NO_LIMIT_CHARS, ocr=ocr).text, ""
    except UnreadableFile as error:
        return None, f"cannot be read: {error}"
