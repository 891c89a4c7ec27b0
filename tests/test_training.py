"""The reader's training command runs end to end on a tiny slice: train a few steps, resume,
export int8 ONNX, validate and calibrate, all offline. The first step, and the one whose batch
workers fork, run as commands in a fresh process; the others by the script's main() in this one."""

from __future__ import annotations

import gc
import io
import json
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from conftest import ROOT

TRAIN_DATA = ROOT.parent / "shared" / "train"
SCRIPT = ROOT / "training" / "train_reader.py"
sys.path.insert(0, str(SCRIPT.parent))
import train_reader  # noqa: E402


def command(*args: str) -> str:
    """The script as a command in a fresh process, offline: its stdout and stderr."""
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                            env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr


def run(*args: str) -> str:
    """The script's main(args) in this process: its stdout and stderr, as `command` gives them,
    without a new Python importing torch for each step (seconds each)."""
    import torch

    said, threads = io.StringIO(), torch.get_num_threads()
    try:
        with redirect_stdout(said), redirect_stderr(said):
            train_reader.main(list(args))
    finally:
        torch.set_num_threads(threads)  # train's --threads, not to be left to this test process
        # The step's progress bars, some held in reference cycles, go now: once a later test in this
        # process builds the web app, gradio patches tqdm, and a bar made before that fails when
        # it is freed (inside ast.parse on Python 3.11, as a SystemError of whatever test runs).
        gc.collect()
    return said.getvalue()


def read_once(load_squad):
    """load_squad reading and splitting the file once for every step run here (a second and more
    each), each step given lists of its own, as a fresh process would be."""
    loaded = {}

    def load(path: Path):
        if path not in loaded:
            loaded[path] = load_squad(path)
        articles, questions = loaded[path]
        return [list(paragraphs) for paragraphs in articles], list(questions)
    return load


@pytest.mark.slow
# What torch's ONNX export warns of, printed to a command's stderr and here caught by pytest.
@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript:DeprecationWarning",
                            "ignore::DeprecationWarning:torch.onnx", "ignore::UserWarning:torch.onnx",
                            "ignore::torch.jit.TracerWarning")
@pytest.mark.skipif(not (TRAIN_DATA / "squad-v1.1-train.json.gz").exists(), reason="needs ../shared/train")
def test_train_resume_export_validate_calibrate(tmp_path, monkeypatch):
    monkeypatch.setattr(train_reader, "load_squad", read_once(train_reader.load_squad))
    runs, model = tmp_path / "runs", tmp_path / "reader"
    common = ["--out", str(runs), "--model-dir", str(model), "--questions-per-step", "2", "--threads", "1"]
    command("train", "--steps", "2", "--save-every", "1", *common)
    assert "resuming at step 2" in run("train", "--steps", "3", "--save-every", "1", *common)
    log = [json.loads(line) for line in (runs / "train-log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3] and all(row["loss"] > 0 for row in log)
    run("export", *common)
    assert (model / "reader-int8.onnx").stat().st_size < 40 * 2**20
    fitted = run("fit-combiner", "--limit", "3", *common)  # on the passages qa retrieves from 3 articles
    assert "chosen word cost" in fitted and "first sentence right" in fitted
    before = json.loads((model / "reader.json").read_text())["combine"]
    refitted = run("fit-combiner", "--limit", "3", "--candidates", "paragraph", *common)
    assert "chosen word cost" in refitted and "the card weights as they were" in refitted
    after = json.loads((model / "reader.json").read_text())["combine"]
    # weights that score at least as well as a refit stay in the card, saying so
    kept = "the card's weights kept" in refitted
    assert ("kept" in after) == kept and (after.get("bias") == before["bias"]) == kept
    table = run("validate", "--limit", "4", *common)
    assert "SQuAD held-out articles" in table and "SelQA dev" in table and "COVID-QA" in table
    assert "chosen: abstain below" in run("calibrate", "--limit", "3", "--candidates", "paragraph", *common)
    for signal in ("reader", "combined"):  # --signal names the score abstention reads, whichever abstains more
        said = run("calibrate", "--limit", "3", "--candidates", "paragraph", "--signal", signal, *common)
        assert f"of the {signal} score" in said
        assert json.loads((model / "reader.json").read_text())["abstain_on"] == signal
    calibrated = run("calibrate", "--limit", "3", *common)  # of qa's passages, unseen training articles
    assert "chosen: abstain below" in calibrated and "asked of qa's hybrid passages" in calibrated
    card = json.loads((model / "reader.json").read_text())
    assert card["steps"] == 3 and 0 < card["abstain_below"] < 1 and "validation" in card
    assert set(card["combine"]) >= {"bias", "reader", "cosine", "overlap"} and card["span_word_cost"] >= 0 and "span_length_penalty" not in card
    assert card["questions_trained"] == 6

    # A warm start goes on from the checkpoint's weights with a fresh schedule, on the questions
    # after the 6 it trained on, and the exported card says so.
    again = runs.parent / "runs-again"
    warm = ["--out", str(again), "--model-dir", str(model), "--questions-per-step", "2", "--threads", "1"]
    said = run("train", "--steps", "1", "--warm-start", str(runs / "checkpoint.pt"), "--listwise-weight", "1", *warm)
    assert "warm start from" in said and "its first 6 questions skipped" in said
    run("export", *warm)
    card = json.loads((model / "reader.json").read_text())
    assert card["questions_trained"] == 8 and card["steps"] == 1
    assert card["warm_start_from"]["steps"] == 3 and card["warm_start_from"]["questions_trained"] == 6

    # Two runs of one lineage averaged: each weight the mean of theirs, the last run's count of
    # questions read, and a checkpoint that exports.
    import torch

    run("average", "--out", str(tmp_path / "runs-mean"), "--average", str(runs), str(again))
    first, second, mean = (torch.load(folder / "checkpoint.pt", weights_only=False)
                           for folder in (runs, again, tmp_path / "runs-mean"))
    name = "bert.encoder.layer.5.output.dense.weight"
    assert torch.allclose(mean["model"][name], (first["model"][name] + second["model"][name]) / 2, atol=1e-7)
    assert not torch.equal(first["model"][name], second["model"][name])
    assert "from step 1" in run("export", "--out", str(tmp_path / "runs-mean"), "--model-dir", str(tmp_path / "mean"))
    assert json.loads((tmp_path / "mean" / "reader.json").read_text())["questions_trained"] == 8

    # The exported model is a warm start too (no checkpoint needed: its int8 weights are
    # dequantized), and what it starts from is the exported model's weights to within a step of
    # their quantization.
    # Such a warm start needs of the base model only its architecture and tokenizer (what a GPU
    # machine is sent), and batches can be built ahead in worker processes.
    from qa.index.dense import model_path

    base = tmp_path / "base"
    base.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(model_path("all-MiniLM-L6-v2") / name, base / name)
    onnx_run = ["--out", str(tmp_path / "runs-onnx"), "--base", str(base), *warm[2:]]
    # (A command: its batch workers are forked before the process imports torch.)
    said = command("train", "--steps", "2", "--warm-start", str(model / "reader-int8.onnx"), "--workers", "2",
                   *onnx_run)
    assert "its weights dequantized" in said and "its first 8 questions skipped" in said
    log = [json.loads(line) for line in (tmp_path / "runs-onnx" / "train-log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2] and all(row["loss"] > 0 for row in log)
    # --max-minutes stops a run and keeps its checkpoint, to be resumed.
    said = run("train", "--steps", "50", "--max-minutes", "0.0001", *onnx_run)
    assert "resuming at step 2" in said and "--max-minutes 0.0001 reached at step 2" in said
    assert torch_step(tmp_path / "runs-onnx" / "checkpoint.pt") == 2

    # A run on another machine comes back in small parts (its frozen embedding tables left out,
    # the rest as float16), and the checkpoint rebuilt here exports like the original.
    import torch
    import remote_gpu

    parts = remote_gpu.pack(tmp_path / "runs-onnx", tmp_path / "parts", "gpu")
    assert parts and all(p.stat().st_size <= remote_gpu.PART_BYTES for p in parts)
    rebuilt = remote_gpu.unpack(tmp_path / "parts", "gpu", tmp_path / "runs-back", model / "reader-int8.onnx")
    original = torch.load(tmp_path / "runs-onnx" / "checkpoint.pt", weights_only=False)["model"]
    back = torch.load(rebuilt, weights_only=False)["model"]
    assert set(back) == set(original)
    for name, values in original.items():
        assert torch.allclose(back[name], values, rtol=1e-3, atol=1e-4), name
    assert "from step 2" in run("export", "--out", str(tmp_path / "runs-back"), "--model-dir", str(tmp_path / "back"))
    trained = torch.load(again / "checkpoint.pt", weights_only=False)["model"]
    restored = train_reader.state_from_onnx(model / "reader-int8.onnx", trained)
    for name in ("bert.encoder.layer.5.output.dense.weight", "span.weight", "relevance.weight",
                 "bert.embeddings.word_embeddings.weight", "bert.encoder.layer.3.output.LayerNorm.bias"):
        tolerance = float(trained[name].abs().max()) / 127
        assert float((restored[name] - trained[name]).abs().max()) <= tolerance, name


def torch_step(checkpoint: Path) -> int:
    import torch

    return torch.load(checkpoint, weights_only=False)["step"]


@pytest.mark.slow
def test_calibrate_on_natural_sets_sets_the_kinds_threshold_and_keeps_squads(tmp_path):
    # The shipped model, calibrated again on one natural training set's questions beyond facts,
    # asked through qa's whole answer step over that set's documents.
    model = tmp_path / "reader"
    shutil.copytree(ROOT / "src" / "qa" / "models" / "reader", model)
    before = json.loads((model / "reader.json").read_text())["calibration_by_kind"]["beyond-facts"]
    said = run("calibrate", "--kind", "beyond-facts", "--natural", str(ROOT / "training" / "natural" / "t1"),
               "--model-dir", str(model))
    assert "natural sets t1" in said and "beyond-facts: abstain below" in said
    kind = json.loads((model / "reader.json").read_text())["calibration_by_kind"]["beyond-facts"]
    natural = kind["natural"]
    assert kind["abstain_below"] == natural["abstain_below"] and f"abstain below {natural['abstain_below']:.2f}" in said
    assert natural["sets"] == ["t1"] and natural["answerable"] > 20 and natural["answered"] >= 0.9
    assert kind["squad_abstain_below"] == before.get("squad_abstain_below", before["abstain_below"])
    assert kind["curve"] == before["curve"]  # the unsure cut still reads SQuAD's near misses
    with pytest.raises(SystemExit, match="needs --kind"):
        run("calibrate", "--natural", str(ROOT / "training" / "natural" / "t1"), "--model-dir", str(model))


def test_listwise_loss_ranks_each_question_answer_against_its_own_negatives():
    torch = pytest.importorskip("torch")

    labels = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0])
    groups = torch.tensor([0, 0, 0, 1, 1])
    even = train_reader.listwise_loss(torch.zeros(5), labels, groups)
    # Equal logits: the mean over questions of log(candidates): (log 3 + log 2) / 2.
    assert abs(float(even) - (torch.log(torch.tensor(3.0)) + torch.log(torch.tensor(2.0))) / 2) < 1e-6
    ranked = train_reader.listwise_loss(torch.tensor([4.0, 0.0, 0.0, 4.0, 0.0]), labels, groups)
    wrong = train_reader.listwise_loss(torch.tensor([0.0, 4.0, 0.0, 0.0, 4.0]), labels, groups)
    assert float(ranked) < float(even) < float(wrong)
    # A question whose negatives all went missing teaches nothing here (the per-pair loss still does).
    alone = train_reader.listwise_loss(torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([0]))
    assert float(alone) == 0.0
