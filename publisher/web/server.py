"""Run the list's app on uvicorn: in the foreground (`publisher serve`) or in a
thread of `publisher run`.

We bind the socket ourselves, so a port in use is a clear error before
anything starts. uvicorn's own access log is off (it would log the query
string, which holds tokens), and so is its reading of X-Forwarded-For: only
`[web] trusted_proxies` decides whom to believe.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Mapping
from types import FrameType

import uvicorn

from ..config.settings import Config, parse_listen
from ..errors import ConfigError
from .app import create_app
from .protocol import ReadLimits, with_limits

log = logging.getLogger(__name__)

# Slow clients cannot hold a connection open for long, and header blocks are
# small: a token is a few hundred bytes.
KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16 * 1024
SHUTDOWN_SECONDS = 5


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, so the process dies
    of the signal; `publisher serve`, like `publisher run`, exits 0 instead."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
            return
        log.info("received %s: finishing open requests, then exiting", signal.Signals(sig).name)
        self.should_exit = True


def address(config: Config, listen: str | None = None) -> tuple[str, int]:
    text = listen or config.web.listen
    parsed = parse_listen(text)
    if parsed is None:
        raise ConfigError(
            f'cannot listen on {text!r}: expected "HOST:PORT" such as "127.0.0.1:8080"',
            hint="fix --listen or [web] listen",
        )
    return parsed


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {url_of(host, port)}: {exc.strerror or exc}",
            hint="is another server using this port? choose another with --listen or "
            "[web] listen",
        ) from exc
    sock.set_inheritable(True)
    return sock


def make_server(
    config: Config, listen: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[uvicorn.Server, socket.socket]:
    """The server and its bound socket; PublisherError if anything it needs is missing."""
    host, port = address(config, listen)
    app = create_app(config, listen_base=url_of(host, port), environ=environ)
    sock = bind(host, port)
    web = config.web
    limits = ReadLimits(web.header_timeout, web.body_timeout, MAX_HEADER_BYTES)
    server = _Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            # h11 with read deadlines and the header cap (see .protocol).
            http=with_limits(limits),
            # No WebSocket: the pages have none, and an upgraded connection
            # would leave the protocol whose deadlines are armed on it.
            ws="none",
            loop="asyncio",
            lifespan="on",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
            # Also h11's own bound, for a pipelined head read before its turn.
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            # uvicorn answers 503 once the open connections, counting the new
            # one, reach this: + 1 so that exactly max_connections are served.
            limit_concurrency=web.max_connections + 1,
        )
    )
    return server, sock


def serve(
    config: Config, listen: str | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """`publisher serve`: until SIGTERM or Ctrl-C (uvicorn finishes open requests first)."""
    server, sock = make_server(config, listen, environ)
    log.info("serving on %s", url_of(*sock.getsockname()[:2]))
    server.run(sockets=[sock])
    log.info("stopped")


class WebThread:
    """The app inside `publisher run`: started before the scheduler, stopped after it."""

    def __init__(self, config: Config, environ: Mapping[str, str] | None = None) -> None:
        self.server, self.sock = make_server(config, environ=environ)
        self.thread = threading.Thread(target=self._run, name="publisher-web", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # SystemExit from uvicorn's startup, say
            self.error = exc

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        waited = 0.0
        while not self.server.started and self.thread.is_alive() and waited < timeout:
            self.thread.join(0.02)
            waited += 0.02
        if not self.server.started:
            self.stop()
            raise ConfigError(
                "the list's web pages did not start"
                + (f": {self.error}" if self.error else ""),
                hint="run `publisher serve -v` to see why",
            )
        log.info("serving the list on %s", url_of(*self.sock.getsockname()[:2]))

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(SHUTDOWN_SECONDS + 5)
        self.sock.close()
