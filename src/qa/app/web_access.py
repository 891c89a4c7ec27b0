"""Who may reach the web chat: the address it listens on, and the password or read-only mode that
anything beyond this computer needs."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

@dataclass(frozen=True)
class Access:
    """Who may use the app: a (user, password) to log in with, and whether uploads are off."""
    auth: tuple[str, str] | None = None
    read_only: bool = False

    def describe(self, host: str) -> str:
        """The line printed at start, saying which mode the app runs in."""
        limits = "read-only: asking only, no uploads, re-scans or evaluation" if self.read_only else \
            "uploads and re-scans allowed"
        if self.auth:
            return f"access: password required (user {self.auth[0]!r}); {limits}"
        who = "this computer only" if is_loopback(host) else f"anyone who can reach {host}"
        return f"access: no password, {who}; {limits}"


NO_ACCESS_CONTROL = (
    "qa: the web chat would listen on {host}, beyond this computer, and anyone reaching it could "
    "upload files and re-index. Either require a password: set QA_PASSWORD (or QA_PASSWORD_FILE, "
    "a file holding it; the user name is QA_USER, default \"qa\"), or start it with --read-only "
    "(questions only: no uploads or re-scans). Or listen on 127.0.0.1 only.")


def listen_address(host: str | None, port: int | str | None, environ=os.environ) -> tuple[str, int]:
    """Host and port to serve on: the --host/--port flags, else QA_HOST/QA_PORT, else Gradio's
    GRADIO_SERVER_NAME/GRADIO_SERVER_PORT, else 127.0.0.1:7860."""
    host = host or environ.get("QA_HOST") or environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    named = [("--port", port)] + [(name, environ.get(name)) for name in ("QA_PORT", "GRADIO_SERVER_PORT")]
    origin, value = next(((name, value) for name, value in named if value), ("default", 7860))
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"qa: {origin} must be a port number, not {value!r}") from None
    if not 0 < number < 65536:
        raise SystemExit(f"qa: {origin} must be a port number from 1 to 65535, not {number}")
    return host, number


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this computer (a name other than localhost is not)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def access_for(host: str, read_only: bool = False, environ=os.environ) -> Access:
    """The app's access control: a password from QA_PASSWORD or the file QA_PASSWORD_FILE (never a
    command-line argument, which other users can read), or read-only; without either, only
    loopback is served, else SystemExit saying what to set."""
    password, path = environ.get("QA_PASSWORD"), environ.get("QA_PASSWORD_FILE")
    if password and path:
        raise SystemExit("qa: set QA_PASSWORD or QA_PASSWORD_FILE, not both")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise SystemExit(f"qa: QA_PASSWORD_FILE {path} cannot be read ({error})") from None
        password = lines[0] if lines else ""
        if not password:
            raise SystemExit(f"qa: QA_PASSWORD_FILE {path}: its first line, the password, is empty")
    auth = (environ.get("QA_USER") or "qa", password) if password else None
    if auth is None and not read_only and not is_loopback(host):
        raise SystemExit(NO_ACCESS_CONTROL.format(host=host))
    return Access(auth, read_only)
