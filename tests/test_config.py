"""Settings: each field's help and range live in its metadata, are enforced from there, and the
QA_* environment variables set them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from qa.app.cli import build_parser
from qa.app.cli_commands import _settings
from qa.config import Settings, SettingsError


def test_every_setting_has_one_line_of_help():
    for field in dataclasses.fields(Settings):
        help = Settings.help_of(field.name)
        assert help and "\n" not in help, field.name


@pytest.mark.parametrize("name, value, message", [
    ("k", 0, "k must be from 1 to 100"),
    ("k", 101, "k must be from 1 to 100"),
    ("chunk_chars", 49, "chunk_chars must be from 50 to 20,000"),
    ("dense_windows", 20, "dense_windows must be 0 (off) or from 50 to 20,000"),
    ("dense_weight", float("nan"), "dense_weight must be from 0 to 1"),
    ("commit_chunks", 0, "commit_chunks must be at least 1"),
    ("mode", "fast", "mode must be one of hybrid, bm25, dense, not 'fast'"),
])
def test_ranges_and_choices_are_enforced_from_the_metadata(name, value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Settings(**{name: value})


def test_the_ends_of_a_range_and_off_are_allowed():
    low, high = Settings.range_of("k")
    assert Settings(k=low).k == low and Settings(k=high).k == high
    assert Settings(dense_windows=Settings.off_of("dense_windows")).dense_windows == 0


def test_values_of_says_what_a_setting_takes_as_the_docs_and_the_cli_show_it():
    assert Settings.values_of("chunk_chars") == "50 to 20,000"
    assert Settings.values_of("commit_chunks") == "at least 1"
    assert Settings.values_of("dense_windows") == "0 (off) or 50 to 20,000"
    assert Settings.values_of("mode") == "hybrid, bm25, dense"
    assert Settings.values_of("model") == ""


def test_from_env_types_each_value_by_its_field():
    settings = Settings.from_env({"QA_K": "7", "QA_DENSE_WEIGHT": "0.25", "QA_CHUNK_CONTEXT": "yes",
                                  "QA_MODE": "bm25", "QA_READER_DIR": "my-reader", "QA_URI": "none",
                                  "QA_HNSW_EF_SEARCH": "64", "QA_HOST": "0.0.0.0", "OTHER": "x"})
    assert (settings.k, settings.dense_weight, settings.chunk_context, settings.mode) == (7, 0.25, True, "bm25")
    assert settings.reader_dir == Path("my-reader") and settings.uri is None and settings.hnsw_ef_search == 64
    assert Settings.from_env({"QA_CHUNK_CONTEXT": "off"}).chunk_context is False
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize("environ, message", [
    ({"QA_K": "five"}, "QA_K='five': not a whole number"),
    ({"QA_K": "0"}, "QA_K='0': k must be from 1 to 100"),
    ({"QA_DENSE_WEIGHT": "half"}, "QA_DENSE_WEIGHT='half': not a number"),
    ({"QA_CHUNK_CONTEXT": "maybe"}, "QA_CHUNK_CONTEXT='maybe': use one of 1, true, yes, on or 0, false, no, off"),
    ({"QA_MODE": "fast"}, "QA_MODE='fast': mode must be one of hybrid, bm25, dense, not 'fast'"),
])
def test_from_env_names_the_variable_of_a_bad_value(environ, message):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(environ)
    assert str(raised.value) == message


def test_the_cli_starts_from_the_environment_and_its_flags_override_it(monkeypatch):
    monkeypatch.setenv("QA_K", "3")
    monkeypatch.setenv("QA_EVAL_K", "20")
    assert _settings(build_parser().parse_args(["ask", "Who?"])).k == 3
    assert _settings(build_parser().parse_args(["ask", "Who?", "-k", "4"])).k == 4
    assert _settings(build_parser().parse_args(["eval", "set.jsonl"])).eval_k == 20
    monkeypatch.delenv("QA_EVAL_K")
    assert _settings(build_parser().parse_args(["eval", "set.jsonl"])).eval_k == Settings().eval_k == 10


def test_the_cli_takes_the_ranges_of_the_settings(capsys):
    low, high = Settings.range_of("k")
    assert Settings.range_of("eval_k") == (low, high)
    assert build_parser().parse_args(["ask", "Who?", "-k", str(high)]).k == high
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ask", "Who?", "-k", str(high + 1)])
    assert f"out of range: use {low} to {high}" in capsys.readouterr().err


@pytest.mark.parametrize("command, names", [
    ("index", ["sources_dir", "index_dir", "device", "embed_backend", "backend", "uri", "chunk_chars",
               "overlap_sentences", "chunk_context", "dense_windows", "max_file_mb", "max_document_chars", "ocr"]),
    ("ask", ["mode", "k", "fusion", "dense_weight", "confidence_power", "reader_dir"]),
    ("eval", ["eval_k"]),
])
def test_an_option_that_sets_a_setting_says_what_the_setting_says(capsys, command, names):
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    text = re.sub(r"\s+", "", capsys.readouterr().out)  # argparse wraps lines, even inside words
    for name in names:
        assert re.sub(r"\s+", "", Settings.help_of(name)) in text, name


def test_the_sources_folder_is_the_argument_else_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QA_SOURCES_DIR", str(tmp_path / "env-docs"))
    for argv in (["index"], ["serve"], ["show", "a.pdf"], ["verify", "export.json"]):
        assert _settings(build_parser().parse_args(argv)).sources_dir == tmp_path / "env-docs", argv
    assert _settings(build_parser().parse_args(["index", "mine"])).sources_dir == Path("mine")
    assert _settings(build_parser().parse_args(["show", "a.pdf", "--sources", "mine"])).sources_dir == Path("mine")
    monkeypatch.delenv("QA_SOURCES_DIR")
    assert _settings(build_parser().parse_args(["serve"])).sources_dir == Settings().sources_dir


def test_the_web_app_takes_its_most_citations_from_its_settings():
    import gradio as gr

    from qa.app.web_chat import checked_ask
    from qa.app.web_evaluate import checked_run

    settings = Settings.from_env({"QA_WEB_MAX_K": "3"})
    assert checked_ask("Q?", None, 3, settings) == ("Q?", settings.mode, 3)
    with pytest.raises(ValueError, match="from 1 to 3, not 4"):
        checked_ask("Q?", None, 4, settings)
    assert checked_ask("Q?", None, 4, Settings())[2] == 4
    assert checked_run(["bm25"], 7, 7) == (["bm25"], 7)
    with pytest.raises(gr.Error, match="from 1 to 7, not 8"):
        checked_run(["bm25"], 8, 7)
