"""What a hostile or careless client can cost the served app (qa.app.web_limits and its use in qa.app.web):
request and upload sizes, uploads in read-only mode, the temp folder, password guesses, the API
schema before login, missing endpoints, and two identical uploads at once. Real apps on free
ports, each with a temp folder of its own."""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from conftest import DEV_SET, SHIPPED_SOURCES
from qa.app import web, web_sources
from qa.config import Settings
from qa.app.web_limits import MB, LoginThrottle, own_temp_folder

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")  # pandas 3 vs gradio

MAX_FILE_MB = 1  # so that the upload limit is 6 MB and the temp folder's cap 60 MB


class App:
    """A real app over a copy of the shipped sources, with Gradio's temp folder its own."""

    def __init__(self, model, root: Path, read_only=False, auth=None):
        self.sources = root / "sources"
        shutil.copytree(SHIPPED_SOURCES, self.sources)
        settings = Settings(index_dir=root / "index", sources_dir=self.sources, device="cpu",
                            max_file_mb=MAX_FILE_MB)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = pytest.MonkeyPatch()
        self.env.setenv("GRADIO_TEMP_DIR", str(root / "gradio"))
        self.temp = own_temp_folder(self.port)  # as `serve` does
        self.demo = web.build_app(web.prepare(settings, model, progress=False), read_only=read_only)
        web.launch(self.demo, "127.0.0.1", self.port, block=False, auth=auth)
        self.url = f"http://127.0.0.1:{self.port}/"

    def files(self, pattern="*") -> list[Path]:
        # The app removes a session's folder while this walks it: a folder gone mid-walk is empty.
        found = []
        for root, _, names in os.walk(self.temp):
            found += [Path(root) / n for n in fnmatch.filter(names, pattern) if (Path(root) / n).is_file()]
        return found

    def close(self):
        self.demo.close()
        self.env.undo()


@pytest.fixture(scope="module")
def app(model, tmp_path_factory):
    running = App(model, tmp_path_factory.mktemp("open"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def read_only_app(model, tmp_path_factory):
    running = App(model, tmp_path_factory.mktemp("read-only"), read_only=True)
    yield running
    running.close()


class BrowserSession:
    """One session spoken to as Gradio's page speaks to its server: each event joins the queue by
    its number, with None for the session's State inputs, and its result comes back on the
    session's event stream."""

    def __init__(self, url: str):
        self.url, self.hash = url, secrets.token_hex(8)
        self.events = {d["api_name"]: d for d in httpx.get(url + "config").json()["dependencies"]}

    def run(self, name: str, data: list):
        event = self.events[name]
        body = {"data": data, "fn_index": event["id"], "session_hash": self.hash, "event_data": None,
                "trigger_id": event["targets"][0][0]}
        joined = httpx.post(self.url + "gradio_api/queue/join", json=body).json()["event_id"]
        with httpx.stream("GET", self.url + "gradio_api/queue/data", params={"session_hash": self.hash},
                          timeout=120) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[6:]) if line.startswith("data: ") else {}
                if message.get("msg") == "process_completed" and message.get("event_id") == joined:
                    assert message["success"], message
                    return message["output"]["data"]

    def ask(self, question: str) -> None:
        self.run("chat", [question, None, None, "hybrid", 3, False, []])  # [] picks every document
        self.run("export_conversation", [None])  # the page runs it when the answers change

    def close_tab(self) -> None:
        """What closing the tab does: the page's heartbeat stream ends."""
        with httpx.stream("GET", f"{self.url}gradio_api/heartbeat/{self.hash}", timeout=30) as stream:
            next(stream.iter_lines())


def raw_request(url: str, head: str, chunks, seconds: float = 10) -> tuple[int, str, float]:
    """Send `head` and then `chunks` of body until the server answers; (status, its reply, seconds
    from the first byte sent to the answer)."""
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=seconds) as s:
        began = time.perf_counter()
        s.sendall(head.encode("latin-1"))
        for chunk in chunks:
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):  # it answered and closed
                break
            s.setblocking(False)
            try:
                if s.recv(1, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
                s.settimeout(seconds)
        reply = s.recv(65536)
        took = time.perf_counter() - began
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < _length(reply):
            more = s.recv(65536)
            if not more:
                break
            reply += more
    reply = reply.decode("latin-1")
    return int(reply.split()[1]), reply, took


def _length(reply: bytes) -> int:
    head = reply.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    return next((int(line.split(":")[1]) for line in head.splitlines() if line.startswith("content-length:")), 0)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """The most this process's memory grew (MB) while the `with` block ran, sampled every 5 ms."""

    def __enter__(self):
        self.base = self.peak = rss_mb()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.grew = self.peak - self.base


# --- 5. The temp folder ------------------------------------------------------------------------------

def test_read_only_app_stores_no_upload(read_only_app):
    files = [("files", (f"x{i}.txt", os.urandom(MB))) for i in range(3)]
    reply = httpx.post(read_only_app.url + "gradio_api/upload", files=files)
    assert reply.status_code == 403 and "read-only" in reply.json()["detail"]
    assert read_only_app.files() == []


def test_own_temp_folder_is_emptied_at_start(tmp_path):
    left = tmp_path / "qa-7999" / "abc" / "old upload.txt"
    left.parent.mkdir(parents=True)
    left.write_text("from an earlier run")
    environ = {"GRADIO_TEMP_DIR": str(tmp_path)}
    assert own_temp_folder(7999, environ) == tmp_path / "qa-7999"
    assert environ["GRADIO_TEMP_DIR"] == str(tmp_path / "qa-7999")
    assert list((tmp_path / "qa-7999").iterdir()) == []


def test_a_conversation_keeps_one_export_and_it_goes_with_the_session(app):
    session = BrowserSession(app.url)
    questions = ["When did Russia invade Ukraine?", "Who led the Wagner group?", "Who is the NATO Secretary-General?"]
    for question in questions:
        session.ask(question)
    markdown, data = app.files("qa-conversation-*.md"), app.files("qa-conversation-*.json")
    assert len(markdown) == 1 and len(data) == 1  # not one more export per answer
    assert [a["question"] for a in json.loads(data[0].read_text())["answers"]] == questions
    session.close_tab()
    deadline = time.monotonic() + 10
    while app.files("qa-conversation-*") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app.files("qa-conversation-*") == []


def test_an_evaluation_keeps_neither_the_question_set_nor_old_reports(app, tmp_path):
    questions = tmp_path / f"set-{secrets.token_hex(4)}.jsonl"
    questions.write_text(DEV_SET.read_text().splitlines()[0] + "\n")
    client = Client(app.url, verbose=False)
    for k in (3, 5):
        table, metrics_png, *_ = client.predict(handle_file(questions), ["bm25"], k, api_name="/evaluate")
        assert "hit@1" in table and Path(metrics_png).read_bytes()[:4] == b"\x89PNG"
    assert app.files(questions.name) == []  # read once, then removed from the server
    assert len(app.files("*.png")) == 2  # this session's last report only


def test_an_upload_beyond_the_temp_folders_cap_is_refused(app):
    filler = app.temp / "filler.bin"
    with filler.open("wb") as f:  # a sparse file: its size counts, its disk does not
        f.truncate(app.demo.limits.temp_bytes)
    try:
        reply = httpx.post(app.url + "gradio_api/upload", files=[("files", ("a.txt", b"hello"))])
        assert reply.status_code == 507 and "space for uploads is full" in reply.json()["detail"]
    finally:
        filler.unlink()
    assert httpx.post(app.url + "gradio_api/upload", files=[("files", ("a.txt", b"hello"))]).status_code == 200


# --- 6. Body sizes -------------------------------------------------------------------------------------

ASK = "POST /gradio_api/call/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_a_100_mb_request_is_refused_before_it_is_read(app):
    body = b'{"data": ["' + b"x" * MB
    with PeakMemory() as memory:
        status, reply, took = raw_request(app.url, ASK + f"Content-Length: {100 * MB}\r\n\r\n", [body])
    assert status == 413 and "at most 1 MB in one request" in reply
    assert took <= 1.0 and memory.grew <= 50


def test_a_streamed_body_is_cut_off_at_the_limit(app):
    piece = b"x" * (64 * 1024)
    chunks = [b'{"data": ["'] + [piece] * 128  # 8 MB, sent in chunks with no length given
    encoded = (f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
    with PeakMemory() as memory:
        status, _, took = raw_request(app.url, ASK + "Transfer-Encoding: chunked\r\n\r\n", encoded)
    assert status == 413 and took <= 1.0 and memory.grew <= 50


def test_an_upload_over_its_own_limit_is_refused_unread(app):
    head = ("POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {7 * MB}\r\n\r\n")
    status, reply, _ = raw_request(app.url, head, [b"--b\r\n"])
    assert status == 413 and "at most 6 MB at once (1 MB a file)" in reply


def test_a_long_question_is_not_echoed_back_whole(app):
    answer = Client(app.url, verbose=False).predict("why " * 200_000, api_name="/ask")
    assert "at most 2,000 characters" in answer["error"]
    assert len(answer["question"]) <= 2_001


# --- 7. Password guesses --------------------------------------------------------------------------------

def test_login_throttle_waits_longer_after_each_further_failure():
    now = [0.0]
    throttle = LoginThrottle(allowed=3, lockout_s=30, longest_s=100, clock=lambda: now[0])
    for _ in range(2):
        throttle.start("a")
        assert throttle.wait("a") == 1.0  # one login at a time
        throttle.finish("a", failed=True)
    assert throttle.wait("a") == 0
    throttle.finish("a", failed=True)
    assert throttle.wait("a") == 30 and throttle.wait("b") == 0
    now[0] = 30
    assert throttle.wait("a") == 0
    assert throttle.finish("a", failed=True) == 4 and throttle.wait("a") == 60
    now[0] = 100
    throttle.finish("a", failed=True)
    assert throttle.wait("a") == 100  # at most longest_s
    throttle.finish("a", failed=False)
    assert throttle.wait("a") == 0


def test_repeated_wrong_passwords_lock_the_address_out_and_are_logged(model, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="qa.app.web")
    app = App(model, tmp_path, auth=("qa", "s3cret"))
    try:
        with httpx.Client(base_url=app.url) as browser:
            statuses = [browser.post("login", data={"username": "qa", "password": f"guess{i}"}).status_code
                        for i in range(5)]
            assert statuses == [400] * 5
            locked = browser.post("login", data={"username": "qa", "password": "s3cret"})
            assert locked.status_code == 429 and int(locked.headers["Retry-After"]) == 30
            assert "Too many failed logins" in locked.json()["detail"]
        assert "failed login for user 'qa' from 127.0.0.1 (5 in a row); it waits 30 s" in caplog.text
    finally:
        app.close()


# --- 12. Before login, and endpoints that are not there ------------------------------------------------------

def test_the_login_page_carries_no_api_schema(model, tmp_path):
    app = App(model, tmp_path, auth=("qa", "s3cret"))
    try:
        with httpx.Client(base_url=app.url) as browser:
            page = browser.get("").text
            assert "auth_required" in page and "window.gradio_api_info = null;" in page
            assert "named_endpoints" not in page and "/ask" not in page
            assert browser.get("gradio_api/info").status_code == 401
            assert browser.post("login", data={"username": "qa", "password": "s3cret"}).status_code == 200
            assert "/ask" in browser.get("gradio_api/info").json()["named_endpoints"]
    finally:
        app.close()


@pytest.mark.browser
def test_a_browser_still_logs_in_and_asks_on_the_page_without_the_schema(model, tmp_path, browser):  # noqa: F811
    from test_web_browser import ask

    app = App(model, tmp_path, auth=("qa", "s3cret"))
    page = browser.new_page()
    try:
        page.goto(app.url)
        page.fill("input[type=password]", "s3cret")
        page.fill("input[type=text]", "qa")
        page.keyboard.press("Enter")
        page.wait_for_selector("#qa-question textarea")
        ask(page, "When did Russia invade Ukraine?")
        assert "2022" in page.locator("#qa-chat .qa-answer").last.inner_text()
    finally:
        page.close()
        app.close()


@pytest.mark.parametrize("route", ["call/add_documents", "call/v2/add_documents", "run/add_documents",
                                   "call/nothing"])
def test_a_missing_endpoint_is_404(read_only_app, route):
    reply = httpx.post(f"{read_only_app.url}gradio_api/{route}", json={"data": []})
    assert reply.status_code == 404 and "no API endpoint named" in reply.json()["detail"]


# --- 9. Evaluate's messages ----------------------------------------------------------------------------------

@pytest.mark.parametrize("content, k, says", [
    ("[" * 100_000 + "]" * 100_000 + "\n", 3, "nested too deeply"),
    (DEV_SET.read_text().splitlines()[0] + "\n", "abc",
     "Citations per answer (k) must be a whole number from 1 to 20, not 'abc'"),
    ("\n  \n", 3, "has no questions"),
])
def test_evaluate_refusals_are_one_line_without_server_paths(app, tmp_path, content, k, says):
    questions = tmp_path / f"set-{secrets.token_hex(4)}.jsonl"
    questions.write_text(content)
    with pytest.raises(Exception) as refusal:
        Client(app.url, verbose=False).predict(handle_file(questions), ["bm25"], k, api_name="/evaluate")
    message = str(refusal.value)
    assert says in message and "\n" not in message.strip()
    assert str(app.temp) not in message and "/tmp" not in message
    if k == 3:  # read and refused (a bad k is refused before the set reaches qa's code)
        assert app.files(questions.name) == []


# --- 11. The same file uploaded twice at once ------------------------------------------------------------------

def test_the_same_file_saved_twice_at_once_is_kept_once(tmp_path, monkeypatch):
    upload = tmp_path / "upload" / "notes.txt"
    upload.parent.mkdir()
    upload.write_text("The lantern festival of Quenby is held in March.\n")
    sources = tmp_path / "sources"
    sources.mkdir()
    both_copied, real_place, first_calls = threading.Barrier(2), web_sources._place, set()

    def place_together(partial, target):  # both uploads copied before either is placed; one after the other
        if threading.current_thread().name not in first_calls:
            first_calls.add(threading.current_thread().name)
            both_copied.wait()
            if threading.current_thread().name == "second":
                time.sleep(0.3)
        return real_place(partial, target)

    monkeypatch.setattr(web_sources, "_place", place_together)
    outcomes = {}

    def save(name):
        try:
            outcomes[name] = web_sources.save_upload(str(upload), sources, MB)
        except Exception as error:  # noqa: BLE001  (the test reports any)
            outcomes[name] = error

    threads = [threading.Thread(target=save, args=(name,), name=name) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["first"] == "notes.txt"
    assert isinstance(outcomes["second"], web_sources.BadUpload), outcomes["second"]
    assert "notes.txt: this very file is already in the sources folder" in str(outcomes["second"])
    assert sorted(p.name for p in sources.iterdir()) == ["notes.txt"]  # nothing half-placed left


def test_two_sessions_uploading_the_same_file_both_get_a_clear_result(app):
    name, data = f"twice-{secrets.token_hex(3)}.txt", b"The harbour of Quenby freezes every January.\n"
    paths = [httpx.post(app.url + "gradio_api/upload", files=[("files", (name, data))]).json()[0] for _ in range(2)]
    assert paths[0] == paths[1]  # Gradio keeps identical bytes of one name in one temp file
    upload = [{"path": paths[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}]
    with ThreadPoolExecutor(2) as pool:  # each tab adds "its" upload
        statuses = list(pool.map(lambda _: BrowserSession(app.url).run("add_documents", [upload])[1], range(2)))
    assert sum(f"added {name}" in s for s in statuses) == 1, statuses
    assert sum(f"{name}: this very file is already in the sources folder" in s for s in statuses) == 1, statuses
    assert [p.name for p in app.sources.glob("twice-*")] == [name]
    assert app.files(name) == []  # and it went from the temp folder
