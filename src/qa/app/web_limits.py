"""What a served web app may cost: request sizes, uploads, password guesses and temporary disk.

`Guard` is an ASGI middleware that sits inside Gradio's FastAPI app and sees every request before a
route reads it: it refuses bodies over `Limits` (by their Content-Length, or as soon as a streamed
body passes the limit), uploads in read-only mode or beyond the temp folder's cap, repeated failed
logins from one address, and calls to endpoints that do not exist; and it keeps the API schema out
of pages served before login. `SessionFolders` holds the files made for one browser session
(conversation exports, evaluation reports) so that they are replaced, not piled up, and go when the
session ends; `own_temp_folder` gives the app a temp folder of its own, emptied at start.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import JSONResponse

log = logging.getLogger("qa.app.web")

MB = 2**20
API = "/gradio_api"
UPLOAD_ROUTES = (f"{API}/upload", f"{API}/upload/", f"{API}/process_recording")
LOGIN_ROUTES = ("/login", "/login/")
CALL_ROUTE = re.compile(rf"^{API}/(call/v2|call|run|api)/([^/]+)/?$")
# Gradio's page template: `<script>window.gradio_api_info = {…};</script>`, its JSON with `<` escaped.
API_INFO = re.compile(rb"window\.gradio_api_info = .*?;</script>", re.DOTALL)
FILES_PER_UPLOAD = 5  # one upload request may carry this many files of the largest size
UPLOADS_IN_TEMP = 10  # the temp folder's cap, in the largest uploads


@dataclass(frozen=True)
class Limits:
    """What one request may cost, in bytes; how much the temp folder may hold; how many failed
    logins in a row an address gets before it must wait (`lockout_s`, doubling per further
    failure up to `longest_lockout_s`)."""
    max_file_bytes: int
    upload_bytes: int
    temp_bytes: int
    # Questions are at most 2,000 characters and the chat's history stays on the server, so
    # no request but an upload needs more than a few kilobytes.
    body_bytes: int = 1 * MB
    read_only: bool = False
    login_failures: int = 5
    lockout_s: float = 30.0
    longest_lockout_s: float = 900.0

    @classmethod
    def for_files(cls, max_file_mb: int, read_only: bool = False) -> Limits:
        """The limits for uploads of at most `max_file_mb` a file (Settings.max_file_mb)."""
        upload = FILES_PER_UPLOAD * max_file_mb * MB + MB  # and a megabyte for the form around them
        return cls(max_file_bytes=max_file_mb * MB, upload_bytes=upload, temp_bytes=UPLOADS_IN_TEMP * upload,
                   read_only=read_only)


# --- Temporary files ------------------------------------------------------------------------------

def own_temp_folder(port: int, environ=os.environ) -> Path:
    """Point Gradio at a temp folder of this app's own, `qa-PORT` inside GRADIO_TEMP_DIR (else
    the system's temp folder's `gradio`), emptied now: what an earlier run on the port left goes
    at start. Call it before the app is built: Gradio reads the folder when it makes each part."""
    base = Path(environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    folder = base / f"qa-{port}"
    try:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SystemExit(f"qa: cannot make the temp folder {folder} ({error.strerror}); "
                         "set GRADIO_TEMP_DIR to a folder you can write to") from None
    environ["GRADIO_TEMP_DIR"] = str(folder)
    return folder


def discard_upload(temp_path: str | Path) -> None:
    """Remove an upload from Gradio's temp folder once it is used or refused (it would otherwise
    stay there until the app stops), with its folder when that is left empty."""
    path = Path(temp_path)
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # not empty: another upload shares it
        pass


def folder_bytes(folder: str | Path) -> int:
    """The bytes of all the files under `folder` (links not followed); 0 when there is none."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # removed meanwhile
                continue
    return total


class SessionFolders:
    """The files made for one browser session, in a folder of their own under Gradio's temp
    folder (where Gradio serves them from without copying): a file remade replaces the last one,
    and the whole folder goes when the session ends (`end`)."""

    def __init__(self, temp_folder: str | Path, cap_bytes: int):
        self.root = Path(temp_folder) / "qa-sessions"
        self.temp_folder = Path(temp_folder)
        self.cap_bytes = cap_bytes

    def _own(self, session_hash: str) -> Path:
        # The session hash comes from the browser: hashed, it cannot name a folder elsewhere.
        return self.root / hashlib.sha256(str(session_hash).encode("utf-8")).hexdigest()[:32]

    def fresh(self, session_hash: str, kind: str) -> Path:
        """A new, empty folder for the session's files of one kind ("export", "evaluation"); the
        kind's earlier files are removed. A new name each time, so that no browser shows a file
        it kept from before."""
        kind_folder = self._own(session_hash) / kind
        shutil.rmtree(kind_folder, ignore_errors=True)
        folder = kind_folder / secrets.token_hex(4)
        folder.mkdir(parents=True)
        return folder

    def has_room(self) -> bool:
        """Whether the temp folder is under its cap."""
        return folder_bytes(self.temp_folder) < self.cap_bytes

    def end(self, session_hash: str) -> None:
        """Remove the session's files (it ended: its tab was closed or reloaded)."""
        shutil.rmtree(self._own(session_hash), ignore_errors=True)


# --- Failed logins ----------------------------------------------------------------------------------

class LoginThrottle:
    """Failed logins counted per client address: after `allowed` failures in a row the address
    waits `lockout_s` before its next try, twice as long after each further failure (at most
    `longest_s`); a success clears its count. One login at a time per address, so that parallel
    guesses cannot slip past the count."""

    MAX_ADDRESSES = 10_000

    def __init__(self, allowed: int = 5, lockout_s: float = 30.0, longest_s: float = 900.0,
                 clock=time.monotonic):
        self.allowed, self.lockout_s, self.longest_s, self.clock = allowed, lockout_s, longest_s, clock
        self._failures: dict[str, tuple[int, float]] = {}  # address → (failures in a row, when the last was)
        self._trying: set[str] = set()

    def lockout(self, failures: int) -> float:
        """Seconds an address waits after `failures` failures in a row."""
        if failures < self.allowed:
            return 0.0
        return min(self.lockout_s * 2 ** (failures - self.allowed), self.longest_s)

    def wait(self, address: str) -> float:
        """Seconds `address` must wait before it may try to log in (0: now)."""
        if address in self._trying:
            return 1.0
        failures, last = self._failures.get(address, (0, 0.0))
        return max(0.0, last + self.lockout(failures) - self.clock()) if failures >= self.allowed else 0.0

    def start(self, address: str) -> None:
        self._trying.add(address)

    def finish(self, address: str, failed: bool | None) -> int:
        """Record how a login ended (None: neither, e.g. a malformed form); returns the address's
        failures in a row."""
        self._trying.discard(address)
        if failed is None:
            return self._failures.get(address, (0, 0.0))[0]
        if not failed:
            self._failures.pop(address, None)
            return 0
        failures = self._failures.get(address, (0, 0.0))[0] + 1
        if len(self._failures) >= self.MAX_ADDRESSES:  # many addresses: forget the oldest half
            for old, _ in sorted(self._failures.items(), key=lambda item: item[1][1])[:self.MAX_ADDRESSES // 2]:
                del self._failures[old]
        self._failures[address] = (failures, self.clock())
        return failures


# --- The middleware ------------------------------------------------------------------------------------

async def _refuse(scope, receive, send, status: int, message: str, headers: dict | None = None) -> None:
    # The body is never read: the server closes the connection after this answer.
    await JSONResponse({"detail": message}, status_code=status, headers=headers)(scope, receive, send)


def _content_length(scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _megabytes(size: int) -> str:
    return f"{size / MB:,.1f} MB" if size % MB else f"{size // MB:,} MB"


class Guard:
    """ASGI middleware for the web app (see the module's docstring); `Limits` say how much."""

    def __init__(self, app, limits: Limits, logins: LoginThrottle | None = None):
        self.app = app
        self.limits = limits
        self.logins = logins or LoginThrottle(limits.login_failures, limits.lockout_s, limits.longest_lockout_s)
        self.within_body = RequestBodyLimitMiddleware(app, limits.body_bytes)
        self._uploading = 0  # bytes the uploads under way may still add to the temp folder

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = scope["path"].removeprefix(scope.get("root_path", "").rstrip("/")) or "/"
        method = scope["method"]
        if method == "POST" and route in UPLOAD_ROUTES:
            return await self._upload(scope, receive, send)
        length = _content_length(scope)
        if length is not None and length > self.limits.body_bytes:
            return await _refuse(scope, receive, send, 413,
                                 f"The request is {_megabytes(length)}; this app takes at most "
                                 f"{_megabytes(self.limits.body_bytes)} in one request.")
        if method == "POST" and route in LOGIN_ROUTES:
            return await self._login(scope, receive, send)
        call = CALL_ROUTE.match(route) if method == "POST" else None
        app = scope.get("app")
        if call and app is not None and call[2] not in _endpoints(app, public=call[1] == "call/v2"):
            return await _refuse(scope, receive, send, 404, f"This app has no API endpoint named /{call[2]}.")
        if method == "GET" and app is not None and (app.auth is not None or app.auth_dependency is not None):
            send = _without_api_info(send)
        await self.within_body(scope, receive, send)

    async def _upload(self, scope, receive, send) -> None:
        limits = self.limits
        if limits.read_only:
            return await _refuse(scope, receive, send, 403, "This app is read-only: it takes no uploads.")
        length = _content_length(scope)
        if length is not None and length > limits.upload_bytes:
            return await _refuse(scope, receive, send, 413,
                                 f"The upload is {_megabytes(length)}; this app takes at most "
                                 f"{_megabytes(limits.upload_bytes)} at once ({_megabytes(limits.max_file_bytes)} "
                                 "a file): upload fewer files at a time.")
        app = scope.get("app")
        used = await anyio.to_thread.run_sync(folder_bytes, app.uploaded_file_dir) if app is not None else 0
        room = limits.temp_bytes - used - self._uploading
        allowed = min(limits.upload_bytes, room)
        if allowed <= 0 or (length is not None and length > allowed):
            log.warning("upload refused: the temp folder holds %s of its %s", _megabytes(used),
                        _megabytes(limits.temp_bytes))
            return await _refuse(scope, receive, send, 507,
                                 "The server's space for uploads is full for now; try again in a few "
                                 "minutes, or upload fewer files at a time.")
        reserved = allowed if length is None else length
        self._uploading += reserved
        try:
            await RequestBodyLimitMiddleware(self.app, allowed)(scope, receive, send)
        finally:
            self._uploading -= reserved

    async def _login(self, scope, receive, send) -> None:
        address = (scope.get("client") or ("unknown",))[0]
        wait = self.logins.wait(address)
        if wait:
            seconds = math.ceil(wait)
            log.info("login refused: %s must wait %d s", address, seconds)
            return await _refuse(scope, receive, send, 429,
                                 f"Too many failed logins from this address: try again in {seconds} seconds.",
                                 headers={"Retry-After": str(seconds)})
        form, status = bytearray(), None

        async def receive_copy():
            message = await receive()
            if message["type"] == "http.request":
                form.extend(message.get("body", b""))
            return message

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.logins.start(address)
        try:
            await self.within_body(scope, receive_copy, send_status)
        finally:
            failed = {200: False, 400: True}.get(status)  # Gradio: 400 for wrong credentials
            failures = self.logins.finish(address, failed)
            if failed:
                user = parse_qs(form.decode("utf-8", "replace")).get("username", [""])[0][:100]
                lockout = self.logins.lockout(failures)
                log.warning("failed login for user %r from %s (%d in a row)%s", user, address, failures,
                            f"; it waits {lockout:.0f} s before its next try" if lockout else "")


def _endpoints(app, public: bool) -> set[str]:
    """The API names a call may use: those Gradio lists (`public`), or any it lets clients call."""
    fns = app.get_blocks().fns.values()
    return {fn.api_name for fn in fns if fn.api_name
            and (fn.api_visibility == "public" if public else fn.api_visibility != "private")}


def _without_api_info(send):
    """`send` for a page: an HTML page goes out without the API schema Gradio embeds in it (the
    page fetches it from /gradio_api/info, which needs a login, when it needs it)."""
    held: dict = {}
    body = bytearray()

    async def send_page(message):
        if message["type"] == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            if not headers.get("content-type", "").startswith("text/html"):
                held["pass"] = True
                return await send(message)
            held["start"] = message
            return None
        if held.get("pass") or message["type"] != "http.response.body":
            return await send(message)
        body.extend(message.get("body", b""))
        if message.get("more_body"):
            return None
        page = API_INFO.sub(b"window.gradio_api_info = null;</script>", bytes(body))
        start = held["start"]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(page)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": page, "more_body": False})

    return send_page
