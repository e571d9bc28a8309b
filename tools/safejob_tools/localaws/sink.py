"""A local HTTP sink that stands in for Slack, PagerDuty and webhooks: it records every request it gets.

    with HttpSink() as sink:
        receiver_url = sink.url("/slack/ops")
        sink.fail("/slack/ops", times=2, status=500)   # the next two requests fail: retry -> DLQ tests
        ...
        sink.requests("/slack/")                       # what was received, in order
        sink.summary()                                 # {"/slack/ops": 3}: what `make demo` prints

Any path is accepted. Paths under `/pagerduty` answer like the Events API (202 and a JSON status), all others
200 `ok` like a Slack incoming webhook. Failed requests are recorded too, with the status they got.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

_MAX_BODY = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None when the body is not JSON
    raw: bytes
    at: datetime
    status: int  # what the sink answered


@dataclass(slots=True)
class _FailRule:
    prefix: str
    times: int
    status: int
    containing: bytes = b""


@dataclass
class _State:
    lock: threading.Condition = field(default_factory=threading.Condition)
    records: list[RecordedRequest] = field(default_factory=list)
    rules: list[_FailRule] = field(default_factory=list)

    def answer_for(self, path: str, raw: bytes = b"") -> int | None:
        """The failure status for the next request to `path`, if a rule wants one (uses up one of its times)."""
        for rule in self.rules:
            if path.startswith(rule.prefix) and rule.times > 0 and rule.containing in raw:
                rule.times -= 1
                return rule.status
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _SinkServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length = min(int(self.headers.get("Content-Length") or 0), _MAX_BODY)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        state = self.server.state
        with state.lock:
            failure = state.answer_for(path, raw)
            if failure is not None:
                status, payload, content_type = failure, b'{"status":"error","message":"sink failure"}', "json"
            elif path.startswith("/pagerduty"):
                dedup_key = body.get("dedup_key", "") if isinstance(body, dict) else ""
                status, content_type = 202, "json"
                payload = json.dumps({"status": "success", "message": "Event processed",
                                      "dedup_key": dedup_key}).encode()
            else:
                status, payload, content_type = 200, b"ok", "plain"
            state.records.append(RecordedRequest(method=self.command, path=path, headers=dict(self.headers.items()),
                                                 body=body, raw=raw, at=datetime.now(UTC), status=status))
            state.lock.notify_all()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if content_type == "json" else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    # http.server dispatches on these names.
    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read `requests()` instead."""


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default (5) drops concurrent connects, which then wait a second to retry

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class HttpSink:
    """A threaded HTTP server on 127.0.0.1 and a free port, recording every request. Use it as a context manager,
    or call `start()` and `stop()`."""

    def __init__(self) -> None:
        self._state = _State()
        self._server: _SinkServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self._server = _SinkServer(self._state)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="http-sink", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join()
            self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sink is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """The full URL of `path` on this sink, e.g. `url("/slack/ops")`."""
        return self.base_url + (path if path.startswith("/") else f"/{path}")

    # -- behaviour and records --------------------------------------------------------------------------------

    def fail(self, path_prefix: str, times: int = 1, status: int = 500, containing: str = "") -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` (and whose body contains
        `containing`, so that concurrent tests don't use up each other's failures) with `status`."""
        if times < 1 or not 100 <= status <= 599:
            raise ValueError("times must be >= 1 and status an HTTP status")
        with self._state.lock:
            self._state.rules.append(
                _FailRule(prefix=path_prefix, times=times, status=status, containing=containing.encode())
            )

    def containing(self, text: str, path_prefix: str | None = None) -> list[RecordedRequest]:
        """The requests (failed ones included) whose raw body contains `text`, e.g. a test's unique alert name."""
        needle = text.encode()
        return [r for r in self.requests(path_prefix) if needle in r.raw]

    def requests(self, path_prefix: str | None = None) -> list[RecordedRequest]:
        """Every request received (failed ones included), in order; only those under `path_prefix` if given."""
        with self._state.lock:
            return [r for r in self._state.records if path_prefix is None or r.path.startswith(path_prefix)]

    def bodies(self, path_prefix: str | None = None) -> list[Any]:
        """The parsed JSON bodies of the successful requests under `path_prefix`."""
        return [r.body for r in self.requests(path_prefix) if r.status < 300]

    def summary(self) -> dict[str, int]:
        """How many requests each path got: `{"/slack/ops": 2, "/pagerduty": 3}`."""
        with self._state.lock:
            return dict(sorted(Counter(r.path for r in self._state.records).items()))

    def wait_for(self, count: int, path_prefix: str | None = None, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least `count` requests under `path_prefix` arrived (for asynchronous senders, such as a
        state machine in the emulator); raise `TimeoutError` otherwise."""
        def matching() -> list[RecordedRequest]:
            return [r for r in self._state.records if path_prefix is None or r.path.startswith(path_prefix)]

        with self._state.lock:
            if not self._state.lock.wait_for(lambda: len(matching()) >= count, timeout=timeout):
                raise TimeoutError(f"{len(matching())} of {count} requests to {path_prefix or '/'} arrived")
            return matching()

    def clear(self) -> None:
        """Forget every request and every pending failure."""
        with self._state.lock:
            self._state.records.clear()
            self._state.rules.clear()
