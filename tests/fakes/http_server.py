"""A local HTTP file server for tests: byte ranges, transfer counters, injected faults.

Serves the files of one folder on 127.0.0.1 (a free port) from a background
thread, the way a static host serves the real UCF101 zip: HEAD and GET, single
byte ranges (`bytes=a-b`, `bytes=a-`, `bytes=-n`) answered 206 with
`Content-Range`, 416 when unsatisfiable. It counts the body bytes it sends and
logs every request, so a test can assert what a client transferred, and it can
answer chosen statuses (5xx, 401, 404) or cut a transfer short to exercise a
client's error handling. It can also behave like hosts met in the wild: refuse
suffix ranges (`bytes=-n`: 501, or 416 when n exceeds the file), ignore Range
altogether (200 with the whole file), or speak TLS with a given certificate
(`serve_folder(folder, tls=...)`, see `tests/fakes/tls.py`).

    with serve_folder(tmp_path) as server:
        url = server.url_for("videos.zip")
        server.fail_next(2, status=503)
        ...
        assert server.bytes_sent < os.path.getsize(tmp_path / "videos.zip")
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import os
import posixpath
import re
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator

_CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    """One request as the server answered it. `path` is the URL path without the query."""

    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int


def parse_range(header: str | None, total: int) -> tuple[int, int] | None | str:
    """The inclusive (first, last) byte range a Range header asks of `total` bytes.

    Returns None when the whole file should be sent (no header, or one this server
    ignores as RFC 9110 allows: malformed, another unit, several ranges) and
    "unsatisfiable" when the answer must be 416.
    """
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # suffix range: the last n bytes
        n = int(last)
        if n == 0 or total == 0:
            return "unsatisfiable"
        return max(0, total - n), total - 1
    start = int(first)
    end = int(last) if last else total - 1
    if last and end < start:
        return None  # syntactically invalid: ignored
    if start >= total:
        return "unsatisfiable"
    return start, min(end, total - 1)


class TestHTTPServer:
    """State shared by the request handlers: files, counters, faults. Thread-safe."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, folder: str):
        self.folder = os.path.realpath(folder)
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self._bytes_sent = 0
        self._fail_next: list[int] = []
        self._cut_next: list[tuple[int, bool]] = []
        self._path_status: dict[str, int] = {}
        self._auth: str | None = None
        self._stall_next: list[float] = []
        self._suffix_refusal: tuple[int, bool] | None = None
        self._ignore_ranges = False
        self._httpd: http.server.ThreadingHTTPServer | None = None
        self.scheme = "http"
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------

    def start(self, tls: ssl.SSLContext | None = None) -> TestHTTPServer:
        handler = type("_BoundHandler", (_Handler,), {"state": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.scheme = "http"
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url_for(self, rel_path: str) -> str:
        """The URL of a file of the folder, given its path relative to the folder."""
        return f"{self.url}/{urllib.parse.quote(rel_path.lstrip('/'))}"

    # --- what was transferred ---------------------------------------------------

    @property
    def bytes_sent(self) -> int:
        """Body bytes written to clients so far (headers not counted)."""
        with self._lock:
            return self._bytes_sent

    @property
    def log(self) -> list[LoggedRequest]:
        """Every request answered so far, in order."""
        with self._lock:
            return list(self._log)

    def requests_for(self, rel_path: str) -> list[LoggedRequest]:
        """The requests of one file (path relative to the folder, as in url_for)."""
        path = "/" + rel_path.lstrip("/")
        return [r for r in self.log if r.path == path]

    def bytes_sent_for(self, rel_path: str) -> int:
        return sum(r.body_bytes for r in self.requests_for(rel_path))

    def reset_counters(self) -> None:
        with self._lock:
            self._log.clear()
            self._bytes_sent = 0

    # --- faults -----------------------------------------------------------------

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next n requests (any path) are answered `status` with an empty body."""
        with self._lock:
            self._fail_next.extend([status] * n)

    def cut_next(self, n: int, after_bytes: int = 1024, reset: bool = True) -> None:
        """The next n bodies are announced whole but stop after `after_bytes`: a network
        failure mid-transfer. reset=True drops the connection with a TCP reset (the
        client's read fails); False closes it cleanly (the client reads a short body)."""
        with self._lock:
            self._cut_next.extend([(after_bytes, reset)] * n)

    def fail_path(self, rel_path: str, status: int = 404) -> None:
        """Every request of one file is answered `status` (e.g. 404, 403) until cleared."""
        with self._lock:
            self._path_status["/" + rel_path.lstrip("/")] = status

    def require_auth(self, authorization: str | None) -> None:
        """Answer 401 unless the Authorization header equals this value; None turns it off."""
        with self._lock:
            self._auth = authorization

    def stall_next(self, n: int, seconds: float) -> None:
        """The next n requests wait `seconds` before answering: a client's read times out."""
        with self._lock:
            self._stall_next.extend([seconds] * n)

    def refuse_suffix_ranges(self, status: int = 501, only_past_the_start: bool = False) -> None:
        """Answer `status` to suffix ranges (`bytes=-n`), as some CDNs do (501); with
        only_past_the_start, only when n exceeds the file (416, as strict servers do)."""
        with self._lock:
            self._suffix_refusal = (status, only_past_the_start)

    def ignore_ranges(self, on: bool = True) -> None:
        """Answer every GET 200 with the whole file, Range or not (as RFC 9110 allows)."""
        with self._lock:
            self._ignore_ranges = on

    def clear_faults(self) -> None:
        with self._lock:
            self._fail_next.clear()
            self._stall_next.clear()
            self._cut_next.clear()
            self._path_status.clear()
            self._auth = None
            self._suffix_refusal = None
            self._ignore_ranges = False

    # --- used by the handler ----------------------------------------------------

    def _fault_for(self, path: str, authorization: str | None) -> int | None:
        with self._lock:
            if self._fail_next:
                return self._fail_next.pop(0)
            if path in self._path_status:
                return self._path_status[path]
            if self._auth is not None and authorization != self._auth:
                return 401
        return None

    def _range_policy(self) -> tuple[tuple[int, bool] | None, bool]:
        with self._lock:
            return self._suffix_refusal, self._ignore_ranges

    def _take_stall(self) -> float:
        with self._lock:
            return self._stall_next.pop(0) if self._stall_next else 0.0

    def _take_cut(self) -> tuple[int, bool] | None:
        with self._lock:
            return self._cut_next.pop(0) if self._cut_next else None

    def _record(self, request: LoggedRequest) -> None:
        # Counted before the first byte is written, so a client never sees data
        # that the counters do not show yet.
        with self._lock:
            self._log.append(request)
            self._bytes_sent += request.body_bytes

    def _uncount(self, request: LoggedRequest, unsent: int) -> None:
        """Takes back bytes a request was counted for but could not write (client gone)."""
        with self._lock:
            self._bytes_sent -= unsent
            for i, logged in enumerate(self._log):
                if logged is request:
                    self._log[i] = dataclasses.replace(
                        logged, body_bytes=logged.body_bytes - unsent
                    )
                    break

    def _file_for(self, path: str) -> str | None:
        """The file a URL path names, or None when it is missing or outside the folder."""
        rel = posixpath.normpath(path).lstrip("/")
        full = os.path.realpath(os.path.join(self.folder, *rel.split("/")))
        if not full.startswith(self.folder + os.sep) or not os.path.isfile(full):
            return None
        return full


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client hanging up mid-body is normal (a streamed read stopped early);
        # anything else is a bug in this server and is reported as usual.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a client that stops reading a
    # streamed body never leaves a half-read response on a reused connection.
    protocol_version = "HTTP/1.0"
    server_version = "TestHTTPServer/1"
    state: TestHTTPServer  # set on the subclass bound to one server

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # quiet: the request log is kept in `state`

    def do_HEAD(self):
        self._answer(send_body=False)

    def do_GET(self):
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        stall = self.state._take_stall()
        if stall:
            time.sleep(stall)
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        range_header = self.headers.get("Range")
        status, headers, span, full = self._plan(path, range_header)
        length = span[1] - span[0] + 1 if span else 0
        cut = self.state._take_cut() if send_body and span else None
        body = min(length, cut[0]) if cut is not None else length if send_body else 0
        request = LoggedRequest(self.command, path, range_header, status, body)
        self.state._record(request)
        sent = 0
        try:
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(length)}.items():
                self.send_header(name, value)
            self.end_headers()
            if body:
                sent = self._send_body(full, span[0], span[0] + body - 1)
            if cut is not None and cut[1]:
                # Linger 0: closing now sends a reset instead of the usual clean end.
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
        finally:
            if request.body_bytes > sent:
                self.state._uncount(request, request.body_bytes - sent)

    def _plan(
        self, path: str, range_header: str | None
    ) -> tuple[int, dict[str, str], tuple[int, int] | None, str | None]:
        """(status, headers, inclusive byte span of the file to send or None, file path)."""
        fault = self.state._fault_for(path, self.headers.get("Authorization"))
        if fault is not None:
            extra = {"WWW-Authenticate": 'Bearer realm="test"'} if fault == 401 else {}
            return fault, extra, None, None
        full = self.state._file_for(path)
        if full is None:
            return 404, {}, None, None
        total = os.path.getsize(full)
        suffix_refusal, ignore_ranges = self.state._range_policy()
        suffix = _RANGE.match((range_header or "").strip())
        if suffix_refusal and suffix and not suffix.group(1) and suffix.group(2):
            status, only_past_the_start = suffix_refusal
            if not only_past_the_start or int(suffix.group(2)) > total:
                return status, {}, None, None
        wanted = None if ignore_ranges else parse_range(range_header, total)
        if wanted == "unsatisfiable":
            return 416, {"Content-Range": f"bytes */{total}"}, None, None
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if wanted is None:
            return 200, headers, ((0, total - 1) if total else None), full
        first, last = wanted
        return 206, {**headers, "Content-Range": f"bytes {first}-{last}/{total}"}, wanted, full

    def _send_body(self, full: str, first: int, last: int) -> int:
        """Writes bytes first..last of the file; returns how many reached the socket."""
        sent, remaining = 0, last - first + 1
        with open(full, "rb") as f:
            f.seek(first)
            while remaining > 0:
                chunk = f.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except ConnectionError:
                    break  # the client stopped reading: only what was written counts
                sent += len(chunk)
                remaining -= len(chunk)
        return sent


@contextlib.contextmanager
def serve_folder(
    folder: str | os.PathLike, tls: ssl.SSLContext | None = None
) -> Iterator[TestHTTPServer]:
    """Serves `folder` on 127.0.0.1 for the duration of the block (HTTPS with `tls`)."""
    server = TestHTTPServer(os.fspath(folder)).start(tls)
    try:
        yield server
    finally:
        server.stop()


def closed_port_url(path: str = "x.zip") -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{path}"
