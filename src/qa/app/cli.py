"""The `qa` command: a thin layer over the library (index, search, ask, show, documents, verify, eval,
serve).

`qa.app.cli_parser` names each command's arguments, `qa.app.cli_commands` does what it says."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from qa.errors import UserError
from qa.app.cli_commands import echo, shown
from qa.app.cli_parser import (add_ask_command, add_documents_command, add_eval_command, add_index_command,
                               add_search_command, add_serve_command, add_show_command, add_verify_command)
from qa.app.cli_parser import serve_arguments  # noqa: F401  (app.py takes `qa serve`'s options from here)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa", description="Ask questions of your own documents and get verbatim, cited passages.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (add_index_command, add_search_command, add_ask_command, add_verify_command,
                        add_show_command, add_documents_command, add_serve_command, add_eval_command):
        add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args) -> int:
    """Run the parsed command; a user's mistake ends in one line naming it, never a traceback."""
    try:
        status = args.run(args)
        sys.stdout.flush()  # inside the try: a reader that went away (`qa ask … | head`) is not a crash
        return status
    except UserError as error:  # the message on stderr, and its status
        if error.status == 1:
            sys.exit(f"qa: {shown(str(error))}")
        echo(f"qa: {shown(str(error))}", file=sys.stderr)
        sys.exit(error.status)
    except BrokenPipeError:
        # The standard way (Python docs, "Note on SIGPIPE"): point stdout at devnull so that the
        # interpreter's last flush cannot fail again, and exit as a process killed by SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except OSError as error:  # a folder that cannot be made or written, a full disk: say which
        where = f"{error.filename}: " if error.filename else ""
        echo(f"qa: {where}{error.strerror or error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
