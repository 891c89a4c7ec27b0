"""Who may reach the web app: loopback without a password; beyond it, a password (QA_PASSWORD or
QA_PASSWORD_FILE) or --read-only, else a refusal; and where it listens (flags, QA_*, GRADIO_*)."""

from __future__ import annotations

import shutil
import socket

import httpx
import pytest
from gradio_client import Client

from qa.app import web, web_access
from qa.config import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")  # pandas 3 vs gradio


@pytest.mark.parametrize("flags, environ, expected", [
    ((None, None), {}, ("127.0.0.1", 7860)),
    ((None, None), {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8001"}, ("0.0.0.0", 8001)),
    ((None, None), {"QA_HOST": "10.0.0.2", "QA_PORT": "8002", "GRADIO_SERVER_NAME": "0.0.0.0",
                    "GRADIO_SERVER_PORT": "8001"}, ("10.0.0.2", 8002)),
    (("::1", 8003), {"QA_HOST": "10.0.0.2", "QA_PORT": "8002", "GRADIO_SERVER_PORT": "8001"}, ("::1", 8003)),
    ((None, 8003), {"GRADIO_SERVER_NAME": "0.0.0.0", "QA_PORT": "8002"}, ("0.0.0.0", 8003)),
    ((None, None), {"QA_HOST": "", "GRADIO_SERVER_NAME": "192.168.1.5"}, ("192.168.1.5", 7860)),
])
def test_listen_address_precedence(flags, environ, expected):
    assert web_access.listen_address(*flags, environ=environ) == expected


def test_listen_address_names_the_bad_variable():
    with pytest.raises(SystemExit, match="GRADIO_SERVER_PORT must be a port number, not 'http'"):
        web_access.listen_address(None, None, environ={"GRADIO_SERVER_PORT": "http"})
    with pytest.raises(SystemExit, match="QA_PORT must be a port number from 1 to 65535, not 70000"):
        web_access.listen_address(None, None, environ={"QA_PORT": "70000"})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "myhost.example"])
def test_beyond_loopback_without_password_or_read_only_is_refused(host):
    with pytest.raises(SystemExit) as refusal:
        web_access.access_for(host, read_only=False, environ={})
    message = str(refusal.value)
    assert f"would listen on {host}, beyond this computer" in message
    assert "QA_PASSWORD" in message and "QA_PASSWORD_FILE" in message and "--read-only" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_no_password(host):
    access = web_access.access_for(host, environ={})
    assert access == web_access.Access(None, False)
    assert access.describe(host) == "access: no password, this computer only; uploads and re-scans allowed"


def test_password_from_the_environment_or_a_file(tmp_path):
    assert web_access.access_for("0.0.0.0", environ={"QA_PASSWORD": "s3cret"}).auth == ("qa", "s3cret")
    secret = tmp_path / "password"
    secret.write_text("from file \n# a second line is ignored\n")
    access = web_access.access_for("0.0.0.0", environ={"QA_PASSWORD_FILE": str(secret), "QA_USER": "ann"})
    assert access.auth == ("ann", "from file ")
    assert access.describe("0.0.0.0") == "access: password required (user 'ann'); uploads and re-scans allowed"
    with pytest.raises(SystemExit, match="cannot be read"):
        web_access.access_for("0.0.0.0", environ={"QA_PASSWORD_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("")
    with pytest.raises(SystemExit, match="the password, is empty"):
        web_access.access_for("0.0.0.0", environ={"QA_PASSWORD_FILE": str(tmp_path / "empty")})
    with pytest.raises(SystemExit, match="not both"):
        web_access.access_for("0.0.0.0", environ={"QA_PASSWORD": "a", "QA_PASSWORD_FILE": str(secret)})


def test_read_only_beyond_loopback_is_allowed_and_says_so():
    access = web_access.access_for("0.0.0.0", read_only=True, environ={})
    assert access == web_access.Access(None, True)
    assert access.describe("0.0.0.0") == ("access: no password, anyone who can reach 0.0.0.0; "
                                          "read-only: asking only, no uploads, re-scans or evaluation")


def test_serve_refuses_before_loading_anything(monkeypatch, tmp_path, capsys):
    for name in ("QA_PASSWORD", "QA_PASSWORD_FILE", "QA_HOST", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(web, "prepare", lambda *a, **k: pytest.fail("the model was loaded"))
    with pytest.raises(SystemExit, match="--read-only"):
        web.serve(Settings(index_dir=tmp_path / "index"), host="0.0.0.0", port=8123)


# --- The running app ----------------------------------------------------------------------------

def _start(model, root, read_only=False, auth=None):
    from conftest import SHIPPED_SOURCES

    sources = root / "sources"
    shutil.copytree(SHIPPED_SOURCES, sources)
    settings = Settings(index_dir=root / "index", sources_dir=sources, device="cpu")
    demo = web.build_app(web.prepare(settings, model, progress=False), read_only=read_only)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    web.launch(demo, "127.0.0.1", port, block=False, auth=auth)
    return f"http://127.0.0.1:{port}/", demo


def test_read_only_app_answers_but_offers_no_upload(model, tmp_path):
    url, demo = _start(model, tmp_path, read_only=True)
    try:
        client = Client(url, verbose=False)
        assert "/add_documents" not in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        with pytest.raises(Exception, match="add_documents"):
            client.predict([], api_name="/add_documents")
        answer = client.predict("When did Russia invade Ukraine?", "hybrid", 2, api_name="/ask")
        assert "2022" in answer["answer"][0]["quote"]
        page = str(httpx.get(url + "config").json())
        assert "read-only" in page and "qa-upload" not in page and "Evaluate" not in page
    finally:
        demo.close()


def test_password_is_required_when_set(model, tmp_path):
    url, demo = _start(model, tmp_path, auth=("qa", "s3cret"))
    try:
        assert httpx.get(url + "config").status_code == 401
        with pytest.raises(Exception):
            Client(url, verbose=False)
        with httpx.Client(base_url=url) as browser:
            assert browser.post("login", data={"username": "qa", "password": "wrong"}).status_code == 400
            assert browser.post("login", data={"username": "qa", "password": "s3cret"}).json() == {"success": True}
            assert browser.get("config").status_code == 200
        client = Client(url, auth=("qa", "s3cret"), verbose=False)
        answer = client.predict("When did Russia invade Ukraine?", "hybrid", 2, api_name="/ask")
        assert "2022" in answer["answer"][0]["quote"]
    finally:
        demo.close()
