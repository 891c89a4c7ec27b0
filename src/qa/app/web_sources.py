"""The Sources tab: the documents indexed, uploads saved safely into the sources folder, and the
index updates (and background merges) that uploads and re-scans start."""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import unicodedata
from html import escape
from pathlib import Path, PurePosixPath

import gradio as gr

from qa import pipeline as qa_pipeline
from qa.ingest.documents import SUPPORTED, NothingToIndex
from qa.errors import UserError
from qa.app.web_limits import discard_upload

MAX_NAME_CHARS = 200  # longer upload names are refused, in words: file systems cap a name (255 bytes on most)


class BadUpload(ValueError):
    """An uploaded file that cannot be added; the message names it and says why."""


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


def report_html(summary: str, added: list[str], problems: list[str]) -> str:
    """What an upload or re-scan did: a summary, the files added, and each file refused and why."""
    items = [f'<li class="qa-added">added {escape(name)}</li>' for name in added]
    items += [f'<li class="qa-error">✗ {escape(problem)}</li>' for problem in problems]
    return f'<div class="qa-report"><p>{escape(summary)}</p><ul>{"".join(items)}</ul></div>'


def documents_rows(documents) -> list[list]:
    return [[d.title, d.source, d.chunks, d.indexed_at[:16].replace("T", " ")] for d in documents]


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


def indexed_documents(pipeline: qa_pipeline.Pipeline) -> tuple[list[list], str]:
    """The table of the documents in the index, and the line that counts them (and says so when
    the index is from a build that stopped part-way)."""
    backend = pipeline.retriever.backend
    documents, sources = backend.documents(), pipeline.settings.sources_dir
    line = f"**{len(documents)} documents** indexed from `{sources}/`."
    partial = getattr(backend, "partial_notice", None)  # the local index's; Milvus has none yet
    notice = partial() if partial else None
    if notice:
        line += f" Note: {escape(notice[0].upper() + notice[1:])}; re-scan the sources folder to finish it."
    return documents_rows(documents), line


def save_uploads(files, settings, outcomes: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Save uploaded files into the sources folder, as (saved, refused): `saved` maps each one's
    name in the folder to its own name, `refused` says why each other one was not saved.
    `outcomes` holds recent uploads' temp files → what became of them (oldest first)."""
    saved, refused = {}, []
    for path in files or []:
        if path in outcomes and not Path(path).exists():
            # Gradio keeps identical bytes of one name in one temp file, so the same file
            # uploaded from two tabs at once is one file, added (and removed) by the first.
            refused.append(outcomes[path])
            continue
        try:
            name = save_upload(path, settings.sources_dir, settings.max_file_mb * 2**20)
            saved[name] = wanted = safe_upload_name(Path(path).name)
            outcomes[path] = (f"{wanted}: this very file is already in the sources folder"
                              + ("" if name == wanted else f" as {name}") + "; not added twice")
        except BadUpload as error:
            refused.append(str(error))
            outcomes[path] = str(error)
        finally:
            discard_upload(path)
            while len(outcomes) > 1000:
                outcomes.pop(next(iter(outcomes)))
    return saved, refused


def refresh_index(pipeline: qa_pipeline.Pipeline, updating: threading.Lock, saved: dict[str, str],
                  refused: list[str], progress: gr.Progress) -> str:
    """Update the index; `saved` maps each upload's name in the sources folder to its own name.
    Uploads are read once, here: one that cannot be read is taken out of the folder again."""
    settings = pipeline.settings

    def take_back(names) -> None:
        for name in names:
            (Path(settings.sources_dir) / name).unlink(missing_ok=True)

    def embedding(state) -> None:  # a qa.index.store.BuildProgress, as each block of chunks is done
        progress(state.fraction, desc=f"Updating the index: {state.line()}")

    with updating:
        progress(0, desc="Updating the index")
        try:
            report = qa_pipeline.update(settings, pipeline.model, progress=True, on_progress=embedding)
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


def sources_tab(pipeline: qa_pipeline.Pipeline, updating: threading.Lock, read_only: bool, refresh_on) -> None:
    """The Sources tab's contents; call inside `with gr.Tab("Sources"):`. Its table is read again on
    each event of `refresh_on`; unless `read_only`, uploads and re-scans update the index."""
    count = gr.Markdown()
    table = gr.Dataframe(headers=["Title", "File", "Chunks", "Indexed at"],
                         datatype=["str", "str", "number", "str"], interactive=False,
                         wrap=True, elem_id="qa-documents",
                         column_widths=["48%", "30%", "8%", "14%"])
    if read_only:
        gr.Markdown("This app is **read-only**: documents cannot be added or re-scanned here.",
                    elem_id="qa-read-only")
    else:
        update_controls(pipeline, updating, table, count)

    def documents_table():
        return indexed_documents(pipeline)

    for trigger in refresh_on:
        trigger(documents_table, None, [table, count], api_visibility="private")


def update_controls(pipeline: qa_pipeline.Pipeline, updating: threading.Lock, table, count) -> None:
    """The upload field and re-scan button under the documents `table`, and the report of what each
    did; one update runs at a time."""
    settings = pipeline.settings
    upload_outcomes: dict[str, str] = {}  # recent uploads' temp files → what became of them (oldest first)
    with gr.Row():
        upload = gr.File(label=f"Add documents ({', '.join(SUPPORTED)}; up to "
                               f"{settings.max_file_mb} MB each)",
                         file_count="multiple", elem_id="qa-upload", scale=3)
        rescan_button = gr.Button("Re-scan the sources folder", scale=1)
    status = gr.HTML(elem_id="qa-upload-status", js_on_load=None)

    def add_documents(files, progress=gr.Progress(track_tqdm=True)):
        """Save uploaded documents into the sources folder and index them."""
        saved, refused = save_uploads(files, settings, upload_outcomes)
        if not saved:
            status = report_html("Nothing was added." if files else "No file was uploaded.", [], refused)
            return (None, status, *indexed_documents(pipeline))
        return (None, refresh_index(pipeline, updating, saved, refused, progress), *indexed_documents(pipeline))

    def rescan(progress=gr.Progress(track_tqdm=True)):
        return (refresh_index(pipeline, updating, {}, [], progress), *indexed_documents(pipeline))

    upload.upload(add_documents, upload, [upload, status, table, count], api_name="add_documents",
                  concurrency_limit=1, concurrency_id="update")
    rescan_button.click(rescan, None, [status, table, count], api_visibility="private",
                        concurrency_limit=1, concurrency_id="update")
