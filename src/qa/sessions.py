"""ONNX Runtime sessions as qa opens them, and several one-thread sessions run side by side.

qa runs its int8 models one input at a time (a run's activations share one quantisation scale,
so in a batch an output would depend on its batch mates). One small input leaves a second thread
of a session little to share; one-thread sessions side by side, each taking its share of the
inputs in a thread, keep every core busy, and each output stays the same to the bit.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable


def cores() -> int:
    """Cores this process may run on (a container's or taskset's limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def open_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session of the model at `path`, with `threads` intra-op threads (None:
    ONNX Runtime's choice)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    # Spinning threads keep the cores busy between calls; where other processes share the
    # cores (the web app, indexing), yielding made queries faster, not slower.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def side_by_side(count: int, work: Callable[[int], None]) -> None:
    """`work(k)` for each lane k < `count`, each in its own thread (a session's run releases the
    GIL); the first failure is raised again here, once every lane has stopped."""
    failures: list[BaseException] = []

    def lane(k: int) -> None:
        try:
            work(k)
        except BaseException as error:  # raised again in the caller's thread
            failures.append(error)

    workers = [threading.Thread(target=lane, args=(k,)) for k in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
