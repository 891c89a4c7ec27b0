"""Printing and saving an indexing benchmark's figures, with the machine's load beside them."""

from __future__ import annotations

import json
import os
from pathlib import Path


def report(figures: dict, load_before: tuple[float, ...], out: Path | None, width: int = 36) -> None:
    """Print `figures` a line each, then the load average before and now (others share the cores:
    the load is kept beside the figures, not among them), and write both to `out` as JSON."""
    for name, value in figures.items():
        print(f"  {name:{width}} {value}")
    load = {"load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    print(f"  load average before {load['load_average_before']}, after {load['load_average_after']}")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures | load, indent=1) + "\n")
