"""A hostile client against the served web app: what a request costs the server, and what its temp
folder holds (issue 34, items 5 and 6).

Starts `python app.py` on a free loopback port over a copy of sources/ and a fresh index, with
GRADIO_TEMP_DIR in a fresh folder, and measures:

1. a 100 MB /ask, declared by its Content-Length and then streamed in chunks without one: seconds
   from its first byte to the server's answer, the answer, the bytes sent by then, and how much
   the server's resident memory grew (sampled every 5 ms from /proc);
2. the temp folder while one browser session asks N questions (each answer followed by the
   export the page asks for, as the page does), after M uploads, and after the tab closes;
3. with --read-only, 20 anonymous 10 MB uploads: their statuses, and what the temp folder kept.

    .venv/bin/python -m bench.web.hostile_client                          # 100 answers, 100 uploads
    .venv/bin/python -m bench.web.hostile_client --answers 1000 --uploads 100

Only HTTP is used, so it also runs against an older checkout (PYTHONPATH=old/src) to compare;
--skip-body leaves out part 1 there (an app without a body limit reads all 100 MB).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.paths import DEV_SET, ROOT, SOURCES
MB = 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / MB


class App:
    """`python app.py` in a process of its own, its temp folder in `work`."""

    def __init__(self, work: Path, *flags: str):
        self.temp = work / f"gradio{'-read-only' if flags else ''}"
        self.port = free_port()
        environ = {**os.environ, "GRADIO_TEMP_DIR": str(self.temp)}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), "--sources", str(work / "sources"),
             "--index", str(work / "index"), *flags], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}/"
        for _ in range(300):
            try:
                if httpx.get(self.url + "config", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                raise SystemExit(f"the app stopped at start (exit status {self.process.returncode})")
            time.sleep(1)
        raise SystemExit("the app did not start within 300 s")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


class Session:
    """One browser session, spoken to as Gradio's page speaks to its server."""

    def __init__(self, url: str):
        self.url, self.hash = url, secrets.token_hex(8)
        config = httpx.get(url + "config").json()
        self.kinds = {c["id"]: c["type"] for c in config["components"]}
        self.events = {d["api_name"]: d for d in config["dependencies"]}

    def run(self, name: str, values: dict) -> list:
        """Run event `name` with `values` by component type (State inputs: None, as the page sends)."""
        event = self.events[name]
        data = [values.get(self.kinds[i]) for i in event["inputs"]]
        body = {"data": data, "fn_index": event["id"], "session_hash": self.hash, "event_data": None,
                "trigger_id": event["targets"][0][0]}
        joined = httpx.post(self.url + "gradio_api/queue/join", json=body, timeout=60).json()["event_id"]
        with httpx.stream("GET", self.url + "gradio_api/queue/data", params={"session_hash": self.hash},
                          timeout=300) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[6:]) if line.startswith("data: ") else {}
                if message.get("msg") == "process_completed" and message.get("event_id") == joined:
                    return message["output"].get("data", [])
        return []

    def close_tab(self) -> None:
        with httpx.stream("GET", f"{self.url}gradio_api/heartbeat/{self.hash}", timeout=30) as stream:
            next(stream.iter_lines())


def hostile_request(app: App, head: bytes, chunks) -> str:
    """Send `head`, then `chunks` until the server answers; one line: its status, the time, the
    bytes sent by then, and the server's memory growth."""
    base = peak = app.rss_mb()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.wait(0.005):
            peak = max(peak, app.rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sent = 0
    with socket.create_connection(("127.0.0.1", app.port), timeout=120) as s:
        began = time.perf_counter()
        s.sendall(head)
        for chunk in chunks:
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            s.setblocking(False)
            try:
                answered = bool(s.recv(1, socket.MSG_PEEK))
            except BlockingIOError:
                answered = False
            s.settimeout(120)
            if answered:
                break
        try:
            reply = s.recv(65536).decode("latin-1")
        except ConnectionResetError:
            reply = ""
        took = time.perf_counter() - began
    time.sleep(0.2)  # what the server does right after its answer counts too
    done.set()
    sampler.join()
    status = " ".join(reply.split("\r\n", 1)[0].split()[1:]) if reply else "(connection closed)"
    return f"{status} in {took:.3f} s after {sent / MB:.1f} MB sent; server memory +{peak - base:.1f} MB"


def body_part(app: App) -> None:
    ask = b"POST /gradio_api/call/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    start, piece = b'{"data": ["', b"x" * MB
    print("100 MB /ask, Content-Length given:",
          hostile_request(app, ask + f"Content-Length: {100 * MB + len(start) + 3}\r\n\r\n".encode(),
                          [start] + [piece] * 100 + [b'"]}']))
    chunks = (f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in [start] + [piece[:64 * 1024]] * 1600)
    print("100 MB /ask, streamed in 64 KB chunks:",
          hostile_request(app, ask + b"Transfer-Encoding: chunked\r\n\r\n", chunks))
    reply = httpx.post(app.url + "gradio_api/call/ask", json={"data": ["When did Russia invade Ukraine?"]})
    print(f"then an ordinary /ask: {reply.status_code}")


def temp_part(app: App, answers: int, uploads: int, work: Path) -> None:
    questions = [json.loads(line)["question"] for line in DEV_SET.read_text().splitlines() if line.strip()]
    session = Session(app.url)
    print(f"temp folder at start: {folder_mb(app.temp):.2f} MB")
    began = time.perf_counter()
    for n in range(1, answers + 1):
        session.run("chat", {"textbox": questions[n % len(questions)], "chatbot": [], "radio": "hybrid",
                             "slider": 5, "checkbox": False})
        session.run("export_conversation", {})  # the page asks for it when the answers change
        if n % max(1, answers // 4) == 0 or n == answers:
            print(f"after {n} answers in one session: temp folder {folder_mb(app.temp):.2f} MB "
                  f"({time.perf_counter() - began:.0f} s)")
    documents = work / "uploads"
    documents.mkdir()
    for n in range(1, uploads + 1):
        document = documents / f"upload-{n}.txt"
        document.write_text(f"Upload {n}\n\nThe {n}th lantern of Quenby is lit on day {n} of March.\n" * 20)
        with document.open("rb") as f:
            path = httpx.post(app.url + "gradio_api/upload", files=[("files", (document.name, f))]).json()[0]
        session.run("add_documents", {"file": [{"path": path, "orig_name": document.name,
                                                "meta": {"_type": "gradio.FileData"}}]})
        if n % max(1, uploads // 4) == 0 or n == uploads:
            print(f"after {n} uploads: temp folder {folder_mb(app.temp):.2f} MB")
    session.close_tab()
    time.sleep(3)
    print(f"after the tab closed: temp folder {folder_mb(app.temp):.2f} MB")


def read_only_part(app: App) -> None:
    statuses = []
    for n in range(20):
        reply = httpx.post(app.url + "gradio_api/upload", files=[("files", (f"big-{n}.txt", os.urandom(10 * MB)))],
                           timeout=60)
        statuses.append(reply.status_code)
    print(f"read-only, 20 anonymous 10 MB uploads: statuses {sorted(set(statuses))}; "
          f"temp folder {folder_mb(app.temp):.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=100, help="answers in one session (default 100)")
    parser.add_argument("--uploads", type=int, default=100, help="uploads (default 100)")
    parser.add_argument("--skip-body", action="store_true", help="leave out the 100 MB requests")
    parser.add_argument("--skip-read-only", action="store_true", help="leave out the read-only app")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qa-hostile-web-"))
    shutil.copytree(SOURCES, work / "sources")
    try:
        app = App(work)
        try:
            if not args.skip_body:
                body_part(app)
            temp_part(app, args.answers, args.uploads, work)
        finally:
            app.stop()
        print(f"after the app stopped: temp folder {folder_mb(app.temp):.2f} MB")
        if not args.skip_read_only:
            read_only = App(work, "--read-only")
            try:
                read_only_part(read_only)
            finally:
                read_only.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
