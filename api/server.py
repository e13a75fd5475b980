"""Run uvicorn with worker processes whose connections really have TCP_NODELAY.

With ``workers > 1`` uvicorn binds the listening socket itself as ``socket.socket(family)``,
whose protocol number is 0; asyncio only sets TCP_NODELAY on accepted sockets whose protocol
is IPPROTO_TCP, so every keep-alive response waited on a delayed ACK (measured: a 1 ms
cached answer took 48 ms). Binding the socket with IPPROTO_TCP fixes it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

WORKER_HEALTHCHECK_S = 60
"""uvicorn's supervisor kills a worker that does not answer its ping within this (its default: 5 s).
A worker importing torch and loading its models on a busy machine can be that slow to answer,
and would be killed and started again; a worker that really hangs is still replaced, a minute later."""


class _TcpConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        if self.uds is not None or self.fd is not None:
            return super().bind_socket()
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock


def run(factory: Callable[[], Any], *, workers: int, **kwargs: Any) -> None:
    """``uvicorn.run`` for an app factory, fixed for multi-process serving.

    ``factory`` must pickle (a module-level function, or a ``functools.partial`` of one with
    picklable arguments, e.g. ``partial(create_app, settings)``): with ``workers > 1`` uvicorn's
    spawn pickles its config, factory included, into every worker, which calls it there."""
    kwargs.setdefault("timeout_worker_healthcheck", WORKER_HEALTHCHECK_S)
    config = _TcpConfig(factory, factory=True, workers=workers, **kwargs)
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    Multiprocess(config, sockets=[config.bind_socket()]).run()
