"""The shipped reader with float32 activations: does the int8 model's activation quantization cost quality?

The int8 reader (src/qa/models/reader/reader-int8.onnx) quantizes its activations at run time. This
writes a copy whose weights are the same int8 values, dequantized (training/train_reader.py's
`state_from_onnx`), exported as a float32 ONNX model (86 MB, not for shipping), so that the two differ
only in how activations are computed. Compare them on the held-out validation sets:

    .venv/bin/python -m bench.answers.reader_float runs/reader-float
    cp -r src/qa/models/reader runs/reader-int8     # validate writes its table into the card
    .venv/bin/python training/train_reader.py validate --limit 500 --model-dir runs/reader-int8
    .venv/bin/python training/train_reader.py validate --limit 500 --model-dir runs/reader-float
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the float32 copy (reader-int8.onnx, despite its name)")
    args = parser.parse_args(argv)

    from training import train_reader
    from qa.index.dense import model_path
    from qa.read.reader import MODEL_DIR, MODEL_FILE

    model = train_reader.build_model(model_path("all-MiniLM-L6-v2"), weights=False)
    model.load_state_dict(train_reader.state_from_onnx(MODEL_DIR / MODEL_FILE, model.state_dict()))
    model.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    train_reader.export_float(model, args.out / MODEL_FILE)
    for name in ("tokenizer.json", "reader.json"):
        shutil.copy(MODEL_DIR / name, args.out / name)
    print(f"wrote {args.out / MODEL_FILE} ({(args.out / MODEL_FILE).stat().st_size / 2**20:.0f} MiB, float32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
