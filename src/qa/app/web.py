"""The web chat: ask, read the quoted answer, check each citation against its source.

This module loads the pipeline, builds the app from its tabs and serves it; all Gradio code lives
in the `qa.app.web_*` modules, one a part of the page: `web_chat` (the Chat tab and the /ask API),
`web_citations` (the checker beside it), `web_evaluate`, `web_sources` (documents and uploads),
`web_html` (answers as HTML), `web_access` and `web_limits` (who may reach it, and at what cost).
Answers come from `qa.read.answer`, documents and updates from `qa.pipeline`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from qa import pipeline as qa_pipeline
from qa.read.answer import shared_reader
from qa.config import Settings
from qa.errors import UserError
from qa.app.web_access import access_for, listen_address
from qa.app.web_chat import CONCURRENCY, ask_endpoint, chat_tab
from qa.app.web_evaluate import evaluate_tab
from qa.app.web_limits import Guard, Limits, SessionFolders, own_temp_folder
from qa.app.web_sources import compact_in_background, sources_tab
# Re-exported: other modules and tests import these from qa.app.web.
from qa.app.web_html import answer_html, citation_label  # noqa: F401
from qa.app.web_sources import safe_upload_name, save_upload  # noqa: F401

# Every half hour, Gradio deletes its temp files older than six hours (uploads never used, files
# of sessions that never ended); qa.app.web_limits caps the folder's size meanwhile.
DELETE_CACHE = (1800, 6 * 3600)


def prepare(settings: Settings, model=None, progress: bool = True) -> qa_pipeline.Pipeline:
    """Load the model once, bring the index up to date with the sources folder, and open it."""
    sources = Path(settings.sources_dir)
    settings = qa_pipeline.index_settings(settings)  # chunking and model as the index was built
    model = model or qa_pipeline.model_for(settings)
    print(f"Indexing {sources}/ into {settings.index_location} (only new or changed files are embedded)…")
    report = qa_pipeline.update(settings, model, progress=progress)
    for skipped in report.skipped:
        print(f"warning: {skipped}")
    print(f"index {settings.index_location}: {report.summary()}")
    shared_reader(settings.reader_dir)  # loaded now, not on the first question
    pipeline = qa_pipeline.load(settings, model)
    pipeline.compaction_due = report.compaction_due
    return pipeline


class _Blocks(gr.Blocks):
    """gr.Blocks that carries the `Limits` it is served with (see `launch`), and whose API
    endpoints take their optional parameters as optional in Gradio's positional REST form too
    (POST /gradio_api/call/ask {"data": [question]}): Gradio fills in defaults only for its
    keyword form (/gradio_api/call/v2/ask {"question": …})."""

    def __init__(self, limits: Limits, **kwargs):
        super().__init__(**kwargs)
        self.limits = limits

    def validate_inputs(self, block_fn, inputs: list) -> None:
        from gradio.components.api_component import Api

        missing = block_fn.inputs[len(inputs):]
        if all(isinstance(block, Api) for block in missing):
            inputs.extend(block.value for block in missing)  # the defaults; None for the question
        for block, value in zip(block_fn.inputs, inputs):
            # Gradio's slider takes a number out of range with a message, but fails on text with
            # a TypeError the caller never sees.
            if isinstance(block, gr.Slider) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                kind = "a whole number" if float(block.step).is_integer() else "a number"
                raise gr.Error(f"{block.label} must be {kind} from {block.minimum:g} to {block.maximum:g}, "
                               f"not {repr(value)[:40]}.")
        super().validate_inputs(block_fn, inputs)


def warm_in_background(pipeline: qa_pipeline.Pipeline) -> threading.Thread:
    """Embed the collection's sentences ahead of the first questions, on a thread of its own
    (`Retriever.warm_sentences`): the first answer about a passage otherwise embeds each of its
    sentences first. Its vectors carry over when an update reloads the index."""
    def run() -> None:
        try:
            pipeline.retriever.warm_sentences()
        except Exception as error:  # only a head start is lost: questions embed what they need
            print(f"warning: sentences not embedded ahead of questions: {error}")

    thread = threading.Thread(target=run, name="qa-warm-sentences", daemon=True)
    thread.start()
    return thread


def build_app(pipeline: qa_pipeline.Pipeline, read_only: bool = False) -> gr.Blocks:
    """The Gradio app over a loaded pipeline (see `launch`); `read_only`: questions only, with no
    uploads, re-scans or evaluation, neither in the page nor in the API."""
    limits = Limits.for_files(pipeline.settings.max_file_mb, read_only)
    sessions = SessionFolders(get_upload_folder(), limits.temp_bytes)
    updating = threading.Lock()
    if pipeline.compaction_due:
        compact_in_background(pipeline, updating)
    warm_in_background(pipeline)

    def end_session(request: gr.Request):
        sessions.end(request.session_hash)

    with _Blocks(limits, title="qa — answers quoted from your documents", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# qa — answers quoted from your documents\n"
                    "Every answer is a **verbatim sentence** from your documents with a numbered citation. "
                    "Pick a citation on the right to see the quoted span highlighted in its source.",
                    elem_id="qa-header")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat") as chat:
                chat_tab(pipeline, sessions, refresh_on=(demo.load, chat.select))
            if not read_only:  # its question-set uploads and runs would be open to anyone
                with gr.Tab("Evaluate", id="evaluate"):
                    evaluate_tab(pipeline, sessions)
            with gr.Tab("Sources", id="sources") as sources:
                sources_tab(pipeline, updating, read_only, refresh_on=(demo.load, sources.select))
        gr.api(ask_endpoint(pipeline), api_name="ask", concurrency_id="answer", concurrency_limit=CONCURRENCY)
        demo.unload(end_session)
    return demo


CSS = """
#qa-header h1 { margin-bottom: 0.2em; }
.qa-question { white-space: pre-wrap; }
.qa-answer blockquote.qa-quote { margin: 0 0 0.6em 0; padding: 0.4em 0.8em; border-left: 4px solid var(--color-accent);
  background: var(--background-fill-secondary); font-size: 1.02em; }
.qa-marker { font-weight: 700; color: var(--color-accent); }
.qa-citations { margin: 0.4em 0 0 0; padding-left: 1.6em; font-size: 0.9em; }
.qa-citations li { margin: 0.2em 0; }
.qa-abstain { font-weight: 600; }
.qa-unsure { margin: 0 0 0.4em 0; color: #b45309; font-weight: 600; }
.qa-excerpt summary { cursor: pointer; }
details.qa-excerpt[open] > summary .qa-short { display: none; }
details.qa-excerpt[open] > summary::after { content: "show less"; font-size: 0.85em; color: var(--body-text-color-subdued); }
.qa-note { margin: 0.3em 0; color: var(--body-text-color-subdued); }
.qa-error { color: var(--error-text-color, #b91c1c); font-weight: 600; }
.qa-searched-for { color: var(--body-text-color-subdued); font-size: 0.85em; margin-top: 0.3em; }
.qa-hint { color: var(--body-text-color-subdued); padding: 0.5em 0; }
.qa-source-head { margin: 0.2em 0 0.4em 0; line-height: 1.5; }
.qa-check { color: #15803d; font-size: 0.9em; margin-bottom: 0.4em; }
.qa-doc { white-space: pre-wrap; overflow-wrap: anywhere; max-height: 460px; overflow-y: auto;
  border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.8em 1em;
  background: var(--background-fill-primary); font-size: 0.95em; line-height: 1.55; }
mark.qa-span { background: #fde047; color: #111; padding: 0.05em 0.1em; border-radius: 3px; }
mark.qa-span b.qa-answer-words { background: #f59e0b; }
"""


def launch(demo: _Blocks, host: str, port: int, block: bool = True, auth: tuple[str, str] | None = None) -> None:
    """Serve `demo` (from `build_app`) on host:port with the queue that keeps sessions apart, never
    shared publicly, behind `qa.app.web_limits.Guard` with the app's limits. With `auth` (user,
    password), every page and API call needs a login."""
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=256)
    demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=not block,
                max_file_size=demo.limits.max_file_bytes, quiet=not block, footer_links=["api"],
                theme=gr.themes.Soft(), css=CSS, auth=auth,
                app_kwargs={"middleware": [Middleware(Guard, limits=demo.limits)]})


def serve(settings: Settings, host: str | None = None, port: int | None = None, read_only: bool = False) -> int:
    """`python app.py` and `qa serve`: index the sources, then serve the chat until stopped."""
    host, port = listen_address(host, port)
    access = access_for(host, read_only)  # before the model loads: a refusal should be quick
    temp = own_temp_folder(port)  # before the app is built: Gradio's parts take their folder then
    try:
        pipeline = prepare(settings)
    except UserError as error:  # no index, no documents, no such device or model: one line
        raise SystemExit(f"qa: {error}") from None
    print(f"qa web chat on http://{host}:{port}")
    print(access.describe(host))
    demo = build_app(pipeline, access.read_only)
    print(f"temporary files: {temp}/ (at most {demo.limits.temp_bytes // 2**20:,} MB)")
    launch(demo, host, port, auth=access.auth)
    return 0
