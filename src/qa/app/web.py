"""The web chat: ask, read the quoted answer, check each citation against its source.

All Gradio code lives here and in `qa.app.web_evaluate` (the Evaluate tab); answers come from
`qa.read.answer`, documents and updates from `qa.pipeline`. Everything shown from a document or a
question is escaped: it is text, never markup.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import shutil
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from pathlib import Path, PurePosixPath

import gradio as gr
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from qa import pipeline as qa_pipeline
from qa.read.answer import Answer, answer_question, shared_reader
from qa.config import MODES, Settings
from qa.ingest.documents import SUPPORTED, NothingToIndex
from qa.errors import UserError
from qa.app.export import to_json, to_markdown
from qa.app.web_evaluate import evaluate_tab
from qa.app.web_limits import Guard, Limits, SessionFolders, discard_upload, own_temp_folder

EXAMPLES = [
    "How many North Korean troops are estimated to be in training?",
    "Which mercenary group nearly rebelled against Moscow in 2023?",
    "When did Russia invade Ukraine?",
]
MAX_K = 10
CONTEXT_CHARS = 700  # shown on each side of a quote when checking a citation
MAX_NAME_CHARS = 200
SHORT_QUOTE_CHARS = 200  # of each further citation's quote shown in the chat; the rest expands
CONCURRENCY = 2  # two CPU cores: more parallel questions would only slow each other down
# Every half hour, Gradio deletes its temp files older than six hours (uploads never used, files
# of sessions that never ended); qa.app.web_limits caps the folder's size meanwhile.
DELETE_CACHE = (1800, 6 * 3600)


class BadUpload(ValueError):
    """An uploaded file that cannot be added; the message names it and says why."""


@dataclass(frozen=True)
class Access:
    """Who may use the app: a (user, password) to log in with, and whether uploads are off."""
    auth: tuple[str, str] | None = None
    read_only: bool = False

    def describe(self, host: str) -> str:
        """The line printed at start, saying which mode the app runs in."""
        limits = "read-only: asking only, no uploads, re-scans or evaluation" if self.read_only else \
            "uploads and re-scans allowed"
        if self.auth:
            return f"access: password required (user {self.auth[0]!r}); {limits}"
        who = "this computer only" if is_loopback(host) else f"anyone who can reach {host}"
        return f"access: no password, {who}; {limits}"


NO_ACCESS_CONTROL = (
    "qa: the web chat would listen on {host}, beyond this computer, and anyone reaching it could "
    "upload files and re-index. Either require a password: set QA_PASSWORD (or QA_PASSWORD_FILE, "
    "a file holding it; the user name is QA_USER, default \"qa\"), or start it with --read-only "
    "(questions only: no uploads or re-scans). Or listen on 127.0.0.1 only.")


# --- Pure helpers: plain data in, strings out (tested with literals) ---------------------------

def safe_upload_name(name: str) -> str:
    """The file name an upload is saved under in the sources folder, or BadUpload.

    Directories are stripped; absolute paths, `..`, control characters and hidden names are
    refused; Unicode is normalised first, so look-alike dots and slashes cannot slip through."""
    name = unicodedata.normalize("NFKC", name or "")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in name):
        raise BadUpload(f"{name!r}: the file name has control or invisible characters; rename it")
    parts = name.replace("\\", "/")
    if parts.startswith("/") or (len(parts) > 1 and parts[1] == ":"):
        raise BadUpload(f"{name}: an absolute path is not a file name; upload the file itself")
    if ".." in PurePosixPath(parts).parts:
        raise BadUpload(f"{name}: a name with '..' could point outside the sources folder")
    base = parts.rsplit("/", 1)[-1].strip()
    if not base or base in (".", ".."):
        raise BadUpload(f"{name!r}: the file has no name")
    if base.startswith("."):
        raise BadUpload(f"{base}: names starting with '.' are hidden and never indexed; rename it")
    if len(base) > MAX_NAME_CHARS:
        raise BadUpload(f"{base[:40]}…: the file name is longer than {MAX_NAME_CHARS} characters")
    suffix = PurePosixPath(base).suffix.lower()
    if suffix not in SUPPORTED:
        raise BadUpload(f"{base}: unsupported file type {suffix or '(none)'}; qa reads {', '.join(SUPPORTED)}")
    return base


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
    if number is None or not 1 <= number <= MAX_K:
        raise ValueError(f"k (the number of citations) must be a whole number from 1 to {MAX_K}, not {k!r}")
    return question, mode, number


def echoed(answer: dict, limit: int) -> dict:
    """`answer` with its question cut to `limit` characters: a question refused for its length is
    never sent back whole."""
    question = answer.get("question") or ""
    return answer if len(question) <= limit else {**answer, "question": question[:limit] + "…"}


def _json_kind(value) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def listen_address(host: str | None, port: int | str | None, environ=os.environ) -> tuple[str, int]:
    """Host and port to serve on: the --host/--port flags, else QA_HOST/QA_PORT, else Gradio's
    GRADIO_SERVER_NAME/GRADIO_SERVER_PORT, else 127.0.0.1:7860."""
    host = host or environ.get("QA_HOST") or environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    named = [("--port", port)] + [(name, environ.get(name)) for name in ("QA_PORT", "GRADIO_SERVER_PORT")]
    origin, value = next(((name, value) for name, value in named if value), ("default", 7860))
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"qa: {origin} must be a port number, not {value!r}") from None
    if not 0 < number < 65536:
        raise SystemExit(f"qa: {origin} must be a port number from 1 to 65535, not {number}")
    return host, number


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this computer (a name other than localhost is not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def access_for(host: str, read_only: bool = False, environ=os.environ) -> Access:
    """The app's access control: a password from QA_PASSWORD or the file QA_PASSWORD_FILE (never a
    command-line argument, which other users can read), or read-only; without either, only
    loopback is served, else SystemExit saying what to set."""
    password, path = environ.get("QA_PASSWORD"), environ.get("QA_PASSWORD_FILE")
    if password and path:
        raise SystemExit("qa: set QA_PASSWORD or QA_PASSWORD_FILE, not both")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise SystemExit(f"qa: QA_PASSWORD_FILE {path} cannot be read ({error})") from None
        password = lines[0] if lines else ""
        if not password:
            raise SystemExit(f"qa: QA_PASSWORD_FILE {path}: its first line, the password, is empty")
    auth = (environ.get("QA_USER") or "qa", password) if password else None
    if auth is None and not read_only and not is_loopback(host):
        raise SystemExit(NO_ACCESS_CONTROL.format(host=host))
    return Access(auth, read_only)


def where(citation: dict) -> str:
    """Where a citation points, for a reader: file, paragraph, page and section heading."""
    page = f", page {citation['page']}" if citation.get("page") else ""
    heading = f" · {citation['heading']}" if citation.get("heading") else ""
    return f"{citation['source']}, ¶{citation['paragraph']}{page}{heading}"


def citation_label(citation: dict, abstained: bool) -> str:
    nearest = " (nearest passage, not an answer)" if abstained else ""
    return f"[{citation['n']}] {citation['title']} — {where(citation)}{nearest}"


def question_html(question: str) -> str:
    # One HTML block with no blank line: the chat's Markdown renderer leaves its inside alone.
    return f'<div class="qa-question">{escape(" ".join(question.split()) or "(empty question)")}</div>'


def answer_html(answer: dict) -> str:
    """The chat message for an answer: quotes with [n] markers, then the numbered citations."""
    if answer.get("error"):
        return f'<div class="qa-error">{escape(answer["error"])}</div>'
    parts = ['<div class="qa-answer">']
    if answer["abstained"]:
        parts.append(f'<p class="qa-abstain">{escape(answer["message"] or "")}</p>')
        if answer["citations"]:
            parts.append('<p class="qa-note">Nearest passages — <b>not an answer</b>:</p>')
    else:
        by_n = {c["n"]: c for c in answer["citations"]}
        for quote in answer["answer"]:
            parts.append(f'<blockquote class="qa-quote">“{_marked(quote["quote"], by_n.get(quote["citation"]))}” '
                         f'<sup class="qa-marker">[{quote["citation"]}]</sup></blockquote>')
    if answer["citations"]:
        # The right answer is often citation 2 or 3: each citation not quoted above shows its quote.
        quoted = set() if answer["abstained"] else {q["citation"] for q in answer["answer"]}
        parts.append('<ol class="qa-citations">')
        for c in answer["citations"]:
            excerpt = "" if c["n"] in quoted else f" — {citation_quote_html(c)}"
            parts.append(f'<li value="{int(c["n"])}"><b>{escape(c["title"])}</b> · '
                         f'<code>{escape(where(c))}</code>{excerpt}</li>')
        parts.append("</ol>")
    parts.append("</div>")
    return "".join(parts)


def citation_quote_html(citation: dict) -> str:
    """A citation's quote for the chat, its answer words in bold: whole when short, else its first
    ~SHORT_QUOTE_CHARS characters, with the whole quote in an expandable <details>."""
    quote = citation["quote"]
    flat = " ".join(quote.split())
    if len(flat) <= SHORT_QUOTE_CHARS:
        return f'<span class="qa-excerpt">“{_marked(quote, citation)}”</span>'
    cut = flat.rfind(" ", 0, SHORT_QUOTE_CHARS)  # end at a word
    short = flat[:cut if cut > SHORT_QUOTE_CHARS // 2 else SHORT_QUOTE_CHARS]
    return (f'<details class="qa-excerpt"><summary><span class="qa-short">“{escape(short)} …”</span></summary>'
            f'“{_marked(quote, citation)}”</details>')


def searched_for_html(answer: dict) -> str:
    """The line under a follow-up's answer that says what was searched for (nothing otherwise)."""
    if not answer.get("searched_for"):
        return ""
    return f'<div class="qa-searched-for">searched for: {_inline(answer["searched_for"])}</div>'


def _inline(text: str) -> str:
    # Line breaks inside a quote would end the chat's HTML block; HTML shows them as spaces anyway.
    return escape(" ".join(text.split()))


def _marked(quote: str, citation: dict | None) -> str:
    """A quote with the words that answer (its citation's answer span) in bold."""
    if not citation or citation.get("quote") != quote or "answer_start" not in citation:
        return _inline(quote)
    start = citation["start"]
    a, b = citation["answer_start"] - start, citation["answer_end"] - start
    flat = [escape(re.sub(r"\s+", " ", part)) for part in (quote[:a], quote[a:b], quote[b:])]
    return f'{flat[0]}<b class="qa-answer-words">{flat[1]}</b>{flat[2]}'


def context_html(text: str, start: int, end: int, around: int | None = CONTEXT_CHARS,
                 answer: tuple[int, int] | None = None) -> str:
    """The document around `text[start:end]` with that span highlighted (and the `answer` span
    inside it in bold); the whole document when `around` is None. Every piece is escaped."""
    lo = 0 if around is None else max(0, start - around)
    hi = len(text) if around is None else min(len(text), end + around)
    # Start and stop at white space so that the context does not begin mid-word.
    if lo > 0:
        space = text.find(" ", lo, start)
        lo = space + 1 if space != -1 else lo
    if hi < len(text):
        space = text.rfind(" ", end, hi)
        hi = space if space != -1 else hi
    return ('<div class="qa-doc">' + ("…" if lo > 0 else "") + escape(text[lo:start])
            + f'<mark class="qa-span">{_span_html(text, start, end, answer)}</mark>'
            + escape(text[end:hi]) + ("…" if hi < len(text) else "") + "</div>")


def _span_html(text: str, start: int, end: int, answer: tuple[int, int] | None) -> str:
    if not answer or not start <= answer[0] <= answer[1] <= end:
        return escape(text[start:end])
    a, b = answer
    return (escape(text[start:a]) + f'<b class="qa-answer-words">{escape(text[a:b])}</b>'
            + escape(text[b:end]))


def source_panel(text: str | None, citation: dict, whole: bool) -> str:
    """The citation checker: where the quote is, whether it matches, and the source around it."""
    c = citation
    head = (f'<div class="qa-source-head"><b>[{int(c["n"])}] {escape(c["title"])}</b><br>'
            f'file <code>{escape(c["source"])}</code> · ¶{int(c["paragraph"])}'
            + (f' · page {int(c["page"])}' if c.get("page") else "")
            + f' · characters <code>{int(c["start"])}–{int(c["end"])}</code></div>')
    if text is None:
        return head + ('<div class="qa-error">This document is no longer in the index (it was removed '
                       'or renamed since the answer was given); ask again.</div>')
    if text[c["start"]:c["end"]] != c["quote"]:
        return head + ('<div class="qa-error">This document changed since the answer was given, so the '
                       'offsets no longer point at the quote; ask again.</div>')
    check = ('<div class="qa-check">✓ The highlighted span is exactly the quoted text '
             f'(characters {int(c["start"])}–{int(c["end"])} of {len(text):,}).</div>')
    answer = (c["answer_start"], c["answer_end"]) if "answer_start" in c else None
    return head + check + context_html(text, c["start"], c["end"], None if whole else CONTEXT_CHARS, answer)


def report_html(summary: str, added: list[str], problems: list[str]) -> str:
    """What an upload or re-scan did: a summary, the files added, and each file refused and why."""
    items = [f'<li class="qa-added">added {escape(name)}</li>' for name in added]
    items += [f'<li class="qa-error">✗ {escape(problem)}</li>' for problem in problems]
    return f'<div class="qa-report"><p>{escape(summary)}</p><ul>{"".join(items)}</ul></div>'


def documents_rows(documents) -> list[list]:
    return [[d.title, d.source, d.chunks, d.indexed_at[:16].replace("T", " ")] for d in documents]


# --- The edges: the index on disk, uploads, and the app -----------------------------------------

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


def compact_in_background(pipeline: qa_pipeline.Pipeline, updating: threading.Lock) -> threading.Thread | None:
    """Merge the local index's segments on a thread of its own (a big merge takes minutes), then
    point the app at the merged index; until then questions are answered from the index as it is,
    and an upload waits for the merge (qa.index.store lets one writer at a time). Milvus compacts its
    collections itself: None."""
    from qa.index import store

    settings = pipeline.settings
    if settings.backend != "local":
        return None

    def run() -> None:
        try:
            before, after = store.compact(settings)
        except UserError as error:  # the disk filled up, or the index was damaged meanwhile
            print(f"warning: index {settings.index_location} not compacted: {error}")
            return
        with updating:  # after an update under way, so that the newest index is the one kept
            pipeline.reload()
            pipeline.compaction_due = False
        print(f"index {settings.index_location}: compacted, {before} segments merged into {after}")

    print(f"index {settings.index_location}: compacting in the background (questions are answered meanwhile)…")
    thread = threading.Thread(target=run, name="qa-compact", daemon=True)
    thread.start()
    return thread


def save_upload(temp_path: str, sources_dir: Path, max_bytes: int) -> str:
    """Copy one uploaded file into the sources folder, never over another file: when its name is
    taken it is saved as "name (2).txt", "name (3).txt"…; returns the name it was saved under, or
    raises BadUpload saying why it was refused. Its text is read once, by the index update."""
    name = safe_upload_name(Path(temp_path).name)
    try:
        size = Path(temp_path).stat().st_size
    except FileNotFoundError:  # e.g. removed by Gradio's clean-up of old temp files
        raise BadUpload(f"{name}: the upload is no longer on the server; upload it again") from None
    if size > max_bytes:
        raise BadUpload(f"{name}: {size / 2**20:.1f} MB is over the upload limit of {max_bytes // 2**20} MB")
    sources_dir = Path(sources_dir).resolve()
    if (sources_dir / name).resolve().parent != sources_dir:  # a last check; safe_upload_name should make it moot
        raise BadUpload(f"{name}: would be saved outside the sources folder")
    if (sources_dir / name).is_file() and _same_bytes(temp_path, sources_dir / name):
        raise BadUpload(f"{name}: this very file is already in the sources folder; not added twice")
    # Copy to a hidden name of its own (two uploads of one name at once never share it), then link
    # it under the first free name: a link never replaces a file, even one created a moment ago,
    # and an index update never reads half a file.
    partial = sources_dir / f".{name}.{secrets.token_hex(8)}.upload"
    try:
        shutil.copyfile(temp_path, partial)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise BadUpload(f"{name}: cannot be saved in the sources folder ({error.strerror})") from None
    try:
        stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix
        for number in range(1, 1000):
            saved = name if number == 1 else f"{stem} ({number}){suffix}"
            try:
                _place(partial, sources_dir / saved)
                return saved
            except FileExistsError:
                if (sources_dir / saved).is_file() and _same_bytes(partial, sources_dir / saved):
                    # e.g. the same file uploaded from two tabs at once: the other one saved it
                    raise BadUpload(f"{name}: this very file is already in the sources folder"
                                    + ("" if saved == name else f" as {saved}") + "; not added twice") from None
                continue
        raise BadUpload(f"{name}: a thousand files of that name are already in the sources folder; rename it")
    finally:
        partial.unlink(missing_ok=True)


def _place(partial: Path, target: Path) -> None:
    try:
        os.link(partial, target)  # fails with FileExistsError rather than replace a file
    except FileExistsError:
        raise
    except OSError:  # no hard links here (FAT, some network shares): check, then rename
        if target.exists():
            raise FileExistsError(target) from None
        os.rename(partial, target)


def _same_bytes(a, b) -> bool:
    import filecmp

    return filecmp.cmp(a, b, shallow=False)


def write_exports(answers: list[dict], folder: Path, now: datetime) -> tuple[Path, Path]:
    """The conversation as qa-conversation-TIME.md and .json in `folder` (qa.app.export's formats)."""
    stamp, when = now.strftime("%Y%m%d-%H%M%S"), now.isoformat(timespec="seconds")
    markdown, data = folder / f"qa-conversation-{stamp}.md", folder / f"qa-conversation-{stamp}.json"
    markdown.write_text(to_markdown(answers, exported_at=when), encoding="utf-8")
    data.write_text(json.dumps(to_json(answers, exported_at=when), ensure_ascii=False, indent=1), encoding="utf-8")
    return markdown, data


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
    settings = pipeline.settings
    limits = Limits.for_files(settings.max_file_mb, read_only)
    sessions = SessionFolders(get_upload_folder(), limits.temp_bytes)
    upload_outcomes: dict[str, str] = {}  # recent uploads' temp files → what became of them (oldest first)
    updating = threading.Lock()
    if pipeline.compaction_due:
        compact_in_background(pipeline, updating)
    warm_in_background(pipeline)

    def ask(question: str, mode: str = settings.mode, k: int = settings.k) -> dict:
        """Answer a question from the documents: verbatim quotes with numbered citations
        (the JSON of qa.read.answer.Answer.as_dict). Never raises on bad input: see "error"."""
        try:
            question, mode, k = checked_ask(question, mode, k, settings)
        except ValueError as error:
            text = question if isinstance(question, str) else ""
            shown = mode if isinstance(mode, str) else settings.mode
            answer = Answer(text, True, (), (), shown, message=str(error), error=str(error))
        else:
            try:
                answer = answer_question(pipeline.retriever, question, mode, k)
            except UserError as error:  # the index went away (a Milvus server stopped): say so, keep serving
                answer = Answer(question, True, (), (), mode, message=str(error), error=str(error))
        return echoed(answer.as_dict(), settings.max_question_chars)

    def ask_after(question, mode, k, previous: dict | None) -> dict:
        """`ask` in a conversation: a follow-up of `previous` (this session's last answer) is
        searched with its context (qa.read.conversation). The REST `ask` stays stateless."""
        try:
            question, mode, k = checked_ask(question, mode, k, settings)
        except ValueError:
            return ask(question, mode, k)  # its message for the same mistake
        try:
            answer = qa_pipeline.answer_after(pipeline.retriever, question, previous, mode, k)
        except UserError as error:  # as in `ask`
            answer = Answer(question, True, (), (), mode, message=str(error), error=str(error))
        return echoed(answer.as_dict(), settings.max_question_chars)

    def document_text(source: str) -> str | None:
        try:
            return pipeline.retriever.backend.document_by_source(source).text
        except KeyError:
            return None

    def show_citation(answers: list, selected: int | None, n: int | None, whole: bool) -> str:
        if selected is None or not answers or n is None:
            return '<div class="qa-hint">Ask a question, then pick a citation to see it in its source.</div>'
        citations = {c["n"]: c for c in answers[selected]["citations"]}
        if n not in citations:
            return ""
        citation = citations[n]
        return source_panel(document_text(citation["source"]), citation, whole)

    def citation_choices(answers: list, selected: int | None):
        answer = answers[selected] if answers and selected is not None else None
        if not answer or not answer["citations"]:
            return gr.Radio(choices=[], value=None, label="Citations")
        label = (f"Nearest passages for: {answer['question']}" if answer["abstained"]
                 else f"Citations for: {answer['question']}")
        return gr.Radio(choices=[(citation_label(c, answer["abstained"]), c["n"]) for c in answer["citations"]],
                        value=answer["citations"][0]["n"], label=label)

    def chat(question, history, answers, mode, k, whole):
        answer = ask_after(question, mode, k, answers[-1] if answers else None)
        asked = answer["question"] or (question if isinstance(question, str) else "")[:settings.max_question_chars]
        history = history + [{"role": "user", "content": question_html(asked)},
                             {"role": "assistant", "content": answer_html(answer) + searched_for_html(answer)}]
        answers = answers + [answer]
        selected = len(answers) - 1
        first = answer["citations"][0]["n"] if answer["citations"] else None
        return ("", history, history, answers, selected, citation_choices(answers, selected),
                show_citation(answers, selected, first, whole))

    def pick_answer(answers, whole, evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        selected = min(int(index) // 2, len(answers) - 1) if answers else None
        first = answers[selected]["citations"][0]["n"] if selected is not None and answers[selected]["citations"] else None
        return selected, citation_choices(answers, selected), show_citation(answers, selected, first, whole)

    def export_conversation(answers, request: gr.Request):
        if not answers or not sessions.has_room():
            return gr.DownloadButton(value=None, interactive=False), gr.DownloadButton(value=None, interactive=False)
        # One export a session, remade after each answer in place of the last; Gradio serves it
        # from the session's folder, which goes when the session ends.
        folder = sessions.fresh(request.session_hash, "export")
        markdown, data = write_exports(answers, folder, datetime.now(timezone.utc))
        return (gr.DownloadButton(value=str(markdown), interactive=True),
                gr.DownloadButton(value=str(data), interactive=True))

    def end_session(request: gr.Request):
        sessions.end(request.session_hash)

    def documents_table():
        documents = pipeline.retriever.backend.documents()
        return documents_rows(documents), f"**{len(documents)} documents** indexed from `{settings.sources_dir}/`."

    def refresh_index(saved: dict[str, str], refused: list[str], progress: gr.Progress) -> str:
        """Update the index; `saved` maps each upload's name in the sources folder to its own name.
        Uploads are read once, here: one that cannot be read is taken out of the folder again."""
        def take_back(names) -> None:
            for name in names:
                (Path(settings.sources_dir) / name).unlink(missing_ok=True)

        with updating:
            progress(0, desc="Updating the index")
            try:
                report = qa_pipeline.update(settings, pipeline.model, progress=True)
            except NothingToIndex as error:
                take_back(saved)
                return report_html("Nothing was added.", [], refused + [str(error)])
            pipeline.reload()  # questions from now on see the new index; those under way, the old
        if report.compaction_due:
            compact_in_background(pipeline, updating)
        unreadable = {s.path: s.reason for s in report.skipped}
        take_back(set(saved) & set(unreadable))
        added = [name if name == wanted else f"{name} (a file named {wanted} was there already)"
                 for name, wanted in saved.items() if name not in unreadable]
        problems = [f"{path}: {reason}" + (" (not added)" if path in saved else "")
                    for path, reason in unreadable.items()]
        return report_html(f"Index updated: {report.summary()}.", added, refused + problems)

    def add_documents(files, progress=gr.Progress(track_tqdm=True)):
        """Save uploaded documents into the sources folder and index them."""
        saved, refused = {}, []
        for path in files or []:
            if path in upload_outcomes and not Path(path).exists():
                # Gradio keeps identical bytes of one name in one temp file, so the same file
                # uploaded from two tabs at once is one file, added (and removed) by the first.
                refused.append(upload_outcomes[path])
                continue
            try:
                name = save_upload(path, settings.sources_dir, settings.max_file_mb * 2**20)
                saved[name] = wanted = safe_upload_name(Path(path).name)
                upload_outcomes[path] = (f"{wanted}: this very file is already in the sources folder"
                                         + ("" if name == wanted else f" as {name}") + "; not added twice")
            except BadUpload as error:
                refused.append(str(error))
                upload_outcomes[path] = str(error)
            finally:
                discard_upload(path)
                while len(upload_outcomes) > 1000:
                    upload_outcomes.pop(next(iter(upload_outcomes)))
        if not saved:
            status = report_html("Nothing was added." if files else "No file was uploaded.", [], refused)
            return (None, status, *documents_table())
        return (None, refresh_index(saved, refused, progress), *documents_table())

    def rescan(progress=gr.Progress(track_tqdm=True)):
        return (refresh_index({}, [], progress), *documents_table())

    with _Blocks(limits, title="qa — answers quoted from your documents", delete_cache=DELETE_CACHE) as demo:
        answers = gr.State([])  # this session's answers, in order (Answer.as_dict())
        # The chat's messages, kept here rather than sent by the browser with each question.
        history = gr.State([])
        selected = gr.State(None)  # which of them the citation panel shows
        gr.Markdown("# qa — answers quoted from your documents\n"
                    "Every answer is a **verbatim sentence** from your documents with a numbered citation. "
                    "Pick a citation on the right to see the quoted span highlighted in its source.",
                    elem_id="qa-header")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(label="Conversation", show_label=False, elem_id="qa-chat", height=520,
                                             latex_delimiters=[], feedback_options=None, buttons=["copy"],
                                             placeholder="Ask about the documents in the Sources tab.")
                        with gr.Row():
                            question = gr.Textbox(placeholder="Ask a question about your documents…",
                                                  show_label=False, scale=5, elem_id="qa-question",
                                                  max_length=settings.max_question_chars, autofocus=True)
                            ask_button = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                        gr.Examples(EXAMPLES, inputs=question, label="Try one of these")
                        with gr.Row(elem_id="qa-export"):
                            export_markdown = gr.DownloadButton("Export Markdown", size="sm", interactive=False,
                                                                elem_id="qa-export-md")
                            export_json = gr.DownloadButton("Export JSON (qa verify)", size="sm",
                                                            interactive=False, elem_id="qa-export-json")
                        with gr.Accordion("Retrieval settings", open=False):
                            mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval mode",
                                            info="hybrid: words and meaning; bm25: words only; dense: meaning only")
                            k = gr.Slider(1, MAX_K, value=settings.k, step=1, label="Number of citations")
                    with gr.Column(scale=2, elem_id="qa-checker"):
                        gr.Markdown("### Check a citation\nClick an earlier answer to check its citations.")
                        citation = gr.Radio(choices=[], label="Citations", elem_id="qa-citations")
                        whole = gr.Checkbox(label="Show the whole document", value=False, elem_id="qa-whole")
                        source = gr.HTML(show_citation([], None, None, False), elem_id="qa-source",
                                         js_on_load=None)
            if not read_only:  # its question-set uploads and runs would be open to anyone
                with gr.Tab("Evaluate", id="evaluate"):
                    evaluate_tab(pipeline, sessions)
            with gr.Tab("Sources", id="sources") as sources_tab:
                count = gr.Markdown()
                table = gr.Dataframe(headers=["Title", "File", "Chunks", "Indexed at"],
                                     datatype=["str", "str", "number", "str"], interactive=False,
                                     wrap=True, elem_id="qa-documents",
                                     column_widths=["48%", "30%", "8%", "14%"])
                if read_only:
                    gr.Markdown("This app is **read-only**: documents cannot be added or re-scanned here.",
                                elem_id="qa-read-only")
                else:
                    with gr.Row():
                        upload = gr.File(label=f"Add documents ({', '.join(SUPPORTED)}; up to "
                                               f"{settings.max_file_mb} MB each)",
                                         file_count="multiple", elem_id="qa-upload", scale=3)
                        rescan_button = gr.Button("Re-scan the sources folder", scale=1)
                    status = gr.HTML(elem_id="qa-upload-status", js_on_load=None)

        chat_inputs = [question, history, answers, mode, k, whole]
        chat_outputs = [question, chatbot, history, answers, selected, citation, source]
        for trigger in (question.submit, ask_button.click):
            trigger(chat, chat_inputs, chat_outputs, api_visibility="private", concurrency_id="answer",
                    concurrency_limit=CONCURRENCY)
        answers.change(export_conversation, answers, [export_markdown, export_json], api_visibility="private",
                       show_progress="hidden")
        chatbot.select(pick_answer, [answers, whole], [selected, citation, source], api_visibility="private")
        for trigger in (citation.change, whole.change):
            trigger(show_citation, [answers, selected, citation, whole], source, api_visibility="private",
                    show_progress="hidden")
        source.change(None, js="() => document.querySelector('#qa-source mark')"
                               "?.scrollIntoView({block: 'center', behavior: 'smooth'})")
        if not read_only:
            upload.upload(add_documents, upload, [upload, status, table, count], api_name="add_documents",
                          concurrency_limit=1, concurrency_id="update")
            rescan_button.click(rescan, None, [status, table, count], api_visibility="private",
                                concurrency_limit=1, concurrency_id="update")
        for trigger in (demo.load, sources_tab.select):
            trigger(documents_table, None, [table, count], api_visibility="private")
        gr.api(ask, api_name="ask", concurrency_id="answer", concurrency_limit=CONCURRENCY)
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
