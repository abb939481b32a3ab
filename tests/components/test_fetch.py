"""Downloads against hosts as they are met in the wild, served on 127.0.0.1: servers that
refuse suffix ranges or ignore Range, TLS certificates that do not verify, 429s; and
what `python -m pipeline ingest` says about them (one line, exit 1 for the environment)."""

import os
import time
import zipfile

import pytest

from components import fetch
from components.fetch import HttpOptions
from components.ingest import sources
from components.ingest.errors import IngestError, SourceUnavailableError
from components.ingest.sources import VideoFetcher
from tests.builders.cli_process import run_module
from tests.fakes.http_server import closed_port_url, serve_folder
from tests.fakes.tls import self_signed_certificate

FAST = HttpOptions(retries=3, backoff_s=0.01, timeout_s=10.0)
# A backoff long enough that one retry would show in the elapsed time.
SLOW_BACKOFF = HttpOptions(retries=3, backoff_s=1.0, timeout_s=10.0)
TAIL = 64 * 1024


@pytest.fixture
def server(tiny_demo):
    with serve_folder(os.path.dirname(tiny_demo.videos_zip)) as s:
        yield s


@pytest.fixture
def videos_url(server, tiny_demo):
    return server.url_for(os.path.basename(tiny_demo.videos_zip))


def requests_made(server):
    return [(r.method, r.range, r.status) for r in server.log]


def run_cli(*args, env=None, timeout=120):
    """`python -m pipeline ...` in a child process: (result, seconds)."""
    result = run_module(
        "pipeline", *args, env={"TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, timeout=timeout
    )
    return result, result.elapsed


def error_lines(stderr: str) -> list[str]:
    """The lines a user reads as the error (absl's retry notes and Python's own warnings
    about the installed stack aside)."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip()
        and not line.startswith(("WARNING:absl:", "ingesting "))
        and "Warning" not in line
        and not line.startswith("  warnings.warn")
    ]


# --- 1. servers that refuse suffix ranges ----------------------------------------------------


def test_server_refusing_suffix_ranges_is_read_with_head_and_absolute_ranges(
    server, videos_url, tiny_demo, tmp_path
):
    server.refuse_suffix_ranges(501)
    entries, refused = sources.list_videos(videos_url, FAST)

    assert (entries, refused) == sources.list_videos(tiny_demo.videos_zip)
    size = os.path.getsize(tiny_demo.videos_zip)
    assert requests_made(server) == [
        ("GET", f"bytes=-{TAIL}", 501),
        ("HEAD", None, 200),
        ("GET", f"bytes={size - TAIL}-{size - 1}", 206),
    ]
    # Members come as before; a second handle of this source goes straight to HEAD.
    server.reset_counters()
    fetcher = VideoFetcher(videos_url, str(tmp_path / "cache"), FAST)
    fetcher.open()
    try:
        with fetcher.local_path(entries[0]) as path:
            assert os.path.getsize(path) == entries[0].size
    finally:
        fetcher.close()
    assert [(m, s) for m, _, s in requests_made(server)] == [
        ("HEAD", 200),
        ("GET", 206),
        ("GET", 206),
    ]


def test_small_zip_on_a_server_answering_416_to_long_suffix_ranges(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "small.zip", "w") as zf:
        for name in ("UCF101/v_Jump_g01_c01.avi", "UCF101/v_Jump_g02_c01.avi"):
            zf.writestr(name, b"x" * 5000)
    size = os.path.getsize(site / "small.zip")
    assert size < TAIL
    with serve_folder(site) as server:
        server.refuse_suffix_ranges(416, only_past_the_start=True)
        entries, _ = sources.list_videos(server.url_for("small.zip"), FAST)
        assert [e.member for e in entries] == [
            "UCF101/v_Jump_g01_c01.avi",
            "UCF101/v_Jump_g02_c01.avi",
        ]
        assert requests_made(server) == [
            ("GET", f"bytes=-{TAIL}", 416),
            ("HEAD", None, 200),
            ("GET", f"bytes=0-{size - 1}", 206),
        ]


def test_server_ignoring_range_is_a_clear_error_that_claims_no_retry(server, videos_url):
    server.ignore_ranges()
    with pytest.raises(IngestError) as error:
        sources.list_videos(videos_url, FAST)
    message = str(error.value)
    assert not isinstance(error.value, SourceUnavailableError)
    assert videos_url in message and "ignores byte ranges" in message
    assert message.endswith("download the whole file once and pass its local path")
    assert "retr" not in message
    assert [(m, s) for m, _, s in requests_made(server)] == [("GET", 200)]


def test_ingest_command_reads_a_source_whose_server_refuses_suffix_ranges(
    server, videos_url, tiny_demo, tmp_path
):
    # The reported case: exit 2 in 1.7 s with "501 ... (after 4 retries)", one request made.
    server.refuse_suffix_ranges(501)
    out = tmp_path / "examples"
    result, _ = run_cli(
        "ingest",
        "--source",
        videos_url,
        "--split-lists",
        server.url_for(os.path.basename(tiny_demo.lists_zip)),
        "--classes",
        "1",
        "--clips-per-class",
        "2",
        "--frames-per-video",
        "4",
        "--height",
        "32",
        "--width",
        "32",
        "--workers",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--output",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 videos written" in result.stdout
    assert ("GET", f"bytes=-{TAIL}", 501) in requests_made(server)


# --- 2. TLS, and which failures are retried --------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(tiny_demo, certificate, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with serve_folder(os.path.dirname(tiny_demo.videos_zip), certificate.server_context()) as s:
        yield s


def assert_tls_message(message: str, url: str) -> None:
    assert url in message
    assert "TLS certificate did not verify" in message and "self-signed" in message
    assert "if you trust 127.0.0.1" in message
    assert "REQUESTS_CA_BUNDLE" in message and "SSL_CERT_FILE" in message
    assert "local path" in message
    assert "retr" not in message  # nothing was retried, and nothing says so


def test_certificate_that_does_not_verify_fails_at_once_naming_host_cause_and_fix(
    tls_server, tiny_demo, tmp_path
):
    videos = tls_server.url_for(os.path.basename(tiny_demo.videos_zip))
    lists = tls_server.url_for(os.path.basename(tiny_demo.lists_zip))
    assert videos.startswith("https://127.0.0.1:")
    calls = [
        lambda: sources.list_videos(videos, SLOW_BACKOFF),
        lambda: sources.download_file(lists, str(tmp_path / "lists.zip"), SLOW_BACKOFF),
        lambda: VideoFetcher(videos, str(tmp_path / "cache"), SLOW_BACKOFF).open(),
    ]
    for call, url in zip(calls, (videos, lists, videos), strict=True):
        start = time.monotonic()
        with pytest.raises(SourceUnavailableError) as error:
            call()
        assert time.monotonic() - start < SLOW_BACKOFF.backoff_s  # no backoff, no retry
        assert_tls_message(str(error.value), url)
    assert tls_server.log == []  # no request got past the handshake
    assert not os.path.exists(tmp_path / "lists.zip")


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_trusting_the_certificate_as_the_message_says_fixes_it(
    tls_server, tiny_demo, certificate, monkeypatch, tmp_path, variable
):
    monkeypatch.setenv(variable, certificate.cert_path)
    videos = tls_server.url_for(os.path.basename(tiny_demo.videos_zip))
    entries, _ = sources.list_videos(videos, FAST)
    assert len(entries) > 0
    lists = tls_server.url_for(os.path.basename(tiny_demo.lists_zip))
    sources.download_file(lists, str(tmp_path / "lists.zip"), FAST)
    assert os.path.getsize(tmp_path / "lists.zip") == os.path.getsize(tiny_demo.lists_zip)


def test_ingest_command_tls_failure_is_one_line_and_exit_1(tls_server, tiny_demo, tmp_path):
    videos = tls_server.url_for(os.path.basename(tiny_demo.videos_zip))
    env = {"REQUESTS_CA_BUNDLE": "", "SSL_CERT_FILE": ""}
    result, elapsed = run_cli(
        "ingest", "--source", videos, "--output", str(tmp_path / "o"), env=env
    )
    assert result.returncode == 1, result.stderr[-2000:]
    [line] = error_lines(result.stderr)
    assert line.startswith(f"error: cannot read remote zip {videos}: the TLS certificate")
    assert_tls_message(line, videos)
    assert "Traceback" not in result.stderr
    assert tls_server.log == []
    assert elapsed < 30  # the default backoff (4 retries: 7.5 s) was not waited


@pytest.mark.parametrize("status, retried", [(429, True), (503, True), (404, False), (403, False)])
def test_which_statuses_are_retried(server, videos_url, tmp_path, status, retried):
    server.fail_next(1, status=status)
    if retried:
        assert sources.list_videos(videos_url, FAST)[0]
        assert [s for _, _, s in requests_made(server)] == [status, 206]
        return
    with pytest.raises(IngestError) as error:
        sources.list_videos(videos_url, FAST)
    assert not isinstance(error.value, SourceUnavailableError)  # the input, not the network
    assert f"HTTP {status}" in str(error.value) and "retr" not in str(error.value)
    assert [s for _, _, s in requests_made(server)] == [status]


def test_a_timed_out_request_is_retried(server, videos_url, tmp_path, tiny_demo):
    quick = HttpOptions(retries=2, backoff_s=0.01, timeout_s=0.5)
    server.stall_next(1, 1.5)
    assert sources.list_videos(videos_url, quick)[0]
    lists = server.url_for(os.path.basename(tiny_demo.lists_zip))
    server.stall_next(1, 1.5)
    sources.download_file(lists, str(tmp_path / "lists.zip"), quick)
    assert os.path.getsize(tmp_path / "lists.zip") == os.path.getsize(tiny_demo.lists_zip)
    server.stall_next(100, 1.5)
    with pytest.raises(SourceUnavailableError, match=r"timed out \(after 2 retries\)"):
        sources.list_videos(videos_url, quick)


def test_retry_after_is_honoured_up_to_a_minute(monkeypatch):
    response = type("R", (), {"status_code": 429, "reason": "Too Many", "headers": {}})
    response.headers = {"Retry-After": "7"}
    failure = fetch._status_failure(response)
    assert (failure.transient, failure.retry_after) == (True, 7.0)

    waits = []
    attempts = iter([_http_error(response), _http_error(response), "done"])

    def attempt():
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(fetch.time, "sleep", waits.append)
    assert fetch.with_retries(attempt, "http://h/x", HttpOptions(retries=2)) == "done"
    assert waits == [7.0, 7.0]  # not the backoff's 0.5 and 1.0
    response.headers = {"Retry-After": "3600"}
    attempts = iter([_http_error(response), "done"])
    waits.clear()
    assert fetch.with_retries(attempt, "http://h/x", HttpOptions(retries=2)) == "done"
    assert waits == [60.0]  # an hour asked, a minute waited


def _http_error(response):
    import requests

    return requests.HTTPError("429", response=response)


def test_messages_count_only_the_retries_made(tmp_path):
    # A refused connection is transient: retried, and the message says how often.
    url = closed_port_url("x.zip")
    options = HttpOptions(retries=2, backoff_s=0.01)
    with pytest.raises(fetch.RemoteError) as error:
        fetch.download(url, str(tmp_path / "x"), options)
    assert str(error.value) == "connection refused (after 2 retries)"
    # With no retries allowed there is no claim of any.
    with pytest.raises(fetch.RemoteError) as error:
        fetch.download(url, str(tmp_path / "x"), HttpOptions(retries=0))
    assert str(error.value) == "connection refused"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "name, parts",
    [
        ("UCF101/v_Drum_g01_c01.avi", ["UCF101", "v_Drum_g01_c01.avi"]),
        ("movinet_a0_base/", ["movinet_a0_base"]),  # a folder
        ("./movinet_a0_base/ckpt-1.index", ["movinet_a0_base", "ckpt-1.index"]),  # tar's prefix
        (".", []),  # a tar archive's root folder
        ("./", []),
        ("a..b/c", ["a..b", "c"]),
        # refused: every way out of the folder, for zip and tar members alike
        ("", None),
        ("/etc/passwd", None),
        ("../x", None),
        ("a/../../x", None),
        ("a/./x", None),
        ("a//x", None),
        ("a\\..\\x", None),
        ("C:/x", None),
        ("a/D:x", None),
        ("a/x\x00.txt", None),
    ],
)
def test_one_rule_for_member_names_of_zip_and_tar(name, parts):
    """The ingest's zip members and the checkpoint's tar members use this one function."""
    assert fetch.safe_member_parts(name) == parts


def test_cache_folder_is_one_per_key_and_writes_are_atomic(tmp_path):
    root = str(tmp_path / "cache")
    url = "https://example.com/UCF101.zip"
    assert fetch.cache_folder(root, url) == fetch.cache_folder(root, url)
    assert fetch.cache_folder(root, url) != fetch.cache_folder(root, url + "?v=2")
    assert os.path.dirname(fetch.cache_folder(root, url)) == root
    dest = os.path.join(fetch.cache_folder(root, url), "sub", "member.avi")
    fetch.write_atomically(dest, b"video")
    with open(dest, "rb") as f:
        assert f.read() == b"video"
    assert os.listdir(os.path.dirname(dest)) == ["member.avi"]  # no temporary file left
