"""Bring a reader trained on another machine (a lent GPU) back here in small files, and rebuild a
checkpoint that `train_reader.py export` reads.

    # there, after `train_reader.py train --device cuda --warm-start …/reader-int8.onnx --out RUN`:
    python training/remote_gpu.py pack RUN OUTDIR NAME      # NAME.part0, NAME.part1, … (≤ 15 MiB each)
    # here:
    python training/remote_gpu.py unpack OUTDIR NAME runs/NAME --warm-start src/qa/models/reader/reader-int8.onnx
    python training/train_reader.py export --out runs/NAME --model-dir runs/NAME-model

Training keeps the embedding tables frozen, so a pack holds only the other weights, as float16
(about 22 MB for MiniLM-L6, against 176 MB for a whole checkpoint); unpack takes the embedding
tables from the ONNX model the run warm-started from, dequantized exactly as training did. The
optimizer's state is not brought back: an unpacked checkpoint is for exporting, or for a warm start.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

PART_BYTES = 15 * 2**20
FROZEN = "bert.embeddings."


def pack(run: Path, out: Path, name: str) -> list[Path]:
    import torch

    state = torch.load(run / "checkpoint.pt", weights_only=False, map_location="cpu")
    slim = {"model": {k: v.half() for k, v in state["model"].items() if not k.startswith(FROZEN)},
            "step": state["step"], "skip": state["skip"],
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in state["args"].items()}}
    buffer = io.BytesIO()
    torch.save(slim, buffer)
    data = buffer.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, len(data), PART_BYTES):
        parts.append(out / f"{name}.part{i // PART_BYTES}")
        parts[-1].write_bytes(data[i:i + PART_BYTES])
    print(f"{name}: step {state['step']}, {len(data) / 2**20:.1f} MiB in {len(parts)} parts", file=sys.stderr)
    return parts


def unpack(folder: Path, name: str, run: Path, warm_start: Path, base: Path | None = None) -> Path:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import train_reader
    from qa.index.dense import model_path

    parts = sorted(folder.glob(f"{name}.part*"), key=lambda p: int(p.name.rsplit("part", 1)[1]))
    if not parts:
        raise SystemExit(f"no {name}.part* in {folder}")
    slim = torch.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)), weights_only=False)
    model = train_reader.build_model(base or model_path("all-MiniLM-L6-v2"), weights=False)
    state = train_reader.state_from_onnx(warm_start, model.state_dict())
    unknown = set(slim["model"]) - set(state)
    if unknown:
        raise SystemExit(f"{name}: weights the reader does not have: {', '.join(sorted(unknown)[:5])}")
    state |= {k: v.float() for k, v in slim["model"].items()}
    model.load_state_dict(state)
    run.mkdir(parents=True, exist_ok=True)
    checkpoint = run / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "step": slim["step"], "skip": slim["skip"], "args": slim["args"]},
               checkpoint)
    print(f"{checkpoint}: step {slim['step']}", file=sys.stderr)
    return checkpoint


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="a run's checkpoint → NAME.part0, … in OUTDIR")
    p.add_argument("run", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("name")
    u = commands.add_parser("unpack", help="NAME.part* in FOLDER → RUN/checkpoint.pt")
    u.add_argument("folder", type=Path)
    u.add_argument("name")
    u.add_argument("run", type=Path)
    u.add_argument("--warm-start", type=Path, required=True, help="the ONNX model the run warm-started from")
    u.add_argument("--base", type=Path, help="folder with the base model's config.json (default: the bundled one)")
    args = parser.parse_args(argv)
    if args.command == "pack":
        pack(args.run, args.out, args.name)
    else:
        unpack(args.folder, args.name, args.run, args.warm_start, args.base)


if __name__ == "__main__":
    main()
