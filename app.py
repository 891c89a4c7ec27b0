"""Start the web chat over sources/ and index/: `python app.py` (see `python app.py --help`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qa.cli import PORT_RANGE, device, whole_number
from qa.config import BACKENDS, Settings
from qa.web import serve


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(description="The qa web chat: ask your documents, check every citation.")
    parser.add_argument("--host", help="address to listen on (default: $QA_HOST, $GRADIO_SERVER_NAME or 127.0.0.1); "
                                       "beyond 127.0.0.1 it needs $QA_PASSWORD (or $QA_PASSWORD_FILE) or --read-only")
    parser.add_argument("--port", type=whole_number(*PORT_RANGE),
                        help="port (default: $QA_PORT, $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--read-only", action="store_true", help="questions only: no uploads, re-scans or evaluation")
    parser.add_argument("--sources", default=str(defaults.sources_dir),
                        help=f"folder of documents (default: {defaults.sources_dir})")
    parser.add_argument("--index", default=str(defaults.index_dir), help=f"index folder (default: {defaults.index_dir})")
    parser.add_argument("--device", type=device, help="where to embed: auto (CUDA if present), cpu, cuda")
    parser.add_argument("--backend", choices=BACKENDS, help=f"where the index lives (default: {defaults.backend})")
    parser.add_argument("--uri", help="Milvus to use with --backend milvus: a .db path (milvus-lite) or http://host:19530")
    args = parser.parse_args(argv)
    settings = defaults.with_(sources_dir=Path(args.sources), index_dir=Path(args.index), device=args.device,
                              backend=args.backend, uri=args.uri)
    return serve(settings, args.host, args.port, args.read_only)


if __name__ == "__main__":
    sys.exit(main())
