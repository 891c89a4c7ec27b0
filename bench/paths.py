"""Where the benchmarks read and write, named once: the repository, its shipped sources, bench/out/
(ignored by git) and the shared data beside the checkout (../shared), which is never copied in."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "sources"
OUT = ROOT / "bench" / "out"


def shared_dir() -> Path | None:
    """The shared data folder beside the checkout (../shared), or beside the worktrees' parent
    for a git worktree under wt/; None when neither has one."""
    return next((p for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()), None)


def shared_file(*parts: str) -> Path | None:
    """A file of the shared data (`shared_file("train", "covid-qa.json.gz")`), or None when it is not there."""
    shared = shared_dir()
    path = shared.joinpath(*parts) if shared else None
    return path if path and path.is_file() else None


SHARED = shared_dir() or ROOT.parent / "shared"  # where it is, or where it would be
# The development question set: 14 answerable questions about the shipped sources, 2 off topic.
DEV_SET = SHARED / "eval" / "seed-dev.jsonl"
