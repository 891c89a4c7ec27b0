"""The markup formats: Markdown without its YAML front matter, and its "#" headings; an HTML
page's visible text, its <title> and its h1-h3 headings."""

from __future__ import annotations

import html
import re
from bisect import bisect_right

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def without_front_matter(text: str) -> tuple[str, str | None]:
    """Markdown with its YAML front matter blanked to spaces (so offsets still match the file),
    and the front matter's title, or else the first heading's."""
    title, match = None, _FRONT_MATTER.match(text)
    if match:
        fields = front_matter_fields(match.group(1) or "")
        if fields is None or isinstance(fields, dict):
            value = (fields or {}).get("title")
            title = " ".join(str(value).split())[:200] or None if value is not None else None
            text = " " * match.end() + text[match.end():]
    if title is None:
        headings = (re.match(r"#{1,6}\s+(\S.*)", line.strip()) for line in text.split("\n"))
        title = next((h.group(1).rstrip("# \t")[:200] for h in headings if h), None)
    return text, title


# Front matter is a few fields: bounded, since YAML aliases can expand it vastly and nesting slows its parser.
FRONT_MATTER_CHARS = 65_536  # longer front matter is not parsed: YAML aliases can expand it vastly
FRONT_MATTER_DEPTH = 32  # nor front matter nested deeper: nesting slows YAML's parser
_NOT_FRONT_MATTER = "not front matter"
_KEY_LINE = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\n)*[\w\-\"']+[^\n]*:")


def front_matter_fields(block: str) -> dict | None | str:
    """The YAML front matter's fields (None when empty), or "not front matter" when it is not a
    mapping (a horizontal rule "---" followed by text, for instance). A block that YAML would
    expand (aliases) or that nests deeper than FRONT_MATTER_DEPTH is front matter whose fields are
    not read: {} when it starts like a mapping."""
    import yaml

    if len(block) > FRONT_MATTER_CHARS or _bracket_depth(block) > FRONT_MATTER_DEPTH:
        return {} if _KEY_LINE.match(block) else _NOT_FRONT_MATTER
    depth = 0
    try:
        for event in yaml.parse(block, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or depth > FRONT_MATTER_DEPTH:
                return {} if _KEY_LINE.match(block) else _NOT_FRONT_MATTER
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        return yaml.safe_load(block)
    except yaml.YAMLError:
        return _NOT_FRONT_MATTER


def _bracket_depth(block: str) -> int:
    """How deep "[" and "{" nest, quotes ignored (so at most an overestimate), in linear time."""
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", block):
        depth = depth + 1 if match.group() in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


_ATX_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+([^\n]*)", re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)


def markdown_headings(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of the text of each "#" heading line (without its #'s), outside code fences."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    spans = []
    for match in _ATX_HEADING.finditer(text):
        # A "# comment" inside a fenced code block is code, not a heading.
        if bisect_right(fences, match.start()) % 2:
            continue
        # Closing #'s ("## Title ##") are trimmed here: the regex would backtrack quadratically over spaces.
        words = match.group(1).rstrip(" \t")
        closed = words.rstrip("#")
        if closed != words and (not closed or closed[-1] in " \t"):
            words = closed.rstrip(" \t")
        if words:
            spans.append((match.start(1), match.start(1) + len(words)))
    return tuple(spans)


HTML_HEADING_MISSES = 20  # headings not found in a page's text before the rest are left out (see _heading_spans)
_BLOCKS = frozenset(["p", "div", "section", "article", "header", "footer", "aside", "main", "nav",
                     "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "blockquote", "pre", "table",
                     "ul", "ol", "dl", "dt", "dd", "figure", "figcaption", "form"])
_HIDDEN = frozenset(["script", "style", "noscript", "template", "head", "svg", "iframe"])
_HEADINGS = frozenset(["h1", "h2", "h3"])
_TAG = re.compile(r"<[^<>]*>")  # never crosses another "<", so stripping is linear even when tags never close


def html_text(raw: str) -> tuple[str, str | None, tuple[tuple[int, int], ...]]:
    """The visible text of a page, its <title>, and the spans of its h1-h3 headings.

    libxml2 (through lxml) parses in C in time linear in the page, with no recursion; the tree is
    walked once, as a stream of start and end events, so no step looks back over what came before.
    """
    from lxml import etree

    parser = etree.HTMLParser(encoding="utf-8", recover=True, no_network=True, huge_tree=True,
                              remove_comments=True, remove_pis=True)
    root = etree.fromstring(raw.encode("utf-8", "surrogatepass"), parser)
    if any(error.level_name == "FATAL" for error in parser.error_log):
        # libxml2 stops at its nesting limit (or worse); what it read is not the whole page.
        return _visible_lines(html.unescape(_TAG.sub(" ", raw))), None, ()
    if root is None:
        return "", None, ()
    title = root.find(".//title")
    title = " ".join("".join(title.itertext()).split()) or None if title is not None else None
    pieces, heading_texts = _visible_pieces(root)
    text = _visible_lines("".join(pieces))
    return text, title, _heading_spans(text, heading_texts)


def _visible_pieces(root) -> tuple[list[str], list[str]]:
    """The page's text in pieces, in reading order, and the raw text of each h1-h3 heading."""
    from lxml import etree

    pieces: list[str] = []
    breaks: list[int] = []  # pieces that are line breaks still waiting for the text after them
    heading_texts, heading_start = [], None
    cells: list[int] = []  # cells begun in each open table row, innermost last

    def emit(piece: str | None) -> None:
        if not piece:
            return
        # A line break, except inside a word: "Mar<br>ianne" is one word broken for layout.
        for at in breaks:
            before = pieces[at - 1][-1:] if at else ""
            pieces[at] = "" if before.isalpha() and piece[:1].islower() else "\n"
        breaks.clear()
        pieces.append(piece)

    walk = etree.iterwalk(root, events=("start", "end"))
    for event, element in walk:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _HIDDEN:
                walk.skip_subtree()  # its end event still comes, and with it the text after it
            elif tag == "br":
                breaks.append(len(pieces))
                pieces.append("\n")
            else:
                if tag == "tr":
                    cells.append(0)
                elif tag in ("td", "th") and cells:
                    # A row's cells split by " | ", as Word and PowerPoint tables are read.
                    if cells[-1]:
                        emit(" | ")
                    cells[-1] += 1
                if tag in _HEADINGS and heading_start is None:
                    heading_start = (tag, len(pieces))
                emit(element.text)
            continue
        if tag == "tr" and cells:
            cells.pop()
        if tag in _BLOCKS:
            if heading_start is not None and heading_start[0] == tag:
                heading_texts.append("".join(pieces[heading_start[1]:]))
                heading_start = None
            emit("\n\n")
        emit(element.tail)
    return pieces, heading_texts


def _heading_spans(text: str, heading_texts: list[str]) -> tuple[tuple[int, int], ...]:
    """Where each heading stands in the page's `text`.

    Each heading is a block of its own, so its text, folded the same way, is a run of whole lines
    of the page's text; found in order, each after the one before.
    One that is not (inline text just before it shares its line) costs a search to the end, so
    after HTML_HEADING_MISSES of them the rest are left out: reading stays linear in the page.
    """
    spans, cursor, misses = [], 0, 0
    for heading in heading_texts:
        words = _visible_lines(heading)
        found = re.compile(rf"^{re.escape(words)}$", re.MULTILINE).search(text, cursor) if words else None
        if found:
            spans.append(found.span())
            cursor = found.end()
        elif words:
            misses += 1
            if misses > HTML_HEADING_MISSES:
                break
    return tuple(spans)


_BLANKS = re.compile(r"[ \t\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _visible_lines(text: str) -> str:
    # One pass over the whole text, not one per line: a page of 500,000 tiny paragraphs spent a
    # second looking the pattern up.
    lines = (line.strip() for line in _BLANKS.sub(" ", text).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()

