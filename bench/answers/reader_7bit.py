"""The shipped reader requantized with 7-bit weights, which no CPU's int8 arithmetic saturates.

On a CPU with AVX2 but no AVX-512 VNNI, ONNX Runtime's int8 products saturate at 16 bits, so the
shipped reader answers a little differently there (docs/reader-model.md, bench.answers.avx2_reader).
Weights of at most 64 in size cannot saturate (255 × 64 × 2 < 32,768): this writes such a copy,
requantized from the float copy of `bench.answers.reader_float` (the shipped int8 weights
dequantized) as training/train_reader.py's `export` quantizes, with `reduce_range`. Its answers are
then the same on either kind of CPU; what it costs is measured on the question sets:

    .venv/bin/python -m bench.answers.reader_7bit bench/out/reader-7bit
    QA_READER_DIR=bench/out/reader-7bit .venv/bin/python -m bench.answers.natural_questions tests/data/natural/heldout
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the copy (reader-int8.onnx, tokenizer.json, reader.json)")
    args = parser.parse_args(argv)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from bench.answers import reader_float
    from qa.read.reader import MODEL_DIR, MODEL_FILE

    with tempfile.TemporaryDirectory() as work:
        reader_float.main([work])
        args.out.mkdir(parents=True, exist_ok=True)
        # The ops and per-channel scales of train_reader.py's export (its --quantize default).
        quantize_dynamic(str(Path(work) / MODEL_FILE), str(args.out / MODEL_FILE), weight_type=QuantType.QInt8,
                         per_channel=True, reduce_range=True, op_types_to_quantize=["MatMul", "Gather"])
    for name in ("tokenizer.json", "reader.json"):
        shutil.copy(MODEL_DIR / name, args.out / name)
    print(f"wrote {args.out / MODEL_FILE} ({(args.out / MODEL_FILE).stat().st_size / 2**20:.1f} MiB, 7-bit weights)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
