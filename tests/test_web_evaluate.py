"""The web app's Evaluate tab (qa.app.web_evaluate): an uploaded question set scored, files cleaned up."""

from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from conftest import DEV_SET
from qa.config import Settings
from qa.pipeline import Pipeline
from qa.app.web_evaluate import evaluate_tab
from qa.app.web_limits import SessionFolders

SESSION = SimpleNamespace(session_hash="one tab")  # the gr.Request Gradio passes


def evaluate_handler(pipeline, temp: Path):
    with gr.Blocks() as demo:
        with gr.Tab("Evaluate"):
            evaluate_tab(pipeline, SessionFolders(temp, 2**30))
    handler = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "evaluate")
    return lambda path, modes, k: handler(str(path), modes, k, SESSION, progress=lambda *a, **kw: None)


def test_evaluate_tab_runs_an_uploaded_question_set(retriever, settings, model, tmp_path):
    evaluate = evaluate_handler(Pipeline(settings, model, retriever), tmp_path / "temp")
    questions = tmp_path / "set.jsonl"
    questions.write_text(DEV_SET.read_text().splitlines()[0] + "\n")
    table, metrics_png, curve_png, misses, files, upload = evaluate(questions, ["bm25"], 3)
    assert "| hit@1 |" in table and Path(metrics_png).is_file() and Path(curve_png).is_file()
    assert misses == [] and len(files) == 2 and upload is None  # the upload box is emptied
    assert not questions.exists()  # read once, then removed
    assert Path(metrics_png).is_relative_to(tmp_path / "temp")  # where Gradio serves it from, uncopied

    questions.write_text(DEV_SET.read_text().splitlines()[0] + "\n")
    again = evaluate(questions, ["bm25"], 5)
    assert not Path(metrics_png).exists() and Path(again[1]).is_file()  # the session's last report only
    assert len(list((tmp_path / "temp").rglob("*.png"))) == 2

    questions.write_text("not json\n")
    with pytest.raises(gr.Error, match="line 1"):
        evaluate(questions, ["bm25"], 3)
    assert not questions.exists()  # refused sets are removed too
    with pytest.raises(gr.Error, match="no longer on the server"):
        evaluate(questions, ["bm25"], 3)


@pytest.mark.parametrize("modes, k, says", [
    ([], 3, "Choose at least one mode"),
    (["fuzzy"], 3, "The modes must be some of"),
    (["bm25"], "abc", "Citations per answer (k) must be a whole number from 1 to 20, not 'abc'"),
    (["bm25"], 2.5, "not 2.5"),
    (["bm25"], 21, "not 21"),
])
def test_evaluate_tab_refuses_bad_modes_and_k(retriever, settings, model, tmp_path, modes, k, says):
    evaluate = evaluate_handler(Pipeline(settings, model, retriever), tmp_path / "temp")
    questions = tmp_path / "set.jsonl"
    questions.write_text(DEV_SET.read_text().splitlines()[0] + "\n")
    with pytest.raises(gr.Error) as refusal:
        evaluate(questions, modes, k)
    assert says in refusal.value.message
    assert not questions.exists()  # the page empties its upload box on a refusal: the set goes too


def test_evaluate_tab_refuses_a_set_over_its_size_limit(retriever, settings, model, tmp_path):
    assert Settings().web_eval_max_questions == 500
    evaluate = evaluate_handler(Pipeline(settings.with_(web_eval_max_questions=2), model, retriever), tmp_path)
    questions = tmp_path / "big.jsonl"
    questions.write_text("\n".join(DEV_SET.read_text().splitlines()[:3]) + "\n")
    with pytest.raises(gr.Error, match=r"big.jsonl has 3 questions; the web app evaluates at most 2 .*qa eval big.jsonl"):
        evaluate(questions, ["bm25"], 3)
