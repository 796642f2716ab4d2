"""A real HTTP receiver on 127.0.0.1 for webhook tests: records requests, answers as told."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"


@dataclass
class Receiver:
    port: int
    requests: list[Received] = field(default_factory=list)
    # Answers in turn; the last one repeats. (status, extra headers)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=lambda: [(200, {})])
    # The body of each answer, from its status and how many requests came (an API's JSON).
    reply: Callable[[int, int], bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def receiver(
    port: int = 0,
    answers: list[tuple[int, dict[str, str]]] | None = None,
    reply: Callable[[int, int], bytes] | None = None,
) -> Iterator[Receiver]:
    state = Receiver(port=0, answers=answers or [(200, {})], reply=reply)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(
                Received(self.path, dict(self.headers.items()), body, self.command)
            )
            index = min(len(state.requests), len(state.answers)) - 1
            status, extra = state.answers[index]
            payload = b"ok\r\nsecret-looking\x00text" if status < 300 else b"down"
            if state.reply is not None:
                payload = state.reply(status, len(state.requests))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
