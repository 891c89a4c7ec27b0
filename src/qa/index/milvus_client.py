"""Talking to Milvus (`qa.index.milvus`): where it is, a client whose every call has a time limit,
and a failed call said in one line naming the server."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

from qa.config import Settings
from qa.errors import UserError
from qa.index.backend import IndexUnusable

# Seconds a call may take, so that a stopped server ends in an error, not a hang; writes take longest.
CONNECT_TIMEOUT_S = 10  # to connect: a stopped server ends in an error, not a hang
READ_TIMEOUT_S = 30  # a search or a read may take this long
WRITE_TIMEOUT_S = 300  # a write may take this long: writes take longest


def milvus_uri(settings: Settings) -> str:
    """Where the configured Milvus index lives: `settings.uri`, else milvus-lite in the index folder."""
    return settings.index_location


class MilvusUnavailable(UserError):
    """Milvus could not be reached, stopped answering, or refused a call; the message names it."""


def connect(uri: str):
    """A client for `uri`; IndexUnusable, in words, when pymilvus is missing, MilvusUnavailable
    when Milvus is unreachable."""
    # Set before gRPC is imported, or its C core logs to stderr; failures reach users via `failures_in_words`.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from pymilvus import MilvusClient
    except ImportError as error:
        raise IndexUnusable("the Milvus backend needs pymilvus and milvus-lite: "
                            "install them with `pip install -e '.[milvus]'`") from error
    if uri.endswith(".db"):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    # pymilvus logs each failure with its traceback, and warns on listings: qa says it in one line instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    with failures_in_words(uri):
        try:
            return MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT_S)
        except (ValueError, OSError) as error:  # a malformed address, an unopenable milvus-lite path
            raise MilvusUnavailable(f"cannot open Milvus at {uri}: {error}") from error


@contextmanager
def failures_in_words(uri: str):
    """Turn a failed call to Milvus at `uri` into MilvusUnavailable: one line saying what to check."""
    from grpc import RpcError, StatusCode
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except RpcError as error:  # what pymilvus does not retry: a deadline passed, access refused
        if error.code() == StatusCode.DEADLINE_EXCEEDED:
            raise MilvusUnavailable(f"Milvus at {uri} did not answer in time: is it running, "
                                    f"and reachable from here?") from error
        raise MilvusUnavailable(f"Milvus at {uri} refused the call: {error.details()}") from error
    except MilvusException as error:
        if _unreachable(error):
            raise MilvusUnavailable(f"cannot reach Milvus at {uri}: is it running? Start it, "
                                    f"or name another with --uri") from error
        raise MilvusUnavailable(f"Milvus at {uri} failed: {error.message}") from error


def _unreachable(error) -> bool:
    # pymilvus reports a refused or lost connection by its code, or as UNAVAILABLE once its retries run out.
    return error.code == 2 or "UNAVAILABLE" in str(error.message) or "connect" in str(error.message).lower()
