"""The files of an on-disk index (laid out as `qa.index.store` describes): their names, finding the
live generation, and reading and checking a manifest, a segment's facts and the files they list."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath

from qa.config import Settings
from qa.index.backend import IndexUnusable
from qa.index.dense import ModelNotFound, model_path

FORMAT_VERSION = 3
CURRENT = "CURRENT"
SEGMENTS = "segments"
REBUILD_HINT = "; rebuild it with `qa index --rebuild`"
GENERATION_NAME = re.compile(r"gen-\d{6,}")
SEGMENT_NAME = re.compile(r"seg-\d{6,}")
VECTORS = "vectors.f32"
VECTOR_ROWS = "vectors.chunk.npy"
# Larger files are only measured, not checksummed, so that opening a big index stays fast.
CHECKSUM_LIMIT = 64 * 2**20


def live_generation(index_dir: Path) -> Path | None:
    """The folder CURRENT names (which may be damaged or gone), or None when there is no index;
    `index_dir` itself when CURRENT names no generation (empty, not text, or any other name)."""
    try:
        with open(Path(index_dir) / CURRENT, "rb") as f:
            name = f.read(256).decode("utf-8", errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Path(index_dir) / (name if GENERATION_NAME.fullmatch(name) else "")


def what_is_missing(folder: Path, error: FileNotFoundError) -> str:
    """What of generation `folder` is missing, in words, after `error` opening it."""
    if not folder.is_dir():
        return f"{CURRENT} names {folder.name}, which is missing"
    missing = Path(error.filename or "?")
    if missing.parent.parent.name == SEGMENTS:
        return f"{folder.name} names segment {missing.parent.name}, which is missing"
    return f"{missing.name} is missing from {folder.name}"


def unusable(index_dir: Path, what: str) -> str:
    """The message for an unusable index at `index_dir`: what is wrong, and how to mend it."""
    return f"the index at {index_dir} is unusable: {what}" + REBUILD_HINT


def _read_json(path: Path, index_dir: Path) -> dict:
    """The JSON object in index file `path`; IndexUnusable saying what is wrong with it
    (FileNotFoundError when it is missing: a concurrent update may have removed it)."""
    where = path.relative_to(index_dir).as_posix()
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except UnicodeDecodeError as error:
        raise IndexUnusable(unusable(index_dir, f"{where} is not UTF-8 text")) from error
    except json.JSONDecodeError as error:
        raise IndexUnusable(unusable(index_dir, f"{where} is not JSON ({error.msg})")) from error
    except RecursionError as error:
        raise IndexUnusable(unusable(index_dir, f"{where} is JSON nested too deeply")) from error
    except (OSError, ValueError) as error:
        raise IndexUnusable(unusable(index_dir, f"{where} cannot be read ({error})")) from error
    if not isinstance(value, dict):
        raise IndexUnusable(unusable(index_dir, f"{where} holds {_kind(value)}, not a JSON object"))
    return value


def read_manifest(folder: Path) -> dict:
    """The manifest of generation `folder`, of this format and checked to have its shape (so that
    what reads it need not check again); IndexUnusable saying what is wrong otherwise."""
    manifest = _read_json(folder / "manifest.json", folder.parent)
    version = manifest.get("format_version")
    if type(version) is int and version != FORMAT_VERSION:
        raise IndexUnusable(f"the index at {folder.parent} is in format {version}, this qa reads format "
                            f"{FORMAT_VERSION}" + REBUILD_HINT)
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexUnusable(unusable(folder.parent, f"{folder.name}/manifest.json {problem}"))
    return manifest


def read_facts(folder: Path) -> dict:
    """The facts (segment.json) of segment `folder`, checked to have their shape and the files
    they list to match them; IndexUnusable saying what is wrong otherwise."""
    index_dir = folder.parent.parent
    facts = _read_json(folder / "segment.json", index_dir)
    problem = _facts_problem(facts)
    if problem:
        raise IndexUnusable(unusable(index_dir, f"{folder.name}/segment.json {problem}"))
    check_files(folder, facts, index_dir)
    return facts


# The fields of a manifest, of each document entry in it, and of a segment's facts, by type.
_MANIFEST_FIELDS = {"format_version": int, "settings": dict, "chunk_count": int, "segments": list,
                    "documents": list, "files": dict}
_ENTRY_FIELDS = {"source": str, "title": str, "sha256": str, "chunks": int, "indexed_at": str,
                 "segment": int, "number": int}
_FACT_FIELDS = {"rows": int, "dimension": int, "documents": int, "files": dict}


def _manifest_problem(manifest: dict) -> str | None:
    """What makes `manifest` not a manifest of this format, in words; None when its shape is right."""
    missing = _missing_field(manifest, _MANIFEST_FIELDS)
    if missing:
        return missing
    shape, defaults = manifest["settings"], Settings().index_shape()
    for name, value in shape.items():
        if name in defaults and type(value) is not type(defaults[name]):
            return f"records the setting {name} as {_kind(value)}"
    try:
        model_path(Settings().shaped_like(shape).model)  # a pickle, a missing folder: refused, not loaded
    except ModelNotFound as error:
        return f"names a model qa cannot load ({error})"
    except ValueError as error:
        return f"records settings qa cannot use ({error})"
    if not all(isinstance(name, str) and SEGMENT_NAME.fullmatch(name) for name in manifest["segments"]):
        return "names a segment that is not seg-NNNNNN"
    if "partial" in manifest and _partial_problem(manifest["partial"], manifest["segments"]):
        return "has a damaged 'partial' field"
    segments = len(manifest["segments"])
    for number, entry in enumerate(manifest["documents"], start=1):
        if not (isinstance(entry, dict) and all(type(entry.get(k)) is t for k, t in _ENTRY_FIELDS.items())
                and 0 <= entry["segment"] < segments and entry["number"] >= 0 and entry["chunks"] >= 0):
            return f"has a damaged entry for document {number}"
    return None


def _partial_problem(partial, segments: list[str]) -> bool:
    """Whether `partial` (the record of a build that stopped part-way) is not as written."""
    return not (isinstance(partial, dict)
                and all(type(partial.get(k)) is int and partial[k] >= 0
                        for k in ("documents_done", "documents", "chunks_done", "chunks"))
                and isinstance(partial.get("segments"), list)
                and all(isinstance(name, str) and name in segments for name in partial["segments"]))


def _facts_problem(facts: dict) -> str | None:
    """What makes `facts` (a segment.json) not a segment's facts, in words; None when its shape is right."""
    missing = _missing_field(facts, _FACT_FIELDS)
    if missing:
        return missing
    if any(type(facts.get(k, 1)) is not int or facts.get(k, 1) < 0 for k in ("rows", "dimension", "documents",
                                                                            "vectors", "vectors_per_row")):
        return "has a count that is not a whole number"
    return None


def _missing_field(value: dict, fields: dict[str, type]) -> str | None:
    for name, kind in fields.items():
        if type(value.get(name)) is not kind:
            return f"has no {name!r} field of the right kind (found {_kind(value.get(name))})"
    return None


def _kind(value) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
             bool: "true/false", type(None): "nothing"}
    return kinds.get(type(value), type(value).__name__)


def file_facts(folder: Path) -> dict[str, dict]:
    """The size of each file under `folder` but the manifest, and its checksum up to CHECKSUM_LIMIT."""
    facts = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            size = path.stat().st_size
            facts[path.relative_to(folder).as_posix()] = {
                "size": size, "sha256": _sha256(path) if size <= CHECKSUM_LIMIT else None}
    return facts


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def check_files(folder: Path, facts: dict, index_dir: Path) -> None:
    """Check that the files `facts` lists under `folder` are as written; IndexUnusable otherwise."""
    for name, expected in facts["files"].items():
        path = folder / name
        problem = None
        if (not isinstance(expected, dict) or type(expected.get("size")) is not int
                or not isinstance(expected.get("sha256"), (str, type(None)))
                or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts):
            problem = "its entry in the list of files is damaged"
        elif not path.is_file():
            problem = "missing"
        elif path.stat().st_size != expected["size"]:
            problem = f"{path.stat().st_size} bytes, expected {expected['size']}"
        elif expected["sha256"] and _sha256(path) != expected["sha256"]:
            problem = "its contents changed since it was written"
        if problem:
            raise IndexUnusable(unusable(index_dir, f"{path.relative_to(index_dir).as_posix()} is damaged "
                                                    f"({problem})"))
