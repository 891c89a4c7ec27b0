"""What every format's reader shares: the error for a file that cannot become a document, the
words for text over the limit, and line endings folded to "\\n"."""

from __future__ import annotations

from qa.errors import UserError


class UnreadableFile(UserError):
    """A file that cannot become a document; the message says why, in a user's words."""


def too_long(chars: int, limit: int, at_least: bool = False) -> str:
    """Why a document whose text passes the limit is refused, and how to index it anyway."""
    return (f"extracted text is {'at least ' if at_least else ''}{chars:,} characters, over the limit of "
            f"{limit:,}; raise it with `qa index --max-document-chars` to index this file")


def fold_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
