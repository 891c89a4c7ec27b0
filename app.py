"""Start the web chat over sources/ and index/: `python app.py` (see `python app.py --help`).

It takes the options of `qa serve` (the sources folder as `--sources DIR`) and runs it."""

from __future__ import annotations

import argparse
import sys

from qa.app.cli import run, serve_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app.py",
                                     description="The qa web chat: ask your documents, check every citation.")
    return run(serve_arguments(parser, sources_option=True).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
