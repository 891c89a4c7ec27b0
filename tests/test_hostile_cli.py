"""The `qa` command against hostile input: bad numbers, closed pipes, damaged indexes, full disks.

Whatever the user types, the answer is one line saying what is wrong, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qa.cli import main


@pytest.mark.parametrize("argv, says", [
    (["ask", "Who?", "-k", "0"], "argument -k: 0 is out of range: use 1 to 100"),
    (["ask", "Who?", "-k", "-100"], "argument -k: -100 is out of range: use 1 to 100"),
    (["search", "Who?", "-k", "0"], "argument -k: 0 is out of range"),
    (["search", "Who?", "-k", "abc"], "argument -k: 'abc' is not a whole number"),
    (["eval", "set.jsonl", "-k", "100000000"], "argument -k: 100000000 is out of range: use 1 to 100"),
    (["eval", "set.jsonl", "-k", "0"], "argument -k: 0 is out of range"),
    (["index", "--chunk-chars", "49"], "argument --chunk-chars: 49 is out of range: use 50 to 20,000"),
    (["index", "--chunk-chars", "1e9"], "argument --chunk-chars: '1e9' is not a whole number"),
    (["index", "--overlap", "-1"], "argument --overlap: -1 is out of range: use 0 to 10"),
    (["index", "--max-file-mb", "0"], "argument --max-file-mb: 0 is out of range: use 1 to 2,048"),
    (["serve", "--port", "70000"], "argument --port: 70000 is out of range: use 1 to 65,535"),
])
def test_numeric_options_out_of_range_are_refused_in_words(argv, says, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    assert says in capsys.readouterr().err


def test_help_states_the_ranges(capsys):
    with pytest.raises(SystemExit):
        main(["index", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "50 to 20,000" in text and "0 to 10" in text and "1 to 2,048" in text
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    assert "1 to 100" in capsys.readouterr().out


def _qa(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qa.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_reader_that_goes_away_is_not_a_crash(local_index, settings, json_flag):
    """`qa ask … | head`: the pipe closes before qa writes; qa exits quietly as SIGPIPE would."""
    process = _qa("ask", "When did Russia invade Ukraine?", "--index", str(settings.index_dir), *json_flag)
    process.stdout.close()  # long before the model is loaded and the answer printed
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err
