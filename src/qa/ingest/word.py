"""Word documents (.docx): paragraphs, tables and headings in order, after the zip they come in
is checked for bombs, step by step, before python-docx unpacks it whole."""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

from qa.ingest.extract import UnreadableFile, fold_newlines, too_long

# Unpacked bytes a .docx may hold per character of the text limit: Word's XML is verbose, a zip bomb far more so.
DOCX_UNPACKED_BYTES_PER_CHAR = 20


def docx_text(data: bytes, max_chars: int) -> tuple[str, str | None, tuple[tuple[int, int], ...]]:
    """A Word document's paragraphs and tables in order (a table row per line, cells split by
    " | "), paragraphs separated by blank lines, its title, and the spans of its headings."""
    from docx import Document as WordDocument
    from docx.table import Table

    if data.startswith(b"\xd0\xcf\x11\xe0"):  # an OLE compound file: what Word writes when encrypting
        raise UnreadableFile("is encrypted (password-protected), or an old-format Word file saved as "
                             ".docx; save an unprotected .docx copy to index it")
    try:
        check_zip(data, DOCX_UNPACKED_BYTES_PER_CHAR * max_chars,
                  f"more than a Word document within the text limit of {max_chars:,} characters needs "
                  f"(a zip bomb?); raise it with `qa index --max-document-chars` to index this file")
        word = WordDocument(io.BytesIO(data))
        blocks, total = [], 0
        for block in word.iter_inner_content():
            if isinstance(block, Table):
                text = "\n".join(" | ".join(_cells(row)) for row in block.rows)
                heading = False
            else:
                text = block.text
                style = block.style.name if block.style is not None else ""
                heading = style.startswith("Heading") or style == "Title"
            # A paragraph's own line breaks stay, but never as a blank line: that would split it in two.
            text = re.sub(r"\n\s*\n", "\n", fold_newlines(text).replace("\t", " ")).strip()
            if not text:
                continue
            blocks.append((text, heading))
            total += len(text) + 2
            if total > max_chars:
                raise UnreadableFile(too_long(total, max_chars, at_least=True))
        title = (word.core_properties.title or "").strip() or None
    except UnreadableFile:
        raise
    except Exception as error:  # zipfile, lxml and python-docx raise many types for broken files
        raise UnreadableFile(f"not a readable Word document ({type(error).__name__}: {error})") from error
    parts, spans, offset = [], [], 0
    for text, heading in blocks:
        if heading:
            spans.append((offset, offset + len(text)))
        parts.append(text)
        offset += len(text) + 2
    title = title or next((text for text, heading in blocks if heading), None)
    return "\n\n".join(parts), " ".join(title.split())[:200] if title else None, tuple(spans)


ZIP_STEP = 1 << 20  # bytes a zip part is inflated at a time: a bomb is caught a step past its declared size


def check_zip(data: bytes, limit: int, why: str) -> None:
    """Refuse a zip (Word, and any zip-based format) that unpacks to over `limit` bytes, or any of
    whose parts unpacks to more than its directory declares, before a library unpacks it whole.

    Python's zipfile trusts the declared size and inflates a part in one step to reach it;
    here each part is inflated a step at a time, and a part still going past its declared size
    (a small size declared over a huge stream) is refused at the first step past it.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = archive.infolist()
    declared = sum(info.file_size for info in parts)
    if declared > limit:
        raise UnreadableFile(f"unpacks to {declared:,} bytes, {why}")
    view = memoryview(data)
    for info in parts:
        # The part's bytes follow its fixed-size local header, then its name and extra field.
        names, extra = struct.unpack_from("<HH", data, info.header_offset + 26)
        start = info.header_offset + 30 + names + extra
        packed = view[start:start + info.compress_size]
        if info.compress_type == zipfile.ZIP_STORED:
            unpacked = len(packed)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            inflate, unpacked = zlib.decompressobj(-zlib.MAX_WBITS), 0
            while packed and unpacked <= info.file_size:
                unpacked += len(inflate.decompress(packed, ZIP_STEP))
                packed = inflate.unconsumed_tail
        else:
            raise UnreadableFile(f"{info.filename} is packed with zip method {info.compress_type}, which "
                                 f"Office documents never use")
        if unpacked > info.file_size:
            raise UnreadableFile(f"{info.filename} unpacks to more than the {info.file_size:,} bytes its zip "
                                 f"directory declares (a zip bomb?)")


def _cells(row) -> list[str]:
    # A merged cell is listed once for each grid column it spans; it is read once.
    cells, seen = [], {}
    for cell in row.cells:
        if id(cell._tc) not in seen:
            seen[id(cell._tc)] = cell._tc  # kept, so that no other element takes its id
            cells.append(" ".join(cell.text.split()))
    return cells
