"""`python app.py`: the options of `qa serve` (sources as --sources), and one-line errors."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SHIPPED_SOURCES


def _app():
    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_takes_the_options_of_qa_serve(capsys):
    with pytest.raises(SystemExit):
        _app().main(["--help"])
    text = capsys.readouterr().out
    for option in ("--sources", "--index", "--host", "--port", "--read-only", "--device",
                   "--embed-backend", "--backend", "--uri"):
        assert option in text


def test_app_hands_its_options_to_the_web_app(monkeypatch, tmp_path):
    import qa.app.web

    seen = {}
    monkeypatch.setattr(qa.app.web, "serve", lambda settings, host, port, read_only: seen.update(
        settings=settings, host=host, port=port, read_only=read_only) or 0)
    assert _app().main(["--sources", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"), "--port", "8000",
                        "--embed-backend", "torch", "--read-only", "--max-file-mb", "64"]) == 0
    settings = seen["settings"]
    assert (settings.sources_dir, settings.index_dir) == (tmp_path / "docs", tmp_path / "idx")
    assert settings.embed_backend == "torch" and seen["port"] == 8000 and seen["read_only"]
    assert settings.max_file_mb == 64  # uploads and the index update both take the raised limit


def test_a_gpu_that_is_not_there_is_one_line_not_a_traceback(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(ROOT / "app.py"), "--device", "cuda", "--sources",
                           str(SHIPPED_SOURCES), "--index", str(tmp_path / "index")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("qa: --device cuda asks for a GPU") and "Traceback" not in done.stderr
    assert not Path(tmp_path / "index").exists()
