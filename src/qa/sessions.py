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


class Lanes:
    """The sessions a call's inputs are shared among: the main one and `count - 1` one-thread
    sessions more, opened once the process shows it will use them: at once for a call of
    `at_once` inputs or more (an index build), else after `patience` inputs have run on the main
    session alone. Opening a session costs about as much as the lanes save on one question, so a
    process that answers one question does not open them on its way; a web app or `qa eval` does
    after a few, and `qa ask` opens the reader's ahead, in a thread, while its index and
    embedding model load (qa.read.answer.load_reader_ahead)."""

    def __init__(self, main, count: int, open_one: Callable[[], object], patience: int) -> None:
        self._main, self._count, self._open_one, self._patience = main, count, open_one, patience
        self._served = 0
        self._open: list = []
        self._lock = threading.Lock()

    def opened(self) -> list:
        """Every lane, opened now if they are not yet; none where there is a single lane."""
        if self._count < 2:
            return []
        with self._lock:
            if not self._open:
                self._open = [self._main] + [self._open_one() for _ in range(self._count - 1)]
            return self._open

    def for_call(self, inputs: int, at_once: int | None = None) -> list:
        """The lanes to share a call of `inputs` among, or none: run it on the main session."""
        if self._open or (at_once is not None and inputs >= at_once) or self._served >= self._patience:
            return self.opened()
        self._served += inputs
        return []
