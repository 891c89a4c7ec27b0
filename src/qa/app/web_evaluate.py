"""The web app's Evaluate tab: score every retrieval mode on an uploaded question set (qa.evaluation.evaluate
does the work; this is only its Gradio face)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from qa.evaluation.evaluate import DEFAULT_MODES, evaluate_question_set, load_question_set
from qa.app.web_limits import SessionFolders, discard_upload


def evaluate_tab(pipeline, sessions: SessionFolders) -> None:
    """The Evaluate tab's contents; call inside `with gr.Tab("Evaluate"):`. Each session's
    report files are kept in its folder of `sessions`; an uploaded question set is read once,
    then removed from the server."""
    gr.Markdown("Upload a question set (JSONL: `id`, `question`, `answers`; an empty `answers` list "
                "means the right response is to abstain) and score every retrieval mode on it "
                f"(up to {pipeline.settings.web_eval_max_questions:,} questions here; `qa eval` takes any number).")
    most_k = pipeline.settings.web_eval_max_k  # see its help in qa.config
    with gr.Row():
        upload = gr.File(label="Question set (.jsonl)", file_types=[".jsonl", ".json", ".txt"], type="filepath")
        with gr.Column():
            modes = gr.CheckboxGroup(list(DEFAULT_MODES), value=list(DEFAULT_MODES), label="Modes")
            k = gr.Slider(1, most_k, value=min(pipeline.settings.eval_k, most_k), step=1,
                          label="Citations per answer (k)")
            run = gr.Button("Evaluate", variant="primary")
    table = gr.Markdown()
    with gr.Row():
        metrics_plot = gr.Image(label="Metrics by mode", type="filepath")
        curve_plot = gr.Image(label="hit@k", type="filepath")
    misses = gr.Dataframe(headers=["mode", "id", "question", "expected", "why", "got"], label="Misses",
                          wrap=True, interactive=False)
    files = gr.File(label="Report files (JSON, CSV)", file_count="multiple")

    def evaluate(path, chosen, k, request: gr.Request, progress=gr.Progress()):
        if not path:
            raise gr.Error("Choose a question-set file first.")
        try:
            chosen, k = checked_run(chosen, k, most_k)
            if not Path(path).is_file():  # read by an earlier run (or the same file's, from another tab)
                raise gr.Error("The question set is no longer on the server (each upload is read once): "
                               "upload it again.")
            questions = read_question_set(path)
        finally:
            discard_upload(path)  # used or refused, the page lets go of it (see .failure below)
        name = Path(path).name
        most = pipeline.settings.web_eval_max_questions
        if len(questions) > most:  # anyone who can reach the app can start this: keep it short
            raise gr.Error(f"{name} has {len(questions):,} questions; the web app evaluates at "
                           f"most {most:,} (a few minutes). Run `qa eval {name}` for a bigger set.")
        if not sessions.has_room():
            raise gr.Error("The server's space for report files is full for now; try again in a few minutes.")
        progress(0, desc="Evaluating")
        report = evaluate_question_set(pipeline.retriever, questions, tuple(chosen), k,
                                       progress=lambda done, total: progress(done / total, desc="Evaluating"),
                                       name=name)
        rows = [[m[c] for c in ("mode", "id", "question", "expected", "why", "got")] for m in report.misses()]
        # Written where Gradio serves them from, replacing this session's last report; they go
        # when the session ends.
        written = report.write(sessions.fresh(request.session_hash, "evaluation"))
        return (f"**{report.name}**: {report.about}\n\n{report.markdown()}", str(written["metrics_png"]),
                str(written["hitk_png"]), rows, [str(written["json"]), str(written["csv"])], None)

    run.click(evaluate, [upload, modes, k], [table, metrics_plot, curve_plot, misses, files, upload]
              ).failure(lambda: None, None, upload, api_visibility="private")  # it was read and removed: pick it again


def checked_run(chosen, k, most_k: int) -> tuple[list[str], int]:
    """The modes and k (1 to `most_k`) of an evaluation, or gr.Error saying what is wrong with them."""
    if not chosen:
        raise gr.Error("Choose at least one mode.")
    if not isinstance(chosen, list) or not all(isinstance(m, str) and m in DEFAULT_MODES for m in chosen):
        raise gr.Error(f"The modes must be some of {', '.join(DEFAULT_MODES)}, not {repr(chosen)[:100]}.")
    number = k if isinstance(k, (int, float)) and not isinstance(k, bool) else None
    if number is None or not float(number).is_integer() or not 1 <= number <= most_k:
        raise gr.Error(f"Citations per answer (k) must be a whole number from 1 to {most_k}, not {repr(k)[:40]}.")
    return chosen, int(number)


def read_question_set(path: str):
    """The uploaded question set's questions, or gr.Error in one line that names the file as it
    was uploaded, never the server's folder it was saved in."""
    path = Path(path)
    try:
        return load_question_set(path)
    except ValueError as error:
        raise gr.Error(str(error).replace(str(path), path.name)) from None
    except RecursionError:  # a line of JSON nested thousands deep
        raise gr.Error(f"{path.name}: a line is nested too deeply to read; each line must be one JSON object "
                       "with id, question and answers") from None
