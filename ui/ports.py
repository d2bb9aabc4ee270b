"""Whether the chat can listen on a port, checked before anything slow is loaded.

Gradio itself, given a port in use, fails after the index is open with a traceback that names
an environment variable; `check_port` says it in one line and offers the next free port.
"""

from __future__ import annotations

import errno
import socket

from qa.errors import TranscriptQAError


class PortInUseError(TranscriptQAError):
    """Another program listens on the port the chat was to use."""


def port_free(host: str, port: int) -> bool:
    """Whether the chat could listen on host:port now (bound as uvicorn binds it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise TranscriptQAError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
    return True


def next_free_port(host: str, port: int, tries: int = 100) -> int | None:
    """The first free port after `port` (up to `tries` of them), or None."""
    return next(
        (p for p in range(port + 1, min(port + tries, 65535) + 1) if port_free(host, p)), None
    )


def check_port(host: str, port: int) -> None:
    """`PortInUseError` ("port 7860 is in use; try --port 7861") when host:port is taken."""
    if port_free(host, port):
        return
    free = next_free_port(host, port)
    hint = f"try --port {free}" if free else "try another --port"
    raise PortInUseError(f"port {port} is in use; {hint}")
