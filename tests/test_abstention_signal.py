"""bench.answers.abstention_signal: the AUC between right answers' and near misses' scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.answers import abstention_signal as signal


def test_auc_counts_pairs_and_half_ties():
    assert signal.auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert signal.auc([0.1], [0.9]) == 0.0
    assert signal.auc([0.5, 0.9], [0.5]) == pytest.approx(0.75)  # one tie (half), one win
    low, high = signal.interval([0.9, 0.8, 0.7, 0.2], [0.3, 0.1, 0.6], np.random.default_rng(0))
    assert 0.0 <= low <= signal.auc([0.9, 0.8, 0.7, 0.2], [0.3, 0.1, 0.6]) <= high <= 1.0


def result(score, answers, right=True, kind="why"):
    return {"answers": answers, "quote_holds_answer": right, "kind": kind,
            "answer": {"citations": [{"score": score}]}}


def test_only_right_answers_and_near_misses_are_compared(tmp_path, capsys, monkeypatch):
    results = [result(0.9, ["a"]), result(0.8, ["a"], right=False),  # a wrong answer: left out
               result(0.3, [], kind="near-miss"), result(0.95, [], kind="off-topic")]  # off topic: left out
    assert signal.scores(results) == ([0.9], [0.3])
    assert signal.scores(results, all_near=True) == ([0.9], [0.3, 0.95])
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"sets": {"s": {"results": results}}}))
    monkeypatch.setattr("sys.argv", ["abstention_signal", str(run), "--out", str(tmp_path / "out.json")])
    signal.main()
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["pooled"]["auc"] == 1.0 and report["s"]["near_misses"] == 1
    assert "AUC 1.000" in capsys.readouterr().out
