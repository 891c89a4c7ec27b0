"""Many users at once: concurrent gradio_client sessions against a real running web app.

Starts `python app.py` on a free loopback port over a copy of sources/ (and a fresh index), then
N client threads ask the development questions round-robin for a bounded time. Every reply is
checked: an answerable question must be answered with the expected text in one of its first three
citations, an off-topic one must abstain, and every quote must sit at its offsets in the passage.
Prints requests, errors, wrong answers, throughput and latency p50/p95.

    .venv/bin/python -m bench.web.load                  # 50 clients for 60 s
    .venv/bin/python -m bench.web.load --clients 20 --seconds 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.paths import DEV_SET, ROOT, SOURCES
from qa.evaluation.evaluate import contains_answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(reply: dict, question: dict) -> str | None:
    """What is wrong with a reply, or None."""
    if reply.get("error"):
        return f"error: {reply['error']}"
    for c in reply["citations"]:
        if c["passage"][c["start"] - c["passage_start"]:c["end"] - c["passage_start"]] != c["quote"]:
            return f"citation {c['n']}: quote not at its offsets"
    if not question["answers"]:
        return None if reply["abstained"] else "answered an off-topic question"
    if reply["abstained"]:
        return "abstained on an answerable question"
    if not any(contains_answer(c["passage"], question["answers"]) for c in reply["citations"][:3]):
        return "expected answer not in the first three citations"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="concurrent sessions (default 50)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they keep asking (default 60)")
    parser.add_argument("--questions", type=Path, default=DEV_SET, help="question set (default: the dev set)")
    args = parser.parse_args()

    from gradio_client import Client

    questions = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    work = Path(tempfile.mkdtemp(prefix="qa-load-"))
    shutil.copytree(SOURCES, work / "sources")
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--sources",
                               str(work / "sources"), "--index", str(work / "index")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                Client(url, verbose=False)
                break
            except Exception:
                time.sleep(1)
        else:
            raise SystemExit("the app did not start within 120 s")

        latencies, problems, errors = [], [], []
        lock = threading.Lock()
        deadline = time.perf_counter() + args.seconds

        def session(number: int) -> None:
            try:
                client = Client(url, verbose=False)
            except Exception as error:
                with lock:
                    errors.append(f"client {number} could not connect: {error}")
                return
            turn = number
            while time.perf_counter() < deadline:
                question = questions[turn % len(questions)]
                turn += 1
                began = time.perf_counter()
                try:
                    reply = client.predict(question["question"], "hybrid", 5, api_name="/ask")
                except Exception as error:
                    with lock:
                        errors.append(f"client {number}: {type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - began
                problem = check(reply, question)
                with lock:
                    latencies.append(elapsed)
                    if problem:
                        problems.append(f"{question['id']}: {problem}")

        began = time.perf_counter()
        threads = [threading.Thread(target=session, args=(n,)) for n in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    latencies.sort()
    print(f"{args.clients} clients for {args.seconds:.0f} s against {url} (2 CPU cores, app and clients on one machine)")
    print(f"requests answered: {len(latencies)}; errors: {len(errors)}; wrong answers: {len(problems)}")
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(f"throughput: {len(latencies) / wall:.1f} answers/s; latency p50 {statistics.median(latencies):.2f} s, "
              f"p95 {p95:.2f} s, max {latencies[-1]:.2f} s")
    for line in (errors + problems)[:10]:
        print("  " + line)
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
