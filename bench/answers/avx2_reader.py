"""The shipped reader as a CPU with AVX2 but no AVX-512 VNNI computes it, on any CPU.

ONNX Runtime multiplies the reader's int8 matrices (unsigned activations by signed weights) on AVX2
with an instruction that adds each two neighbouring products into 16 bits and saturates there; with
VNNI the sums are exact. The same model therefore scores sentences a little differently on the two
kinds of CPU (docs/reader-model.md). This writes a copy of a reader whose 38 `MatMulInteger` nodes
are rewritten in float with that saturation (about three times the file's size, slow: for
measuring only), so that a VNNI machine can measure what an AVX2 one answers:

    .venv/bin/python -m bench.answers.avx2_reader bench/out/reader-avx2
    QA_READER_DIR=bench/out/reader-avx2 .venv/bin/python -m bench.answers.natural_questions tests/data/natural/heldout

`--exact` writes the same rewrite without the saturation: it gives the shipped reader's logits to
the last bit, which is what shows the rewrite itself is right.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

INT16 = (-32768.0, 32767.0)  # where AVX2's pairwise sums of u8 x s8 products saturate


def rewrite(source: Path, out: Path, saturate: bool = True) -> int:
    """Write `source`'s reader into `out` with each MatMulInteger computed in float, its neighbouring
    products summed in pairs and (when `saturate`) clipped to int16; the number of nodes rewritten."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from qa.read.reader import MODEL_FILE

    out.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        if f.name != MODEL_FILE and f.is_file():
            shutil.copy(f, out / f.name)
    model = onnx.load(source / MODEL_FILE)
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    low, high = INT16 if saturate else (-1e9, 1e9)
    nodes, rewritten = [], 0
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            nodes.append(node)
            continue
        a, b, a_zero, b_zero = node.input
        w = numpy_helper.to_array(weights[b]).astype(np.float32)
        if numpy_helper.to_array(weights[b_zero]).any():
            raise SystemExit(f"{b} has a zero point: the weights are not symmetric int8")
        k, n = w.shape
        p = f"avx2_{rewritten}_"
        graph.initializer.extend([
            numpy_helper.from_array(w.reshape(k // 2, 2, n), p + "w"),  # neighbouring rows paired
            numpy_helper.from_array(w.sum(0), p + "column_sums"),
            numpy_helper.from_array(np.array([-1, k // 2, 2], dtype=np.int64), p + "paired"),
            numpy_helper.from_array(np.array([n], dtype=np.int64), p + "n"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), p + "zero"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), p + "last"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), p + "pairs_axis"),
            numpy_helper.from_array(np.array(low, dtype=np.float32), p + "low"),
            numpy_helper.from_array(np.array(high, dtype=np.float32), p + "high"),
        ])
        nodes += [
            helper.make_node("Cast", [a], [p + "a"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", [p + "a", p + "paired"], [p + "a_paired"]),
            # Each pair of products summed (exact in float: at most 2 x 255 x 127), then saturated.
            helper.make_node("Einsum", [p + "a_paired", p + "w"], [p + "pairs"], equation="mjt,jtn->mjn"),
            helper.make_node("Clip", [p + "pairs", p + "low", p + "high"], [p + "clipped"]),
            helper.make_node("ReduceSum", [p + "clipped", p + "pairs_axis"], [p + "sums"], keepdims=0),
            # The activations' zero point is taken off afterwards, as ONNX Runtime does.
            helper.make_node("Cast", [a_zero], [p + "a_zero"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [p + "a_zero", p + "column_sums"], [p + "correction"]),
            helper.make_node("Sub", [p + "sums", p + "correction"], [p + "flat"]),
            helper.make_node("Shape", [a], [p + "a_shape"]),
            helper.make_node("Slice", [p + "a_shape", p + "zero", p + "last"], [p + "leading"]),
            helper.make_node("Concat", [p + "leading", p + "n"], [p + "shape"], axis=0),
            helper.make_node("Reshape", [p + "flat", p + "shape"], [p + "product"]),
            helper.make_node("Cast", [p + "product"], [node.output[0]], to=TensorProto.INT32),
        ]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, out / MODEL_FILE)
    return rewritten


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the copy (reader-int8.onnx, tokenizer.json, reader.json)")
    parser.add_argument("--reader", type=Path, help="the reader folder to copy (default: the shipped one)")
    parser.add_argument("--exact", action="store_true", help="no saturation: the shipped reader's own arithmetic")
    args = parser.parse_args(argv)
    from qa.read.reader import MODEL_DIR

    count = rewrite(args.reader or MODEL_DIR, args.out, saturate=not args.exact)
    print(f"wrote {args.out}: {count} int8 products rewritten{'' if args.exact else ', saturating as on AVX2'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
