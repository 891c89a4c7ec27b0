"""The Chat tab and the /ask API: questions in, answers quoted from the documents out (all of them, or
those picked); in the chat, each answer's citations go to the checker beside it and the conversation
can be exported."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr

from qa import pipeline as qa_pipeline
from qa.read.answer import Answer, answer_question
from qa.config import MODES, Settings
from qa.errors import UserError
from qa.app.export import to_json, to_markdown
from qa.app.web_citations import checker_for, citation_checker
from qa.app.web_html import answer_html, question_html, searched_for_html
from qa.app.web_limits import SessionFolders
from qa.retrieve import NoMatchingDocument

EXAMPLES = [
    "How many North Korean troops are estimated to be in training?",
    "Which mercenary group nearly rebelled against Moscow in 2023?",
    "When did Russia invade Ukraine?",
]
CONCURRENCY = 2  # two CPU cores: more parallel questions would only slow each other down


def checked_ask(question, mode, k, settings: Settings) -> tuple[str, str, int]:
    """The /ask inputs as (question, mode, k), with None for a default; ValueError saying what is
    wrong with any of them. (Bad questions themselves are `qa.read.answer`'s to explain.)"""
    if question is not None and not isinstance(question, str):
        raise ValueError(f"The question must be text, not {_json_kind(question)}.")
    mode = settings.mode if mode is None or mode == "" else mode
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    k = settings.k if k is None or k == "" else k
    number = None
    if isinstance(k, (int, float)) and not isinstance(k, bool) and float(k).is_integer():
        number = int(k)
    elif isinstance(k, str) and k.strip().isdigit():
        number = int(k)
    most = settings.web_max_k  # see its help in qa.config
    if number is None or not 1 <= number <= most:
        raise ValueError(f"k (the number of citations) must be a whole number from 1 to {most}, not {k!r}")
    return question, mode, number


def checked_sources(sources) -> list[str]:
    """The /ask `sources` (file names or patterns of the documents to answer from; none: all) as a
    list; ValueError saying what is wrong with them."""
    if sources is None or sources == "":
        return []
    if isinstance(sources, str):
        return [sources]
    if isinstance(sources, list) and all(isinstance(s, str) for s in sources):
        return sources
    raise ValueError(f"sources must be a list of file names or patterns of indexed documents, not {repr(sources)[:60]}")


def echoed(answer: dict, limit: int) -> dict:
    """`answer` with its question cut to `limit` characters: a question refused for its length is
    never sent back whole."""
    question = answer.get("question") or ""
    return answer if len(question) <= limit else {**answer, "question": question[:limit] + "…"}


def _json_kind(value) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def write_exports(answers: list[dict], folder: Path, now: datetime) -> tuple[Path, Path]:
    """The conversation as qa-conversation-TIME.md and .json in `folder` (qa.app.export's formats)."""
    stamp, when = now.strftime("%Y%m%d-%H%M%S"), now.isoformat(timespec="seconds")
    markdown, data = folder / f"qa-conversation-{stamp}.md", folder / f"qa-conversation-{stamp}.json"
    markdown.write_text(to_markdown(answers, exported_at=when), encoding="utf-8")
    data.write_text(json.dumps(to_json(answers, exported_at=when), ensure_ascii=False, indent=1), encoding="utf-8")
    return markdown, data


def answered(pipeline: qa_pipeline.Pipeline, question, mode, k, previous: dict | None = None,
             follow_up: bool = False, sources=None) -> dict:
    """The JSON answer to the /ask inputs; a `follow_up` of `previous` (a conversation's last answer)
    is searched with its context (qa.read.conversation); with `sources` (patterns, see
    `qa.retrieve.source_matches`), only the documents they select are searched and quoted. Never
    raises on bad input: see "error"."""
    settings = pipeline.settings
    try:
        question, mode, k = checked_ask(question, mode, k, settings)
        sources = checked_sources(sources)
    except ValueError as error:
        text = question if isinstance(question, str) else ""
        answer = _refused(text, mode if isinstance(mode, str) else settings.mode, error)
    else:
        try:
            retriever = pipeline.retriever.within(sources)
            answer = (qa_pipeline.answer_after(retriever, question, previous, mode, k) if follow_up
                      else answer_question(retriever, question, mode, k))
        except NoMatchingDocument as error:
            answer = _refused(question, mode, f"No indexed document matches {error.pattern!r}: the Sources "
                                              f"tab lists the {error.indexed} indexed documents.")
        except UserError as error:  # the index went away (a Milvus server stopped): say so, keep serving
            answer = _refused(question, mode, error)
    return echoed(answer.as_dict(), settings.max_question_chars)


def _refused(question: str, mode: str, error: Exception | str) -> Answer:
    return Answer(question, True, (), (), mode, message=str(error), error=str(error))


def ask_endpoint(pipeline: qa_pipeline.Pipeline):
    """The /ask API's function, its defaults the pipeline's settings. It stays stateless: a
    question is never read as a follow-up."""
    settings = pipeline.settings

    def ask(question: str, mode: str = settings.mode, k: int = settings.k,
            sources: list[str] | None = None) -> dict:
        """Answer a question from the documents (with `sources`, a list of file names, folders or
        globs, only from the documents they select): verbatim quotes with numbered citations
        (the JSON of qa.read.answer.Answer.as_dict). Never raises on bad input: see "error"."""
        return answered(pipeline, question, mode, k, sources=sources)
    return ask


def chat_tab(pipeline: qa_pipeline.Pipeline, sessions: SessionFolders, refresh_on=()) -> None:
    """The Chat tab's contents; call inside `with gr.Tab("Chat"):`. The conversation stays on the
    server; its export files are kept in the session's folder of `sessions`. The document picker's
    choices are read again on each event of `refresh_on`."""
    settings = pipeline.settings
    answers = gr.State([])  # this session's answers, in order (Answer.as_dict())
    # The chat's messages, kept here rather than sent by the browser with each question.
    history = gr.State([])
    selected = gr.State(None)  # which of them the citation panel shows
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot, question, ask_button = conversation(settings)
            picked = document_picker(pipeline, refresh_on)
            with gr.Row(elem_id="qa-export"):
                export_markdown = gr.DownloadButton("Export Markdown", size="sm", interactive=False,
                                                    elem_id="qa-export-md")
                export_json = gr.DownloadButton("Export JSON (qa verify)", size="sm",
                                                interactive=False, elem_id="qa-export-json")
            with gr.Accordion("Retrieval settings", open=False):
                mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval mode",
                                info="hybrid: words and meaning; bm25: words only; dense: meaning only")
                k = gr.Slider(1, settings.web_max_k, value=min(settings.k, settings.web_max_k), step=1,
                              label="Number of citations")
        with gr.Column(scale=2, elem_id="qa-checker"):
            citation, whole, source = citation_checker(pipeline, answers, selected, chatbot)

    def chat(question, history, answers, mode, k, whole, picked):
        answer = answered(pipeline, question, mode, k, answers[-1] if answers else None, follow_up=True,
                          sources=picked)
        asked = answer["question"] or (question if isinstance(question, str) else "")[:settings.max_question_chars]
        history = history + [{"role": "user", "content": question_html(asked)},
                             {"role": "assistant", "content": answer_html(answer) + searched_for_html(answer)}]
        answers = answers + [answer]
        selected = len(answers) - 1
        return ("", history, history, answers, selected, *checker_for(pipeline, answers, selected, whole))

    def export_conversation(answers, request: gr.Request):
        if not answers or not sessions.has_room():
            return gr.DownloadButton(value=None, interactive=False), gr.DownloadButton(value=None, interactive=False)
        # One export a session, remade after each answer in place of the last; Gradio serves it
        # from the session's folder, which goes when the session ends.
        folder = sessions.fresh(request.session_hash, "export")
        markdown, data = write_exports(answers, folder, datetime.now(timezone.utc))
        return (gr.DownloadButton(value=str(markdown), interactive=True),
                gr.DownloadButton(value=str(data), interactive=True))

    chat_inputs = [question, history, answers, mode, k, whole, picked]
    chat_outputs = [question, chatbot, history, answers, selected, citation, source]
    for trigger in (question.submit, ask_button.click):
        trigger(chat, chat_inputs, chat_outputs, api_visibility="private", concurrency_id="answer",
                concurrency_limit=CONCURRENCY)
    answers.change(export_conversation, answers, [export_markdown, export_json], api_visibility="private",
                   show_progress="hidden")


def conversation(settings: Settings) -> tuple:
    """The conversation, the question box and its examples, as (chatbot, question, ask_button)."""
    chatbot = gr.Chatbot(label="Conversation", show_label=False, elem_id="qa-chat", height=520,
                         latex_delimiters=[], feedback_options=None, buttons=["copy"],
                         placeholder="Ask about the documents in the Sources tab.")
    with gr.Row():
        question = gr.Textbox(placeholder="Ask a question about your documents…",
                              show_label=False, scale=5, elem_id="qa-question",
                              max_length=settings.max_question_chars, autofocus=True)
        ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
    gr.Examples(EXAMPLES, inputs=question, label="Try one of these")
    return chatbot, question, ask_button


def document_picker(pipeline: qa_pipeline.Pipeline, refresh_on=()) -> gr.Dropdown:
    """The indexed documents to answer from, several may be picked (none: all of them); its choices
    are read again on each event of `refresh_on`, as uploads and re-scans change them."""
    def choices() -> list[str]:
        return [d.source for d in pipeline.retriever.backend.documents()]

    picker = gr.Dropdown(choices(), value=[], multiselect=True, label="Answer from these documents only",
                         info="None picked: every document", elem_id="qa-pick-sources")

    def refreshed(picked):
        known = choices()
        return gr.Dropdown(choices=known, value=[p for p in picked or [] if p in known])

    for trigger in refresh_on:
        trigger(refreshed, picker, picker, api_visibility="private", show_progress="hidden")
    return picker
