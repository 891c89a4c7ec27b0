"""Generations of an on-disk index: numbering them and their segments, writing one atomically and
pointing CURRENT at it, one writer at a time, and removing what no kept generation names."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import Settings
from qa.index.backend import IndexUnusable
from qa.index.store_files import CURRENT, FORMAT_VERSION, SEGMENTS, live_generation

if TYPE_CHECKING:
    from qa.index.store_segment import Segment


class IndexNotWritten(IndexUnusable):
    """An update could not be written (disk full, no permission); the previous index is untouched."""


def write_generation(index_dir: Path, settings: Settings, segments: list[Segment], entries: list[dict],
                     previous: str | None, unfinished: dict | None = None) -> str:
    """Write a generation of `segments` and `entries` and point CURRENT at it, keeping the generation
    `previous` one round; returns its name, or raises IndexNotWritten. `unfinished`: the manifest's
    "partial" record, when the build it is part of has more to do (see `qa.index.store`)."""
    generation = _next_generation(index_dir)
    partial = index_dir / f".{generation}.partial"
    pointer = index_dir / f".{CURRENT}.tmp"
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": settings.index_shape(),
            "model": {"name": settings.model,
                      "dimension": int(segments[0].facts["dimension"]) if segments else None},
            "versions": _versions(),
            "chunk_count": sum(e["chunks"] for e in entries),
            "segments": [s.folder.name for s in segments],
            "documents": entries,
            "files": {},
        }
        if unfinished is not None:
            manifest["partial"] = unfinished
        # One line: json's C encoder is much faster than its indenting one on a big manifest.
        (partial / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
        fsync_tree(partial)
        os.rename(partial, index_dir / generation)
        fsync_dir(index_dir)
        pointer.write_text(generation + "\n")
        with open(pointer, "rb") as f:
            os.fsync(f.fileno())
        os.replace(pointer, index_dir / CURRENT)
        fsync_dir(index_dir)
    except OSError as error:
        # Disk full, no permission: leave nothing half-written behind; the old index stays live.
        shutil.rmtree(partial, ignore_errors=True)
        pointer.unlink(missing_ok=True)
        if live_generation(index_dir) != index_dir / generation:
            shutil.rmtree(index_dir / generation, ignore_errors=True)
            remove_unused_segments(index_dir)
        raise IndexNotWritten(not_written(index_dir, error)) from error
    _remove_old_generations(index_dir, keep={generation, previous or ""})
    remove_unused_segments(index_dir)
    return generation


def not_written(index_dir: Path, error: OSError) -> str:
    """The message for an update that could not be written to `index_dir`."""
    why = "the disk is full" if error.errno == errno.ENOSPC else f"{error.strerror or error}"
    return (f"the new index could not be written to {index_dir}: {why}. Nothing was changed: the "
            f"previous index still answers. Free some space (or fix the permissions) and run `qa index` again")


def next_segment(index_dir: Path) -> str:
    """A name for a new segment under `index_dir`."""
    # Hidden partial folders count too: a name is never reused, even after a killed write.
    names = [p.name.strip(".").removesuffix(".partial") for p in (index_dir / SEGMENTS).glob("*seg-*")]
    numbers = [int(n.split("-")[1]) for n in names if n.split("-")[1].isdigit()]
    return f"seg-{max(numbers, default=0) + 1:06d}"


def _next_generation(index_dir: Path) -> str:
    numbers = [int(p.name.split("-")[1]) for p in index_dir.glob("gen-*") if p.name.split("-")[1].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def remove_unused_segments(index_dir: Path) -> None:
    """Remove segments (and killed writes' partial ones) that no generation on disk names."""
    folder = index_dir / SEGMENTS
    if not folder.is_dir():
        return
    named: set[str] = set()
    for generation in index_dir.glob("gen-*"):
        try:
            segments = json.loads((generation / "manifest.json").read_text()).get("segments", [])
            named.update(name for name in segments if isinstance(name, str))
        except (OSError, ValueError, RecursionError, AttributeError, TypeError):
            continue  # a damaged generation is removed with its segments by the next rebuild
    for path in folder.iterdir():
        if path.name not in named:
            shutil.rmtree(path, ignore_errors=True)


def tidy(index_dir: Path, live: str) -> None:
    """Remove what a run killed after its swap (or before it) left: generations other than the live
    one and the one before it, partial folders, and segments no kept generation names."""
    older = sorted(p.name for p in index_dir.glob("gen-*") if p.name < live)
    _remove_old_generations(index_dir, keep={live, *older[-1:]})
    remove_unused_segments(index_dir)


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    # The previous generation stays one round, for readers that opened it a moment ago.
    for path in index_dir.iterdir():
        if path.is_dir() and (path.name.startswith("gen-") or path.name.endswith(".partial")) \
                and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _versions() -> dict[str, str]:
    from importlib import metadata  # here: a reader never writes a manifest, and it costs a question 17 ms

    versions = {}
    for package in ("qa", "sentence-transformers", "torch", "faiss-cpu", "numpy", "scipy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


@contextlib.contextmanager
def locked(index_dir: Path):
    """Hold the writers' lock of `index_dir` inside the `with` block."""
    # One writer at a time; readers never wait, they read the live generation.
    with open(index_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under `folder` to disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        fsync_dir(path)


def fsync_dir(folder: Path) -> None:
    """Flush the entries of `folder` to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
