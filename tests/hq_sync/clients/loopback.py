"""A scripted HTTP server on a free loopback port, for the HTTP clients' unit tests.

Each test says how the next requests are answered, and reads back what the server received:

    with ScriptedServer() as server:
        server.on("GET", "/items", Reply(503), Reply(200, {"ok": True}))
        client.request("GET", server.url + "/items")
        assert [s.method for s in server.seen] == ["GET", "GET"]

Answers: ``Reply`` (a status, JSON body and headers, optionally after a delay; a ``Date`` header
replaces the server's own), ``Hang`` (read the request, answer nothing for a while, then close),
``Close`` (read the request, close without a byte of answer: a dropped connection), ``CutBody``
(status line and headers, then the connection closes mid-body). A request no rule matches gets
``200 {"ok": true}``.

Real sockets, real HTTP: the clients under test see exactly what a vendor or a proxy would send.
``refusing_port()`` (nothing listens) and ``NotAccepting`` (a full accept queue: connecting times
out) cover the failures before anything is sent.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


class Answer:
    def perform(self, handler: _Handler, stopping: threading.Event) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Reply(Answer):
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow server)

    def perform(self, handler: _Handler, stopping: threading.Event) -> None:
        if self.delay and stopping.wait(self.delay):
            handler.close_connection = True
            return
        payload = b"" if self.body is None else json.dumps(self.body).encode()
        if "Date" in self.headers:  # the reply's own clock instead of the server's
            handler.log_request(self.status)
            handler.send_response_only(self.status)
        else:
            handler.send_response(self.status)
        for name, value in self.headers.items():
            handler.send_header(name, value)
        if payload:
            handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


@dataclass(frozen=True)
class Hang(Answer):
    """Answer nothing for ``seconds`` (longer than the client's read timeout), then close."""

    seconds: float = 5.0

    def perform(self, handler: _Handler, stopping: threading.Event) -> None:
        stopping.wait(self.seconds)
        handler.close_connection = True


@dataclass(frozen=True)
class Close(Answer):
    """The request was received; the connection closes without a byte of answer."""

    def perform(self, handler: _Handler, stopping: threading.Event) -> None:
        handler.close_connection = True


@dataclass(frozen=True)
class CutBody(Answer):
    """``200`` and headers announcing 1000 bytes, 10 of them, then the connection closes."""

    status: int = 200

    def perform(self, handler: _Handler, stopping: threading.Event) -> None:
        handler.send_response(self.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b'{"value": ')
        handler.wfile.flush()
        handler.close_connection = True


@dataclass
class _Rule:
    method: str | None
    path: re.Pattern[str]
    answers: deque[Answer]
    repeat: bool  # the last answer is given for ever


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        seen = Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body, time.monotonic())
        owner = self.server.owner
        owner._pick(seen).perform(self, owner.stopping)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: ScriptedServer


class ScriptedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 and a free port, answering as scripted."""

    def __init__(self, port: int = 0) -> None:
        self.stopping = threading.Event()
        self.seen: list[Seen] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.owner = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def on(self, method: str | None, path: str, *answers: Answer, repeat: bool = False) -> ScriptedServer:
        """Answer the next requests whose path matches ``path`` (a regular expression searched in
        the path) with ``answers`` in turn; ``repeat``: keep giving the last one."""
        with self._lock:
            self._rules.append(_Rule(method, re.compile(path), deque(answers), repeat))
        return self

    def always(self, method: str | None, path: str, answer: Answer) -> ScriptedServer:
        return self.on(method, path, answer, repeat=True)

    def _pick(self, seen: Seen) -> Answer:
        with self._lock:
            self.seen.append(seen)
            for rule in self._rules:
                if rule.method not in (None, seen.method) or not rule.path.search(seen.path) or not rule.answers:
                    continue
                if rule.repeat and len(rule.answers) == 1:
                    return rule.answers[0]
                return rule.answers.popleft()
        return Reply()

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """What arrived, optionally only one method and paths matching ``path``."""
        with self._lock:
            return [s for s in self.seen if method in (None, s.method) and (path is None or re.search(path, s.path))]

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes hanging and delayed answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class Sleeps:
    """The client's ``sleep``: records each wait, sleeps at most ``cap`` seconds of it."""

    def __init__(self, cap: float = 0.0) -> None:
        self.cap = cap
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(min(seconds, self.cap))


def refusing_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NotAccepting:
    """A listening socket that never accepts, its accept queue already full: connecting to it
    times out (the SYN is dropped), so nothing is ever sent."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._fillers: list[socket.socket] = []

    def __enter__(self) -> NotAccepting:
        for _ in range(3):  # backlog 0 holds one; the rest queue as half-open: the queue is full
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.connect(self._listener.getsockname())
            except BlockingIOError:
                pass
            self._fillers.append(sock)
        time.sleep(0.05)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for sock in self._fillers:
            sock.close()
        self._listener.close()
