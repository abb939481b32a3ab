"""Fetching, one copy for the whole project: the ingest's sources (a remote zip's
directory and members, the split lists) and the Trainer's checkpoint resolver.

- `is_remote`: whether a source is an http(s) URL;
- `session`, `with_retries`, `download`: HTTP that fails the right way (below), a
  streamed download written atomically and checked against its Content-Length;
- `cache_folder`: one cache folder per key (a URL, a local file's identity);
- `write_atomically`: a file that appears whole or not at all;
- `safe_member_parts`: an archive member's name (zip or tar) as path parts, or
  None when it could leave the folder it is written to.

The HTTP policy:

- retried, with exponential backoff: refused, reset or dropped connections, timeouts,
  a body that ends before its Content-Length, HTTP 429 and 5xx (a `Retry-After` header
  is honoured, up to a minute);
- not retried: other 4xx answers (the URL or the credentials are wrong: asking again
  changes nothing) and TLS failures such as a certificate that does not verify (the
  host or the local trust store must change first);
- the final error is one line naming the URL, the cause and the retries really made.

urllib3's own retries are off: the one loop here (`with_retries`) counts every attempt,
so "after N retries" is true whichever layer failed, the request or the body read
after it. Library code raises `RemoteError`; each caller words it for its input
(`RemoteError.message`) in its own exception type.

~400 lines in one module on purpose: one copy of fetching for the whole project
(the classification of failures is most of it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import ssl
import tempfile
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterator
from typing import TypeVar

from absl import logging

T = TypeVar("T")

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 60.0
_CHUNK = 1 << 20
TLS_FIX = (
    "if you trust {host}, set REQUESTS_CA_BUNDLE (or SSL_CERT_FILE) to a CA bundle that "
    "holds its certificate or its issuer's; else download the file another way and pass "
    "its local path"
)


def is_remote(source: str) -> bool:
    """Whether `source` is fetched over HTTP (an http:// or https:// URL)."""
    return source.startswith(("http://", "https://"))


def cache_folder(cache_root: str, key: str) -> str:
    """The cache folder of one key under `cache_root`: 16 hex digits of its SHA-256."""
    return os.path.join(cache_root, hashlib.sha256(key.encode()).hexdigest()[:16])


def write_atomically(dest: str, data: bytes) -> None:
    """Writes `data` to `dest` through a temporary file in the same folder and a rename,
    so a reader never sees part of it (its folder is made when missing)."""
    folder = os.path.dirname(dest) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def safe_member_parts(name: str) -> list[str] | None:
    """The path parts of an archive member's name, or None when it could escape.

    Refused (None): an empty or absolute name, a backslash, a NUL, a '..' part, a
    drive letter (`C:`), or an empty or '.' part inside the name. A leading './'
    (tar's usual prefix) and a trailing '/' (a folder) are allowed; '.' alone, the
    archive's root, is [].
    """
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    body = name.rstrip("/")
    while body.startswith("./"):
        body = body[2:]
    if body in ("", "."):
        return []
    parts = body.split("/")
    if any(p in ("", ".", "..") or (len(p) >= 2 and p[1] == ":") for p in parts):
        return None
    return parts


@dataclasses.dataclass(frozen=True)
class HttpOptions:
    """How hard to try a remote source: retries, backoff base (seconds), timeout."""

    retries: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 60.0


@dataclasses.dataclass(frozen=True)
class Failure:
    """What one failed attempt means.

    Attributes:
      cause: one line, e.g. "HTTP 503 Service Unavailable", "connection refused".
      transient: whether another attempt may succeed.
      status: the HTTP status, when the server answered.
      tls: a TLS failure (certificate, handshake).
      retry_after: seconds the server asked to wait (Retry-After), if any.
      fix: what to do, when the cause alone decides it.
    """

    cause: str
    transient: bool
    status: int | None = None
    tls: bool = False
    retry_after: float | None = None
    fix: str = ""


class RemoteError(Exception):
    """A download that failed for good, after the retries its cause allows.

    `str()` is the cause with the retries made; `message()` the whole one-line error.
    """

    def __init__(self, url: str, failure: Failure, retries: int, note: str = ""):
        self.url = url
        self.failure = failure
        self.retries = retries
        self.note = note
        super().__init__(self.detail)

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or self.url

    @property
    def status(self) -> int | None:
        return self.failure.status

    @property
    def environmental(self) -> bool:
        """A fault of the network, the server or the trust store, not of the input."""
        return self.failure.transient or self.failure.tls

    @property
    def detail(self) -> str:
        """The cause and what was tried: 'HTTP 503 Service Unavailable (after 4 retries)'."""
        tried = ""
        if self.retries:
            tried = f" (after {self.retries} {'retry' if self.retries == 1 else 'retries'})"
        return f"{self.failure.cause}{tried}{self.note}"

    def message(self, what: str, fix: str) -> str:
        """'cannot <what> <url>: <detail>; <fix>', the fix TLS's own for a TLS failure."""
        if self.failure.fix:
            fix = self.failure.fix
        elif self.failure.tls:
            fix = TLS_FIX.format(host=self.host)
        elif self.status in (401, 403):
            fix = "check that the URL is public or that you may read it"
        elif self.status is not None and not self.failure.transient:
            fix = "check the URL"
        return f"cannot {what} {self.url}: {self.detail}; {fix}"


def network_errors() -> tuple[type[BaseException], ...]:
    """The exception types a download can fail with (requests', urllib3's, remotezip's,
    and zipfile's on a body cut short); anything else is a bug and propagates."""
    import remotezip
    import urllib3

    return (
        OSError,
        EOFError,
        zipfile.BadZipFile,
        urllib3.exceptions.HTTPError,
        remotezip.RemoteZipError,
    )


def session():
    """A requests session for `with_retries`: no retries of its own, short bodies are
    errors, and SSL_CERT_FILE is honoured as REQUESTS_CA_BUNDLE is.

    requests verifies against certifi's bundle and reads only REQUESTS_CA_BUNDLE (or
    CURL_CA_BUNDLE); OpenSSL's SSL_CERT_FILE, which other tools honour, would be ignored.
    """
    import requests
    from requests.adapters import HTTPAdapter

    s = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    if os.environ.get("SSL_CERT_FILE"):
        s.verify = os.environ["SSL_CERT_FILE"]  # REQUESTS_CA_BUNDLE still wins
    s.hooks["response"].append(_enforce_content_length)
    return s


def _enforce_content_length(response, *args, **kwargs):
    # urllib3 1.x returns a body cut short by a clean close as if it were whole; with
    # this it raises IncompleteRead (a ProtocolError) instead, which is retried.
    response.raw.enforce_content_length = True
    return response


def with_retries(
    attempt: Callable[[], T],
    url: str,
    http: HttpOptions,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """`attempt()`, tried again after transient failures (see the module docstring).

    Args:
      attempt: one try; raises one of `network_errors()` on failure.
      url: what is fetched, for the log and the error.
      http: retries (after the first attempt), backoff base and timeout.
      on_retry: called before each retry, e.g. to drop a connection or handle.

    Raises:
      RemoteError: a failure that is not transient, or the last one after the retries.
    """
    errors = network_errors()
    for retry in range(http.retries + 1):
        try:
            return attempt()
        except errors as e:
            failure = classify(e)
            if not failure.transient or retry == http.retries:
                raise RemoteError(url, failure, retry) from e
            delay = http.backoff_s * 2**retry
            if failure.retry_after is not None:
                delay = max(delay, min(failure.retry_after, _MAX_RETRY_AFTER_S))
            logging.warning(
                "%s: %s; retry %d of %d in %.1fs",
                url,
                failure.cause,
                retry + 1,
                http.retries,
                delay,
            )
            if on_retry is not None:
                on_retry()
            time.sleep(delay)
    raise AssertionError("unreachable")


def download(url: str, dest: str, http: HttpOptions) -> int:
    """Downloads `url` to `dest` atomically (whole or not at all), with retries.

    Returns:
      the number of bytes written.

    Raises:
      RemoteError: as `with_retries`.
    """
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    s = session()

    def once() -> int:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest) or ".", prefix=".part-")
        try:
            with s.get(url, timeout=http.timeout_s, stream=True) as response:
                response.raise_for_status()
                written = 0
                with os.fdopen(fd, "wb") as f:
                    for chunk in response.iter_content(_CHUNK):
                        f.write(chunk)
                        written += len(chunk)
            os.replace(tmp, dest)
            return written
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    try:
        return with_retries(once, url, http)
    finally:
        s.close()


# --- what a failure means ----------------------------------------------------------------


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error inside it: causes, contexts, urllib3's `reason`, args."""
    seen, todo = set(), [error]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        inner = [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
        todo += [x for x in inner if isinstance(x, BaseException)]


def http_status(error: BaseException) -> int | None:
    """The HTTP status inside a failure (e.g. remotezip's RemoteIOError), or None."""
    response = _response(error)
    return None if response is None else response.status_code


def _response(error: BaseException):
    for e in _chain(error):
        response = getattr(e, "response", None)
        if response is not None and hasattr(response, "status_code"):
            return response
    return None


def classify(error: BaseException) -> Failure:
    """Whether a failed attempt is worth another, and its cause in a few words."""
    import remotezip
    import requests
    import urllib3

    chain = list(_chain(error))
    broken = (
        ConnectionError,
        urllib3.exceptions.ProtocolError,
        requests.exceptions.ChunkedEncodingError,
        EOFError,
        zipfile.BadZipFile,
    )
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            why = e.verify_message or e.reason or str(e)
            return Failure(f"the TLS certificate did not verify ({why})", False, tls=True)
        if isinstance(e, ssl.CertificateError):
            return Failure(f"the TLS certificate did not verify ({e})", False, tls=True)
    response = _response(error)
    if response is not None:
        return _status_failure(response)
    for e in chain:
        if isinstance(e, remotezip.RangeNotSupported):
            return Failure(
                "the server ignores byte ranges (it answered 200 with the whole file), so "
                "single members cannot be fetched",
                False,
                fix="download the whole file once and pass its local path",
            )
    for e in chain:
        if isinstance(e, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return Failure("the connection closed during the TLS exchange", True, tls=False)
        if isinstance(e, ssl.SSLError):
            return Failure(f"TLS failed ({e.reason or e})", False, tls=True)
    for e in chain:
        if isinstance(e, requests.Timeout | urllib3.exceptions.TimeoutError | socket.timeout):
            if isinstance(e, urllib3.exceptions.NewConnectionError):
                continue  # a NewConnectionError is a ConnectTimeoutError in urllib3 1.x
            return Failure("timed out", True)
    for e in chain:
        if isinstance(e, socket.gaierror):
            temporary = e.errno == socket.EAI_AGAIN
            return Failure(f"cannot resolve the host name ({e.strerror or e})", temporary)
        if isinstance(e, ConnectionRefusedError):
            return Failure("connection refused", True)
    for e in chain:
        if isinstance(e, broken):
            return Failure(f"the connection broke off ({_first_line(e)})", True)
    for e in chain:
        if isinstance(e, ValueError | requests.TooManyRedirects):  # InvalidURL and kin
            return Failure(_first_line(e), False)
    return Failure(_first_line(error), isinstance(error, OSError))


def _status_failure(response) -> Failure:
    status = response.status_code
    cause = f"HTTP {status} {response.reason or ''}".strip()
    retry_after = None
    header = response.headers.get("Retry-After", "")
    if header.strip().isdigit():
        retry_after = float(header.strip())
    return Failure(cause, status in TRANSIENT_STATUS, status=status, retry_after=retry_after)


def _first_line(error: BaseException, limit: int = 200) -> str:
    """An error's text on one line, without urllib3's object reprs."""
    import re

    text = " ".join(str(error).split()) or type(error).__name__
    return re.sub(r"<[^>]*>: ", "", text)[:limit]
