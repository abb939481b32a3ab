"""Video sources: safe member names, partial reads of a remote zip, the member cache,
retries and errors, and the remote ingest end to end, against a local HTTP server."""

import contextlib
import glob
import os
import re
import time
import zipfile

import pytest

from components import fetch
from components.fetch import HttpOptions
from components.ingest import beam_ingest, constants, records, sources, ucf101
from components.ingest.config import IngestConfig
from components.ingest.errors import IngestError, SourceUnavailableError
from components.ingest.selection import SelectionSpec
from components.ingest.sources import VideoEntry, VideoFetcher
from components.ingest.video import FrameSpec
from pipeline.demo_data import MOTIONS
from tests.builders import examples
from tests.conftest import TINY
from tests.fakes.http_server import closed_port_url, serve_folder

CLASSES = MOTIONS[: TINY.num_classes]
NUM_VIDEOS = TINY.num_classes * TINY.groups_per_class * TINY.clips_per_group
FAST = HttpOptions(retries=3, backoff_s=0.01, timeout_s=10.0)
TAIL = 64 * 1024  # remotezip's first read: the zip's last 64 KiB, holding the central directory
LOCAL_HEADER_MAX = 30 + 100  # fixed local header + name: what a member's range adds to its data


def is_tail_read(request):
    return request.range is not None and request.range.startswith("bytes=-")


def member_spans(zip_path):
    """Member name -> the inclusive byte range remotezip asks for it (header to next header)."""
    with zipfile.ZipFile(zip_path) as zf:
        infos = sorted(zf.infolist(), key=lambda i: i.header_offset)
        ends = [i.header_offset for i in infos[1:]] + [zf.start_dir]
    return {i.filename: (i.header_offset, end - 1) for i, end in zip(infos, ends, strict=True)}


def range_of(request):
    first, last = request.range[len("bytes=") :].split("-")
    return int(first), int(last)


@contextlib.contextmanager
def open_fetcher(source, cache_root, http=FAST):
    fetcher = VideoFetcher(source, str(cache_root), http)
    fetcher.open()
    try:
        yield fetcher
    finally:
        fetcher.close()


def read_fetched(fetcher, entry):
    with fetcher.local_path(entry) as path, open(path, "rb") as f:
        return f.read()


def fetcher_path(fetcher, entry):
    with fetcher.local_path(entry) as path:
        return path


def zip_bytes(zip_path, member):
    with zipfile.ZipFile(zip_path) as zf:
        return zf.read(member)


@pytest.fixture
def server(tiny_demo):
    with serve_folder(os.path.dirname(tiny_demo.videos_zip)) as s:
        yield s


@pytest.fixture
def videos_url(server, tiny_demo):
    return server.url_for(os.path.basename(tiny_demo.videos_zip))


@pytest.fixture(scope="module")
def demo_folder(tiny_demo, tmp_path_factory):
    """The demo videos as a `<class>/<video>` folder."""
    folder = tmp_path_factory.mktemp("demo_folder")
    with zipfile.ZipFile(tiny_demo.videos_zip) as zf:
        for info in zf.infolist():
            name = info.filename.rsplit("/", 1)[-1]
            class_dir = folder / ucf101.parse_video_name(name).class_name
            class_dir.mkdir(exist_ok=True)
            (class_dir / name).write_bytes(zf.read(info))
    return str(folder)


# --- member names -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("UCF101/v_Drum_g01_c01.avi", "UCF101/v_Drum_g01_c01.avi"),
        ("v_Drum_g01_c01.avi", "v_Drum_g01_c01.avi"),
        ("Drum/sub/clip.mp4", "Drum/sub/clip.mp4"),
        ("UCF101/", "UCF101"),
        ("a..b/c.avi", "a..b/c.avi"),
    ],
)
def test_safe_member_path_accepts_relative_names(name, expected):
    assert sources.safe_member_path(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/abs/v_X_g01_c01.avi",
        "../v_X_g01_c01.avi",
        "UCF101/../../v_X_g01_c01.avi",
        "UCF101/..",
        "UCF101/./v_X_g01_c01.avi",
        "UCF101//v_X_g01_c01.avi",
        "UCF101\\..\\v_X_g01_c01.avi",
        "C:/v_X_g01_c01.avi",
        "C:v_X_g01_c01.avi",
        "UCF101/D:/v_X_g01_c01.avi",
        "UCF101/v_X_g01_c01.avi\x00.txt",
    ],
)
def test_safe_member_path_refuses_names_that_could_escape(name):
    assert sources.safe_member_path(name) is None


# --- partial reads and the cache ----------------------------------------------------


def test_remote_listing_reads_only_the_central_directory(server, videos_url, tiny_demo):
    entries, refused = sources.list_videos(videos_url, FAST)

    assert (entries, refused) == sources.list_videos(tiny_demo.videos_zip)
    assert len(entries) == NUM_VIDEOS
    assert [r.range for r in server.log] == [f"bytes=-{TAIL}"]
    assert server.bytes_sent <= TAIL < os.path.getsize(tiny_demo.videos_zip) / 10


def test_fetcher_transfers_only_the_selected_members(server, videos_url, tiny_demo, tmp_path):
    entries, _ = sources.list_videos(videos_url, FAST)
    # Members away from the end, which the first (tail) read already holds.
    chosen = [entries[0], entries[7], entries[14]]
    spans = member_spans(tiny_demo.videos_zip)
    with open_fetcher(videos_url, tmp_path / "cache") as fetcher:
        server.reset_counters()
        for entry in chosen:
            with fetcher.local_path(entry) as path:
                assert path.startswith(str(tmp_path / "cache") + os.sep)
            assert read_fetched(fetcher, entry) == zip_bytes(tiny_demo.videos_zip, entry.member)

    assert [range_of(r) for r in server.log] == [spans[e.member] for e in chosen]
    member_sizes = sum(e.size for e in chosen)
    assert fetcher.bytes_fetched == member_sizes
    assert member_sizes < server.bytes_sent < member_sizes + LOCAL_HEADER_MAX * len(chosen)
    assert server.bytes_sent < os.path.getsize(tiny_demo.videos_zip) / 4


def test_rerun_with_the_same_cache_fetches_no_member_again(server, videos_url, tmp_path):
    entries, _ = sources.list_videos(videos_url, FAST)
    chosen = entries[2:5]

    def fetch_all():
        with open_fetcher(videos_url, tmp_path / "cache") as fetcher:
            paths = []
            for entry in chosen:
                with fetcher.local_path(entry) as path:
                    paths.append(path)
            return fetcher.bytes_fetched, paths

    first_fetched, first_paths = fetch_all()
    server.reset_counters()
    again_fetched, again_paths = fetch_all()

    assert first_fetched == sum(e.size for e in chosen)
    assert (again_fetched, again_paths) == (0, first_paths)
    # Opening the zip rereads its directory; no member byte is served again.
    assert all(is_tail_read(r) for r in server.log)
    assert server.bytes_sent <= TAIL

    # A cached file of the wrong size (an interrupted write) is fetched again.
    with open(first_paths[0], "r+b") as f:
        f.truncate(10)
    server.reset_counters()
    again_fetched, _ = fetch_all()
    assert again_fetched == chosen[0].size
    assert os.path.getsize(first_paths[0]) == chosen[0].size


# --- retries and errors -----------------------------------------------------------


def test_transient_5xx_is_retried_then_succeeds(server, videos_url, tiny_demo, tmp_path):
    server.fail_next(2, status=503)
    entries, _ = sources.list_videos(videos_url, FAST)
    assert len(entries) == NUM_VIDEOS
    assert [r.status for r in server.log] == [503, 503, 206]

    with open_fetcher(videos_url, tmp_path / "cache") as fetcher:
        server.reset_counters()
        server.fail_next(2, status=502)
        assert read_fetched(fetcher, entries[3]) == zip_bytes(
            tiny_demo.videos_zip, entries[3].member
        )
    # The member's request failed, then the reopened handle's directory read; each was
    # retried, and the member was fetched once.
    assert [(r.status, is_tail_read(r)) for r in server.log] == [
        (502, False),
        (502, True),
        (206, True),
        (206, False),
    ]


def test_persistent_5xx_ends_in_ingest_error_naming_the_url(server, videos_url, tmp_path):
    options = HttpOptions(retries=2, backoff_s=0.01, timeout_s=10.0)
    server.fail_next(100, status=503)
    with pytest.raises(SourceUnavailableError, match=re.escape(videos_url)) as error:
        sources.list_videos(videos_url, options)
    assert "HTTP 503 Service Unavailable (after 2 retries)" in str(error.value)
    assert [r.status for r in server.log] == [503] * (options.retries + 1)

    server.clear_faults()
    entries, _ = sources.list_videos(videos_url, options)
    with open_fetcher(videos_url, tmp_path / "cache", options) as fetcher:
        server.reset_counters()
        server.fail_next(100, status=500)
        with pytest.raises(SourceUnavailableError, match=re.escape(videos_url)) as error:
            read_fetched(fetcher, entries[0])
    # One attempt and two retries in all (the member, then reopening the handle twice).
    assert "HTTP 500 Internal Server Error (after 2 retries)" in str(error.value)
    assert [r.status for r in server.log] == [500] * (options.retries + 1)
    assert not glob.glob(str(tmp_path / "cache" / "**" / "*.avi"), recursive=True)


@pytest.mark.parametrize(
    "after_bytes, reset", [(0, True), (10, False), (20_000, True), (20_000, False)]
)
def test_connection_lost_mid_member_is_retried(
    server, videos_url, tiny_demo, tmp_path, after_bytes, reset
):
    entries, _ = sources.list_videos(videos_url, FAST)
    entry = entries[4]
    first, last = member_spans(tiny_demo.videos_zip)[entry.member]
    with open_fetcher(videos_url, tmp_path / "cache") as fetcher:
        server.reset_counters()
        server.cut_next(1, after_bytes, reset=reset)
        assert read_fetched(fetcher, entry) == zip_bytes(tiny_demo.videos_zip, entry.member)
        assert fetcher.bytes_fetched == entry.size
    member_requests = [(range_of(r), r.body_bytes) for r in server.log if not is_tail_read(r)]
    assert member_requests == [((first, last), after_bytes), ((first, last), last - first + 1)]


@pytest.mark.parametrize("reset", [True, False])
def test_directory_read_cut_short_is_retried(server, videos_url, reset):
    server.cut_next(2, 1000, reset=reset)
    entries, _ = sources.list_videos(videos_url, FAST)
    assert len(entries) == NUM_VIDEOS
    assert [(r.range, r.body_bytes) for r in server.log] == [
        (f"bytes=-{TAIL}", 1000),
        (f"bytes=-{TAIL}", 1000),
        (f"bytes=-{TAIL}", TAIL),
    ]


def test_connection_lost_on_every_attempt_ends_in_ingest_error(server, videos_url, tmp_path):
    server.cut_next(100, 1000)
    with pytest.raises(SourceUnavailableError, match=re.escape(videos_url)) as error:
        sources.list_videos(videos_url, FAST)
    assert "broke off" in str(error.value) and f"(after {FAST.retries} retries)" in str(error.value)
    assert len(server.log) == FAST.retries + 1

    server.clear_faults()
    entries, _ = sources.list_videos(videos_url, FAST)
    with open_fetcher(videos_url, tmp_path / "cache") as fetcher:
        server.cut_next(100, 1000)
        with pytest.raises(SourceUnavailableError, match=re.escape(videos_url)):
            read_fetched(fetcher, entries[0])
        # Once the network is back, the same fetcher serves the next video.
        server.clear_faults()
        assert os.path.getsize(fetcher_path(fetcher, entries[1])) == entries[1].size
    assert not os.path.exists(
        os.path.join(fetch.cache_folder(str(tmp_path / "cache"), videos_url), entries[0].member)
    )


@pytest.mark.parametrize("fault", ["auth", "missing"])
def test_auth_failure_or_missing_file_fails_at_once_naming_the_url(
    server, videos_url, tiny_demo, tmp_path, fault
):
    if fault == "auth":
        server.require_auth("Bearer secret")
    else:
        server.fail_path(os.path.basename(tiny_demo.videos_zip), 404)
    with pytest.raises(IngestError, match=re.escape(videos_url)):
        sources.list_videos(videos_url, FAST)
    with pytest.raises(IngestError, match=re.escape(videos_url)):
        sources.download_file(videos_url, str(tmp_path / "lists.zip"), FAST)
    # 4xx is not transient: one request each, no retry.
    assert [r.status for r in server.log] == [401 if fault == "auth" else 404] * 2
    assert not os.path.exists(tmp_path / "lists.zip")


def test_unreachable_server_fails_fast_naming_the_url(tmp_path):
    url = closed_port_url("UCF101_videos.zip")
    options = HttpOptions(retries=2, backoff_s=0.01, timeout_s=5.0)
    start = time.monotonic()
    with pytest.raises(IngestError, match=re.escape(url)):
        sources.list_videos(url, options)
    with pytest.raises(IngestError, match=re.escape(url)):
        sources.download_file(url, str(tmp_path / "lists.zip"), options)
    with pytest.raises(IngestError, match=re.escape(url)):
        VideoFetcher(url, str(tmp_path / "cache"), options).open()
    assert time.monotonic() - start < 5.0


# --- untrusted member names -----------------------------------------------------------

GOOD_MEMBERS = ("UCF101/v_Good_g01_c01.avi", "UCF101/v_Good_g02_c01.avi")
EVIL_MEMBERS = (
    "UCF101/../../../../evil_v_X_g01_c01.avi",
    "/abs/v_X_g01_c02.avi",
    "UCF101\\..\\..\\v_X_g01_c03.avi",
    "C:/evil/v_X_g01_c04.avi",
)


@pytest.fixture
def evil_site(tmp_path):
    """A served folder with a zip of two good videos and members named to escape."""
    site = tmp_path / "site"
    site.mkdir()
    with zipfile.ZipFile(site / "evil.zip", "w") as zf:
        # Evil members first, so they lie outside the tail that the listing reads.
        for name in EVIL_MEMBERS:
            zf.writestr(zipfile.ZipInfo(name), b"evil" * 1000)
        for i, name in enumerate(GOOD_MEMBERS):
            zf.writestr(name, bytes([i]) * 50_000)
    with serve_folder(site) as s:
        yield s, s.url_for("evil.zip")


def test_malicious_zip_members_are_refused_and_never_written(evil_site, tmp_path):
    server, url = evil_site
    entries, refused = sources.list_videos(url, FAST)
    assert sorted(refused) == sorted(EVIL_MEMBERS)
    assert tuple(e.member for e in entries) == GOOD_MEMBERS

    cache = tmp_path / "sandbox" / "a" / "cache"
    with open_fetcher(url, cache) as fetcher:
        for entry in entries:
            with fetcher.local_path(entry) as path:
                assert os.path.realpath(path).startswith(str(cache) + os.sep)
        for name in EVIL_MEMBERS:
            evil = VideoEntry(member=name, class_name="X", group="g01", size=4000)
            with pytest.raises(IngestError, match="unsafe member name"):
                read_fetched(fetcher, evil)

    written = {
        os.path.relpath(os.path.join(root, f), tmp_path)
        for root, _, files in os.walk(tmp_path)
        for f in files
    }
    cached = {w for w in written if w.startswith(os.path.join("sandbox", "a", "cache") + os.sep)}
    assert written - cached == {os.path.join("site", "evil.zip")}
    assert len(cached) == 2 and not any("v_X_" in w for w in written)
    assert not os.path.exists("/abs")
    # Bytes of the good members were asked for, never those of a refused one.
    spans = member_spans(tmp_path / "site" / "evil.zip")
    asked = {range_of(r) for r in server.log if not is_tail_read(r)}
    assert asked and asked <= {spans[name] for name in GOOD_MEMBERS}


@pytest.mark.parametrize("source_kind", ["zip", "folder"])
def test_fetcher_refuses_unsafe_names_in_local_sources(
    source_kind, tiny_demo, demo_folder, tmp_path
):
    source = tiny_demo.videos_zip if source_kind == "zip" else demo_folder
    with open_fetcher(source, tmp_path / "cache") as fetcher:
        for name in ("../SlideLeft/v_SlideLeft_g01_c01.avi", "SlideLeft//v_SlideLeft_g01_c01.avi"):
            entry = VideoEntry(member=name, class_name="SlideLeft", group="g01", size=1)
            with pytest.raises(IngestError, match="unsafe member name"):
                read_fetched(fetcher, entry)


def test_cache_folder_linked_outside_the_cache_is_refused(server, videos_url, tmp_path):
    entries, _ = sources.list_videos(videos_url, FAST)
    cache, outside = tmp_path / "cache", tmp_path / "outside"
    outside.mkdir()
    source_cache = fetch.cache_folder(str(cache), videos_url)
    os.makedirs(source_cache)
    os.symlink(outside, os.path.join(source_cache, "UCF101"))
    with open_fetcher(videos_url, cache) as fetcher:
        with pytest.raises(IngestError, match="outside the cache"):
            read_fetched(fetcher, entries[0])
    assert os.listdir(outside) == []


# --- source kinds agree ----------------------------------------------------------------


def test_local_zip_and_folder_list_and_fetch_the_same_videos_as_the_remote_zip(
    server, videos_url, tiny_demo, demo_folder, tmp_path
):
    def described(entries):
        return sorted((e.class_name, e.group, e.file_name, e.size) for e in entries)

    remote, _ = sources.list_videos(videos_url, FAST)
    local_zip, refused = sources.list_videos(tiny_demo.videos_zip)
    folder, _ = sources.list_videos(demo_folder)
    assert refused == []
    assert described(remote) == described(local_zip) == described(folder)
    assert {e.class_name for e in folder} == set(CLASSES)
    assert len({(e.class_name, e.group) for e in folder}) == len(CLASSES) * TINY.groups_per_class

    member = remote[5].member
    folder_entry = next(e for e in folder if e.file_name == remote[5].file_name)
    with open_fetcher(videos_url, tmp_path / "cache") as fetcher:
        from_remote = read_fetched(fetcher, remote[5])
    with open_fetcher(tiny_demo.videos_zip, tmp_path / "cache") as fetcher:
        from_zip = read_fetched(fetcher, local_zip[5])
    with open_fetcher(demo_folder, tmp_path / "cache") as fetcher:
        from_folder = read_fetched(fetcher, folder_entry)
    assert from_remote == from_zip == from_folder == zip_bytes(tiny_demo.videos_zip, member)


# --- split lists --------------------------------------------------------------------


def test_split_lists_download_is_cached(server, tiny_demo, tmp_path):
    url = server.url_for(os.path.basename(tiny_demo.lists_zip))
    dest = str(tmp_path / "cache" / "lists.zip")

    assert sources.download_file(url, dest, FAST) == dest
    with open(dest, "rb") as got, open(tiny_demo.lists_zip, "rb") as want:
        assert got.read() == want.read()
    assert ucf101.read_split_lists(dest).class_names == CLASSES
    assert [(r.method, r.status) for r in server.log] == [("GET", 200)]

    server.fail_next(100, status=503)  # a rerun must not touch the network at all
    assert sources.download_file(url, dest, FAST) == dest
    assert len(server.log) == 1
    assert [f for f in os.listdir(tmp_path / "cache") if f.startswith(".part-")] == []


# --- the remote ingest end to end -------------------------------------------------------


@pytest.mark.slow
def test_remote_ingest_fetches_only_selected_members(server, videos_url, tiny_demo, tmp_path):
    import tensorflow as tf

    lists_name = os.path.basename(tiny_demo.lists_zip)
    config = IngestConfig(
        source=videos_url,
        split_lists=server.url_for(lists_name),
        selection=SelectionSpec(classes=2, clips_per_class=4, split=1),
        frames=FrameSpec(frames_per_video=8, height=64, width=64),
        cache_dir=str(tmp_path / "cache"),
        http=HttpOptions(retries=2, backoff_s=0.01),
    )
    out = str(tmp_path / "out")
    report = beam_ingest.run_ingest(config, out, ["--runner=DirectRunner"])

    assert report.class_names == CLASSES[:2]
    assert (report.selected, report.bad, report.refused) == (8, (), ())
    for name in report.class_names:
        assert report.written["train"][name] + report.written["eval"][name] == 4
        assert report.written["eval"][name] >= 1  # group g01 is split 1's test group

    written = {}
    for split in constants.SPLITS:
        paths = glob.glob(os.path.join(constants.split_dir(out, split), "*"))
        parsed = [records.from_example_bytes(r.numpy()) for r in tf.data.TFRecordDataset(paths)]
        assert len(parsed) == sum(report.written[split].values())
        assert all(len(r.jpeg_frames) == 8 and (r.height, r.width) == (64, 64) for r in parsed)
        written.update({r.media_id: split for r in parsed})
    evaluated = [m for m, split in written.items() if split == "eval"]
    assert evaluated and all(ucf101.parse_video_name(m).group == 1 for m in evaluated)
    assert examples.load_labels(out) == list(CLASSES[:2])

    # The lists came in one request. The videos zip served its tail (directory) and
    # exactly the selected members' ranges; the two classes chosen lie before the tail.
    assert [r.status for r in server.requests_for(lists_name)] == [200]
    videos_name = os.path.basename(tiny_demo.videos_zip)
    selected = [f"UCF101/{m}" for m in written]
    spans = member_spans(tiny_demo.videos_zip)
    member_requests = [r for r in server.requests_for(videos_name) if not is_tail_read(r)]
    assert sorted(range_of(r) for r in member_requests) == sorted(spans[m] for m in selected)
    with zipfile.ZipFile(tiny_demo.videos_zip) as zf:
        selected_size = sum(zf.getinfo(m).file_size for m in selected)
    member_bytes = sum(r.body_bytes for r in member_requests)
    assert selected_size < member_bytes < selected_size + LOCAL_HEADER_MAX * len(selected)
    assert server.bytes_sent_for(videos_name) < os.path.getsize(tiny_demo.videos_zip) / 2
