"""PowerPoint (.pptx) and Excel (.xlsx) files: a slide's or a sheet's text in order, its number as
the page, after the zip they come in is checked for bombs (qa.ingest.word.check_zip)."""

from __future__ import annotations

import datetime
import io
import re

from qa.ingest.extract import UnreadableFile, fold_newlines, too_long
from qa.ingest.word import check_zip

# Unpacked bytes a file may hold per character of the text limit: slides carry layouts, themes and
# pictures around little text, and a sheet's XML spends tens of bytes on a short cell.
UNPACKED_BYTES_PER_CHAR = 40

# What each reader returns: text, title, heading spans, page start offsets.
Read = tuple[str, "str | None", tuple[tuple[int, int], ...], tuple[int, ...]]


def pptx_text(data: bytes, max_chars: int) -> Read:
    """A presentation's slides in order, each from its start offset a page: its title, its text
    frames' paragraphs top to bottom and left to right, its tables (a row per line, cells split by
    " | ") and its speaker notes after "Notes: ". The title is the first slide's, else the file's."""
    from pptx import Presentation

    pages, total = [], 0
    try:
        _check(data, max_chars, "a presentation")
        presentation = Presentation(io.BytesIO(data))
        for slide in presentation.slides:
            blocks = []
            title = slide.shapes.title
            if title is not None and title.has_text_frame:
                blocks.append((_clean(title.text_frame.text), True))
            for shape in sorted(_shapes(slide.shapes), key=lambda s: (s.top or 0, s.left or 0)):
                if title is not None and shape.shape_id == title.shape_id:
                    continue
                if shape.has_text_frame:
                    blocks.extend((_clean(p.text), False) for p in shape.text_frame.paragraphs)
                elif getattr(shape, "has_table", False) and shape.has_table:
                    rows = (" | ".join(" ".join(cell.text.split()) for cell in row.cells)
                            for row in shape.table.rows)
                    blocks.append(("\n".join(row for row in rows if row.strip(" |")), False))
            notes = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
            said = [text for text in (_clean(p.text) for p in notes.paragraphs) if text] if notes else []
            if said:
                said[0] = "Notes: " + said[0]
            blocks.extend((text, False) for text in said)
            blocks = [(text, heading) for text, heading in blocks if text]
            total += sum(len(text) + 2 for text, _ in blocks)
            if total > max_chars:
                raise UnreadableFile(too_long(total, max_chars, at_least=True))
            pages.append(blocks)
        first = pages[0][0][0] if pages and pages[0] and pages[0][0][1] else None
        title = first or (presentation.core_properties.title or "").strip() or None
    except UnreadableFile:
        raise
    except Exception as error:  # zipfile, lxml and python-pptx raise many types for broken files
        raise UnreadableFile(f"not a readable PowerPoint file ({type(error).__name__}: {error})") from error
    return _joined(pages, title)


def xlsx_text(data: bytes, max_chars: int) -> Read:
    """A workbook's sheets in order, each a page headed by its name, then a line for each row
    that holds a value: "Row N: " and its cells' values (as last calculated) split by " | "."""
    from openpyxl import load_workbook

    pages, total, cells = [], 0, 0
    try:
        _check(data, max_chars, "a workbook")
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                blocks = [(_clean(sheet.title), True)]
                for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
                    # Empty cells cost time too: a sheet with one value far away pads every row up to it.
                    cells += len(row)
                    if cells > max_chars:
                        raise UnreadableFile(f"has more than {max_chars:,} cells to read, empty ones "
                                             f"included; raise `qa index --max-document-chars` to index it")
                    values = [_cell(value) for value in row]
                    while values and not values[-1]:
                        values.pop()
                    if values:
                        blocks.append((f"Row {number}: " + " | ".join(values), False))
                        total += len(blocks[-1][0]) + 2
                        if total > max_chars:
                            raise UnreadableFile(too_long(total, max_chars, at_least=True))
                pages.append(blocks)
            title = (workbook.properties.title or "").strip() or None
        finally:
            workbook.close()
    except UnreadableFile:
        raise
    except Exception as error:  # zipfile, lxml and openpyxl raise many types for broken files
        raise UnreadableFile(f"not a readable Excel workbook ({type(error).__name__}: {error})") from error
    return _joined(pages, title)


def _check(data: bytes, max_chars: int, kind: str) -> None:
    if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE compound file: encrypted, or the old binary format
        raise UnreadableFile("is encrypted (password-protected), or an old-format Office file given a new "
                             "suffix; save an unprotected copy in the new format to index it")
    check_zip(data, UNPACKED_BYTES_PER_CHAR * max_chars,
              f"more than {kind} within the text limit of {max_chars:,} characters needs (a zip bomb?); "
              f"raise it with `qa index --max-document-chars` to index this file")


def _shapes(shapes):
    # A group's shapes are read where the group stands, in their own order.
    for shape in shapes:
        if hasattr(shape, "shapes"):
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _clean(text: str) -> str:
    # PowerPoint's line breaks inside a paragraph come as vertical tabs; never a blank line in a block.
    text = fold_newlines(text).replace("\v", "\n").replace("\t", " ")
    return re.sub(r"\n\s*\n", "\n", text).strip()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    return _clean(str(value)).replace("\n", " ")


def _joined(pages: list[list[tuple[str, bool]]], title: str | None) -> Read:
    # Blocks are separated by blank lines; each page starts where its first block does (an empty
    # page where the next text would), so page N is slide or sheet N.
    parts, headings, starts, offset = [], [], [], 0
    for blocks in pages:
        starts.append(offset)
        for text, heading in blocks:
            if heading:
                headings.append((offset, offset + len(text)))
            parts.append(text)
            offset += len(text) + 2
    return ("\n\n".join(parts), " ".join(title.split())[:200] if title else None, tuple(headings),
            tuple(starts))
