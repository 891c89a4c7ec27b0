"""The parts joined: load the backend and model once, keep the index up to date, answer.

The CLI, the web app and the evaluation all start here, so they see the same retrieval.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import TYPE_CHECKING

from qa.read.answer import Answer, answer_question, shared_reader
from qa.index.backend import Backend, BuildReport
from qa.config import Settings
from qa.read.conversation import query_after
from qa.index.dense import load_model
from qa.ingest.documents import Document, Skipped, UnreadableFile, read_document, read_sources
from qa.errors import UserError
from qa.retrieve import Hit, Retriever

if TYPE_CHECKING:
    from qa.index.store_build import BuildProgress

# Which question the reader reads for a follow-up: "original" (the question as asked) or
# "expanded" (the question with the carried words, as searched). "expanded" answered more follow-ups
# first (hybrid follow_up_hit@1 0.875 against 0.750): "What is his role?" alone names nobody for the
# reader to match. Measured in README, "Follow-up questions".
READER_SEES = "expanded"

# Where an index can live (`Settings.backend`) → the module that keeps it there. Each offers
# open_index, update and built_shape (see qa.index.backend); each is imported only when used, since
# Milvus needs the optional pymilvus.
BACKENDS = {"local": "qa.index.store", "milvus": "qa.index.milvus"}
# A file skipped by an update but changed while it ran is read again after this pause: an editor
# that rewrites a file empties it first, and read at that moment it would leave the index.
SETTLE_S = 0.25


@dataclass
class Pipeline:
    settings: Settings
    model: object
    retriever: Retriever
    compaction_due: bool = False  # the last update left a big merge for `compact` (qa.index.store)

    def search(self, question: str, mode: str | None = None, k: int | None = None,
               sources: Iterable[str] | None = None) -> list[Hit]:
        """The best `k` passages for `question` (see `Retriever.search`); with `sources`, only of
        the documents those patterns select (see `Retriever.within`)."""
        return self.retriever.within(sources).search(question, mode, k)

    def ask(self, question: str, mode: str | None = None, k: int | None = None,
            previous: Answer | None = None, sources: Iterable[str] | None = None) -> Answer:
        """The cited answer to `question`, or an abstention (see `qa.read.answer.answer_question`);
        after `previous`, a follow-up is searched with its context (see `answer_after`). With
        `sources`, quoted only from the documents those patterns select (see `Retriever.within`)."""
        return answer_after(self.retriever.within(sources), question, previous, mode, k)

    def reload(self) -> None:
        """Point the retriever at the live index after an update (readers never see half of one)."""
        retriever = Retriever(open_backend(self.settings), self.model, self.settings)
        retriever.keep_sentences_of(self.retriever)  # sentence vectors depend on the text alone
        self.retriever = retriever


def answer_after(retriever: Retriever, question: str, previous: Answer | dict | None,
                 mode: str | None = None, k: int | None = None, reader_sees: str = READER_SEES) -> Answer:
    """The answer to `question` asked after `previous` (an Answer or its JSON; None: asked alone).
    A follow-up is searched for with the words it leaves implicit (qa.read.conversation), and the answer
    says so in `searched_for`; quotes still come only from the documents."""
    if isinstance(previous, Answer):
        previous = previous.as_dict()
    reader = shared_reader(retriever.settings.reader_dir)
    query = query_after(question, previous, retriever.backend.knows_word, reader.knows_word)
    if reader_sees == "expanded" and query != question:
        answer = answer_question(retriever, query, mode, k, typed=question)
        if not answer.error:  # else the carried words made it too long: read the question as asked
            return replace(answer, question=" ".join(question.split()), searched_for=query)
    return answer_question(retriever, question, mode, k, search_query=query)


def backend_module(settings: Settings) -> ModuleType:
    """The module that keeps the index `settings` name: qa.index.store or qa.index.milvus."""
    return importlib.import_module(BACKENDS[settings.backend])


def open_backend(settings: Settings) -> Backend:
    """The index that `settings` names, loaded and checked: local files or Milvus."""
    return backend_module(settings).open_index(settings)


def built_shape(settings: Settings) -> dict | None:
    """The settings that shape the configured index, as it was built; None when there is none."""
    return backend_module(settings).built_shape(settings)


def index_settings(settings: Settings, keep=()) -> Settings:
    """`settings` with the values that shape an index (model, embedding backend, chunking) read
    from the existing index, except those named in `keep` (given explicitly by the user)."""
    return settings.shaped_like(built_shape(settings), keep)


def update(settings: Settings, model, sources_dir: Path | None = None, rebuild: bool = False,
           progress: bool = True, on_progress: Callable[[BuildProgress], None] | None = None) -> BuildReport:
    """Bring the configured index (local or Milvus) up to date with the sources folder. `progress`:
    bars on the terminal; `on_progress`: called with the embedding's progress instead of its bar
    (the local index only, for now)."""
    sources_dir = Path(sources_dir or settings.sources_dir)
    began = time.time()
    with indexed_documents(settings, rebuild) as known:
        documents, skipped = read_sources(sources_dir, settings.max_file_mb * 2**20, progress,
                                          settings.max_document_chars, known, settings.ocr)
    documents, skipped = _read_changed_again(sources_dir, settings, documents, skipped, began)
    # Milvus has no on_progress yet: its update shows its own bar.
    extra = {"on_progress": on_progress} if on_progress is not None and settings.backend == "local" else {}
    report = backend_module(settings).update(settings, model, documents, rebuild=rebuild, progress=progress, **extra)
    report.skipped = skipped
    return report


@contextmanager
def indexed_documents(settings: Settings, rebuild: bool = False):
    """A `known` for reading the sources (qa.ingest.documents): the indexed document of a file whose bytes
    are unchanged, so an update parses only new and changed files. None when rebuilding, when
    there is no usable local index, or on Milvus (which is not read for this)."""
    index = None
    if not rebuild and settings.backend == "local":
        from qa.index.store import Index

        with suppress(UserError, OSError):
            index = Index.open(settings.index_dir, searchable=False)
    if index is None:
        yield None
        return
    hashes = {d.source: d.sha256 for d in index.documents()}

    def known(source: str, sha256: str) -> Document | None:
        if hashes.get(source) != sha256:
            return None
        try:
            return index.document_by_source(source)
        except (UserError, OSError, ValueError):  # a damaged record: the file is parsed instead
            return None

    try:
        yield known
    finally:
        index.close()


def _read_changed_again(sources_dir: Path, settings: Settings, documents: list[Document],
                        skipped: list[Skipped], since: float) -> tuple[list[Document], list[Skipped]]:
    """`documents` and `skipped`, with each skipped file that was written to since `since` (the
    start of reading) read once more after a pause: it may have been caught half rewritten."""
    def changed(path: Path) -> bool:
        try:  # files skipped for what they are, unchanged, are not read twice
            return path.is_file() and path.stat().st_mtime >= since
        except OSError:
            return False

    again = [s for s in skipped if changed(sources_dir / s.path)]
    if not again:
        return documents, skipped
    time.sleep(SETTLE_S)
    documents, still_skipped = list(documents), []
    for s in skipped:
        try:
            if s not in again:
                still_skipped.append(s)
                continue
            documents.append(read_document(sources_dir / s.path, s.path, settings.max_file_mb * 2**20,
                                           settings.max_document_chars, ocr=settings.ocr))
        except UnreadableFile as error:
            still_skipped.append(Skipped(s.path, str(error)))
    documents.sort(key=lambda d: PurePosixPath(d.source).parts)  # the order read_sources gives
    return documents, still_skipped


def model_for(settings: Settings):
    """The embedding model that `settings` name, on its device and embedding backend."""
    return load_model(settings.model, settings.device, settings.embed_backend)


def load(settings: Settings, model=None, keep=()) -> Pipeline:
    """Load the model (unless given) and the index, once per process, with the settings the index
    was built with; a value named in `keep` that differs from them is refused (IndexUnusable)."""
    settings = index_settings(settings, keep)
    backend = open_backend(settings)  # first: a missing index should not cost a model load
    model = model or model_for(settings)
    return Pipeline(settings, model, Retriever(backend, model, settings))
