"""The web app's Evaluate tab (qa.web_evaluate): an uploaded question set scored, files cleaned up."""

from pathlib import Path

import gradio as gr
import pytest

from conftest import DEV_SET
from qa.config import Settings
from qa.pipeline import Pipeline
from qa.web_evaluate import evaluate_tab


def test_evaluate_tab_runs_an_uploaded_question_set(retriever, settings, model, tmp_path):
    with gr.Blocks() as demo:
        with gr.Tab("Evaluate"):
            evaluate_tab(Pipeline(settings, model, retriever))
    handler = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "evaluate")
    questions = tmp_path / "set.jsonl"
    questions.write_text(DEV_SET.read_text().splitlines()[0] + "\n")
    run = handler(str(questions), ["bm25"], 3, progress=lambda *a, **kw: None)
    table, metrics_png, curve_png, misses, files = next(run)
    assert "| hit@1 |" in table and Path(metrics_png).is_file() and Path(curve_png).is_file()
    assert misses == [] and len(files) == 2
    assert list(run) == [] and not Path(metrics_png).parent.exists()  # removed once Gradio has the files

    questions.write_text("not json\n")
    with pytest.raises(gr.Error, match="line 1"):
        next(handler(str(questions), ["bm25"], 3, progress=lambda *a, **kw: None))


def test_evaluate_tab_refuses_a_set_over_its_size_limit(retriever, settings, model, tmp_path):
    assert Settings().web_eval_max_questions == 500
    with gr.Blocks() as demo:
        evaluate_tab(Pipeline(settings.with_(web_eval_max_questions=2), model, retriever))
    handler = next(f.fn for f in demo.fns.values() if f.fn.__name__ == "evaluate")
    questions = tmp_path / "big.jsonl"
    questions.write_text("\n".join(DEV_SET.read_text().splitlines()[:3]) + "\n")
    with pytest.raises(gr.Error, match=r"big.jsonl has 3 questions; the web app evaluates at most 2 .*qa eval big.jsonl"):
        next(handler(str(questions), ["bm25"], 3, progress=lambda *a, **kw: None))
