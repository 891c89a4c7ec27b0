"""Question sets: the project's JSONL format (see the shared eval README) read and checked, with
a message naming the file and line for whatever is wrong."""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path

# A question set is read whole into memory: a file far past any real set's size is a mistake.
MAX_QUESTION_SET_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...]  # empty: the sources do not answer it, the right response is to abstain
    sources: tuple[str, ...] = ()
    follows: str | None = None  # the id of the earlier question this one follows up (its context)

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load_question_set(path: str | Path) -> list[Question]:
    """The questions of a JSONL question set; ValueError naming the file and line on bad input."""
    path = Path(path)
    try:
        facts = path.stat()
    except FileNotFoundError:
        raise ValueError(f"no question set at {path}: give the path of a .jsonl file") from None
    # A pipe can hang a reader and a device never end: only a regular file, of a sane size.
    if not stat.S_ISREG(facts.st_mode):
        what = "a folder" if stat.S_ISDIR(facts.st_mode) else "not a regular file (a pipe, a device)"
        raise ValueError(f"{path} is {what}: give the path of a .jsonl question set")
    if facts.st_size > MAX_QUESTION_SET_BYTES:
        raise ValueError(f"the question set {path} is {facts.st_size / 2**20:,.0f} MB, over the "
                         f"{MAX_QUESTION_SET_BYTES // 2**20} MB a question set may have")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read the question set {path}: {error}") from None
    questions, seen = [], {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name}, line {number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error.msg} at column {error.colno}); "
                             f"each line must be one JSON object") from None
        except RecursionError:
            raise ValueError(f"{where}: JSON nested too deeply; each line must be one JSON object with "
                             f"id, question and answers") from None
        question = _question_from_row(row, where)
        if question.id in seen:
            raise ValueError(f"{where}: id {_short(question.id)} is already used on line {seen[question.id]}")
        if question.follows == question.id:
            raise ValueError(f"{where}: question {_short(question.id)} follows itself; 'follows' names an "
                             f"earlier question")
        if question.follows is not None and seen.get(question.follows) is None:
            later = next((n for n, text in enumerate(lines[number:], start=number + 1)
                          if _line_id(text) == question.follows), None)
            raise ValueError(f"{where}: 'follows' names {_short(question.follows)}, which "
                             + (f"comes later (line {later}); a follow-up must come after the question it follows"
                                if later else "is not the id of any question in the set"))
        seen[question.id] = number
        questions.append(question)
    if not questions:
        raise ValueError(f"the question set {path} has no questions: write one JSON object a line")
    return questions


def _line_id(line: str) -> str | None:
    """The id on a question-set line, if it has one (to name a later question in a message)."""
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return str(row["id"]) if isinstance(row, dict) and isinstance(row.get("id"), (str, int)) else None


def _question_from_row(row, where: str) -> Question:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object with id, question and answers")
    for name, kinds in (("id", (str, int)), ("question", str)):
        value = row.get(name)
        if value is None or value == "" or (isinstance(value, str) and not value.strip()):
            raise ValueError(f"{where}: {name!r} is missing or empty")
        if not isinstance(value, kinds) or isinstance(value, bool):
            wanted = "a string or a whole number" if name == "id" else "a string"
            raise ValueError(f"{where}: {name!r} must be {wanted}, not {_json_kind(value)}")
    for name in ("answers", "sources"):
        value = row.get(name, [] if name == "sources" else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            what = "an empty list means the question should be abstained on" if name == "answers" else ""
            raise ValueError(f"{where}: {name!r} must be a list of non-empty strings"
                             + (f" ({what})" if what else ""))
    follows = row.get("follows")
    if follows is not None and (not isinstance(follows, (str, int)) or isinstance(follows, bool)
                                or not str(follows).strip()):
        raise ValueError(f"{where}: 'follows' must be the id of an earlier question, not {_json_kind(follows)}")
    return Question(str(row["id"]), row["question"], tuple(row["answers"]), tuple(row.get("sources", [])),
                    None if follows is None else str(follows))


def _short(text: str, limit: int = 60) -> str:
    """`text` quoted for a message, cut to `limit` characters: an id can be any size."""
    return repr(text) if len(text) <= limit else repr(text[:limit - 1]) + "…"


def _json_kind(value) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def check_follow_ups(questions: list[Question]) -> None:
    """ValueError unless every question that `follows` another comes after it in `questions`."""
    asked = set()
    for question in questions:
        if question.follows is not None and question.follows not in asked:
            raise ValueError(f"question {_short(question.id)} follows {_short(question.follows)}, which is not an "
                             f"earlier question of the set")
        asked.add(question.id)
