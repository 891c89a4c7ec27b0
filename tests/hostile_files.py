"""Makers of hostile files (issue 34), shared by the tests and bench/ingest/hostile_files.py."""

from __future__ import annotations

import struct
import zipfile
import zlib

from docx import Document as WordDocument


def alias_bomb(field: str, depth: int = 10) -> str:
    """Front matter whose `field` names 9**depth "lol"s through nested aliases, in a few hundred bytes."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth - 1)]
    lines.append(f"{field}: [" + ", ".join([f"*a{depth - 2}"] * 9) + "]")
    return "---\n" + "\n".join(lines) + "\n---\n# Real heading\n\nThe mill opened in 1891.\n"


MEGABYTE = 1_000_000
HTML_SHAPES = {
    "line breaks": "<br>",
    "nested divs": "<div>",
    "unclosed div and span": "<div><span>",
    "unclosed comments": "<!--xx",
    "unclosed tags": "<a ",
    "paragraphs": "<p>x",
    "table cells": "<table><tr><td>y",
    "entities": "&#",
}


def lying_docx(path, inflated: int) -> None:
    """A Word file whose word/document.xml inflates to `inflated` bytes while its zip directory
    declares 1,000."""
    word = WordDocument()
    word.add_paragraph("A short report.")
    word.save(path)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = b"".join(squeeze.compress(b" " * 2**20) for _ in range(inflated // 2**20)) + squeeze.flush()
    with zipfile.ZipFile(path) as archive:
        parts = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in parts:
            if info.filename != "word/document.xml":
                archive.writestr(info, data)
    raw = bytearray(path.read_bytes())
    # Appended by hand: a local header and a directory entry that both declare 1,000 bytes.
    name, crc = b"word/document.xml", zlib.crc32(b" " * 1000)
    directory = raw.index(b"PK\x01\x02")
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(stream), 1000, len(name), 0) + name
    entry = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(stream), 1000,
                        len(name), 0, 0, 0, 0, 0, directory) + name
    end = raw.index(b"PK\x05\x06")
    entries, size = struct.unpack("<H4xL", raw[end + 10:end + 20])[0], len(raw[directory:end])
    tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries + 1, entries + 1, size + len(entry),
                       directory + len(local) + len(stream), 0)
    path.write_bytes(bytes(raw[:directory]) + local + stream + bytes(raw[directory:end]) + entry + tail)
