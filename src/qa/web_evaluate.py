"""The web app's Evaluate tab: score every retrieval mode on an uploaded question set (qa.evaluate
does the work; this is only its Gradio face)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from qa.evaluate import DEFAULT_MODES, evaluate_question_set, load_question_set


def evaluate_tab(pipeline) -> None:
    """The Evaluate tab's contents; call inside `with gr.Tab("Evaluate"):`."""
    gr.Markdown("Upload a question set (JSONL: `id`, `question`, `answers`; an empty `answers` list "
                "means the right response is to abstain) and score every retrieval mode on it "
                f"(up to {pipeline.settings.web_eval_max_questions:,} questions here; `qa eval` takes any number).")
    with gr.Row():
        upload = gr.File(label="Question set (.jsonl)", file_types=[".jsonl", ".json", ".txt"], type="filepath")
        with gr.Column():
            modes = gr.CheckboxGroup(list(DEFAULT_MODES), value=list(DEFAULT_MODES), label="Modes")
            k = gr.Slider(1, 20, value=10, step=1, label="Citations per answer (k)")
            run = gr.Button("Evaluate", variant="primary")
    table = gr.Markdown()
    with gr.Row():
        metrics_plot = gr.Image(label="Metrics by mode", type="filepath")
        curve_plot = gr.Image(label="hit@k", type="filepath")
    misses = gr.Dataframe(headers=["mode", "id", "question", "expected", "why", "got"], label="Misses",
                          wrap=True, interactive=False)
    files = gr.File(label="Report files (JSON, CSV)", file_count="multiple")

    def evaluate(path, chosen, k, progress=gr.Progress()):
        if not path:
            raise gr.Error("Choose a question-set file first.")
        if not chosen:
            raise gr.Error("Choose at least one mode.")
        try:
            questions = load_question_set(path)
        except ValueError as error:
            raise gr.Error(str(error))
        most = pipeline.settings.web_eval_max_questions
        if len(questions) > most:  # anyone who can reach the app can start this: keep it short
            raise gr.Error(f"{Path(path).name} has {len(questions):,} questions; the web app evaluates at "
                           f"most {most:,} (a few minutes). Run `qa eval {Path(path).name}` for a bigger set.")
        progress(0, desc="Evaluating")
        report = evaluate_question_set(pipeline.retriever, questions, tuple(chosen), int(k),
                                       progress=lambda done, total: progress(done / total, desc="Evaluating"),
                                       name=Path(path).name)
        rows = [[m[c] for c in ("mode", "id", "question", "expected", "why", "got")] for m in report.misses()]
        with tempfile.TemporaryDirectory(prefix="qa-eval-") as folder:
            written = report.write(folder)
            # Yielded, not returned: Gradio copies the files into its own cache before it asks this
            # generator for more, so the folder is removed then (or when the generator is dropped).
            yield (f"**{report.name}**: {report.about}\n\n{report.markdown()}", str(written["metrics_png"]),
                   str(written["hitk_png"]), rows, [str(written["json"]), str(written["csv"])])

    run.click(evaluate, [upload, modes, k], [table, metrics_plot, curve_plot, misses, files])
