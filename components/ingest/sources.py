"""Video sources: list and fetch videos from a remote zip, a local zip or class folders.

- Remote zip (http/https URL, e.g. the real UCF101 zip): read partially with
  `remotezip`: the central directory, then only the members selected. Fetched
  members are kept in a local cache so a rerun does not fetch them again.
- Local zip: members are extracted one at a time to a temporary file.
- Folder: `<class>/<video>` files, read in place.

Zip member names are never trusted as paths: a name that is absolute, climbs
(`..`) or uses backslashes or drive letters is refused at listing time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator

from absl import logging

from components import fetch
from components.fetch import HttpOptions, is_remote
from components.ingest import ucf101
from components.ingest.errors import IngestError, SourceUnavailableError


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One video of a source. `member` is its validated path inside the source."""

    member: str
    class_name: str
    group: str
    size: int

    @property
    def file_name(self) -> str:
        return self.member.rsplit("/", 1)[-1]


def safe_member_path(name: str) -> str | None:
    """The member name as a safe relative path (components/fetch.py safe_member_parts),
    or None when it could escape a folder or names no file."""
    parts = fetch.safe_member_parts(name)
    return "/".join(parts) if parts else None


def entry_from_path(member: str, size: int, folder_class: str | None = None) -> VideoEntry | None:
    """A VideoEntry for a video path, or None for files that are not videos.

    The class comes from the UCF101 file name (`v_<Class>_g<GG>_c<CC>`) when it
    follows that scheme, else from the folder; the group is the UCF101 group, or
    the file itself when the name carries none (each video its own group).
    """
    file_name = member.rsplit("/", 1)[-1]
    if not file_name.lower().endswith(ucf101.VIDEO_EXTENSIONS):
        return None
    parsed = ucf101.parse_video_name(file_name)
    class_name = folder_class or (parsed.class_name if parsed else None)
    if class_name is None:
        return None
    group = f"g{parsed.group:02d}" if parsed else os.path.splitext(file_name)[0]
    return VideoEntry(member=member, class_name=class_name, group=group, size=size)


def list_videos(
    source: str, http: HttpOptions = HttpOptions()
) -> tuple[list[VideoEntry], list[str]]:
    """Lists the videos of a source.

    Returns:
      (entries sorted by member path, refused member names that were unsafe as paths).
    """
    if is_remote(source):
        with open_remote_zip(source, http) as zf:
            return _entries_from_zip(zf.infolist())
    if os.path.isdir(source):
        return _entries_from_folder(source), []
    if not os.path.exists(source):
        raise IngestError(f"source {source!r} does not exist: give a URL, a zip file or a folder")
    try:
        with zipfile.ZipFile(source) as zf:
            return _entries_from_zip(zf.infolist())
    except zipfile.BadZipFile as e:
        raise IngestError(f"source {source!r} is not a readable zip file: {e}") from e


def _entries_from_zip(infos: list[zipfile.ZipInfo]) -> tuple[list[VideoEntry], list[str]]:
    entries, refused = [], []
    for info in infos:
        if info.is_dir():
            continue
        member = safe_member_path(info.filename)
        if member is None:
            refused.append(info.filename)
            continue
        entry = entry_from_path(member, info.file_size)
        if entry is not None:
            entries.append(entry)
    if refused:
        logging.warning("refused %d zip members with unsafe names: %s", len(refused), refused[:5])
    return sorted(entries, key=lambda e: e.member), refused


def _entries_from_folder(folder: str) -> list[VideoEntry]:
    entries = []
    for class_name in sorted(os.listdir(folder)):
        class_dir = os.path.join(folder, class_name)
        if not os.path.isdir(class_dir):
            continue
        for file_name in sorted(os.listdir(class_dir)):
            path = os.path.join(class_dir, file_name)
            if os.path.isfile(path):
                entry = entry_from_path(
                    f"{class_name}/{file_name}", os.path.getsize(path), class_name
                )
                if entry is not None:
                    entries.append(entry)
    return entries


def _ingest_error(error: fetch.RemoteError, what: str, fix: str) -> IngestError:
    """The IngestError for a failed download: SourceUnavailableError when the network, the
    server or the trust store is at fault, plain IngestError when the input is."""
    kind = SourceUnavailableError if error.environmental else IngestError
    return kind(error.message(what, fix))


# Hosts that answered a suffix range (`bytes=-N`) with 501 or 416 in this process:
# later opens go straight to HEAD and absolute ranges.
_NO_SUFFIX_RANGES: set[str] = set()
_SUFFIX_REFUSED = (416, 501)


def _open_zip_once(url: str, session, http: HttpOptions) -> zipfile.ZipFile:
    """One attempt to open a remote zip (its directory read with Range requests).

    remotezip first asks for the last 64 KiB with a suffix range; a server that refuses
    those (501, or 416 when the file is smaller) is asked its size with HEAD and then
    read with absolute ranges, which every range-capable server serves.
    """
    import remotezip

    suffix = url not in _NO_SUFFIX_RANGES
    try:
        try:
            return remotezip.RemoteZip(
                url, session=session, timeout=http.timeout_s, support_suffix_range=suffix
            )
        except remotezip.RemoteIOError as e:
            status = fetch.http_status(e)
            if not suffix or status not in _SUFFIX_REFUSED:
                raise
            logging.info("%s refused a suffix range (HTTP %d): using HEAD + ranges", url, status)
            _NO_SUFFIX_RANGES.add(url)
            return remotezip.RemoteZip(
                url, session=session, timeout=http.timeout_s, support_suffix_range=False
            )
    except zipfile.BadZipFile as e:  # a body cut short is a ProtocolError (see fetch.session)
        raise IngestError(
            f"remote source {url} is not a zip file ({e}); expected a zip such as "
            "UCF101_videos.zip; check the URL"
        ) from e


@contextlib.contextmanager
def open_remote_zip(url: str, http: HttpOptions) -> Iterator[zipfile.ZipFile]:
    """Opens a remote zip by reading its central directory with Range requests.

    Raises:
      SourceUnavailableError: network, server or TLS failures (after retries if transient).
      IngestError: the URL is wrong (4xx), not a zip, or its server ignores ranges.
    """
    session = fetch.session()
    try:
        zf = fetch.with_retries(lambda: _open_zip_once(url, session, http), url, http)
    except fetch.RemoteError as e:
        session.close()
        raise _ingest_error(
            e,
            "read remote zip",
            "check the URL and the network, or download it and pass the local path",
        ) from e
    except BaseException:
        session.close()
        raise
    try:
        yield zf
    finally:
        zf.close()
        session.close()


def download_file(url: str, dest: str, http: HttpOptions) -> str:
    """Downloads a small file (e.g. the split lists) once; a rerun reuses `dest`."""
    if os.path.exists(dest):
        return dest
    try:
        fetch.download(url, dest, http)
    except fetch.RemoteError as e:
        raise _ingest_error(
            e,
            "download",
            "check the URL and the network, or download the file and pass its local path",
        ) from e
    return dest


class VideoFetcher:
    """Gives local paths to the videos of one source; one per Beam worker.

    Holds no state that must survive serialization: `open()` runs in the worker.
    """

    def __init__(self, source: str, cache_root: str, http: HttpOptions = HttpOptions()):
        self.source = source
        self.cache_root = cache_root
        self.http = http
        self._zip: zipfile.ZipFile | None = None
        self._remote_cm = None
        self._session = None  # of a handle reopened after a failed fetch
        self.bytes_fetched = 0

    def open(self) -> None:
        if is_remote(self.source):
            self._remote_cm = open_remote_zip(self.source, self.http)
            self._zip = self._remote_cm.__enter__()
        elif not os.path.isdir(self.source):
            self._zip = zipfile.ZipFile(self.source)

    def close(self) -> None:
        if self._remote_cm is not None:
            self._remote_cm.__exit__(None, None, None)
        elif self._zip is not None:
            self._zip.close()
        if self._session is not None:
            self._session.close()
        self._zip = self._remote_cm = self._session = None

    @contextlib.contextmanager
    def local_path(self, entry: VideoEntry) -> Iterator[str]:
        """Yields a local file path holding the video of `entry`."""
        member = safe_member_path(entry.member)
        if member is None or member != entry.member:
            raise IngestError(f"refusing unsafe member name {entry.member!r}")
        if os.path.isdir(self.source):
            yield os.path.join(self.source, *member.split("/"))
        elif is_remote(self.source):
            yield self._cached_remote_member(member, entry.size)
        else:
            with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
                path = os.path.join(tmp, entry.file_name)
                with self._zip.open(member) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                yield path

    def _cached_remote_member(self, member: str, size: int) -> str:
        dest = os.path.join(fetch.cache_folder(self.cache_root, self.source), *member.split("/"))
        root = os.path.realpath(self.cache_root)
        if not os.path.realpath(dest).startswith(root + os.sep):
            raise IngestError(f"refusing member {member!r}: it would be written outside the cache")
        if os.path.exists(dest) and os.path.getsize(dest) == size:
            return dest

        def read() -> bytes:
            if self._zip is None:  # reopened after a failure: one attempt, no retries of its own
                self._session = fetch.session()
                self._zip = _open_zip_once(self.source, self._session, self.http)
            return self._zip.read(member)

        try:
            # remotezip keeps a failed response and may read it again (getting nothing):
            # closing the handle makes the next attempt reopen it and fetch the member anew.
            data = fetch.with_retries(read, self.source, self.http, on_retry=self.close)
        except fetch.RemoteError as e:
            raise _ingest_error(
                e,
                f"fetch {member!r} from",
                "check the network, or download the zip and pass the local path",
            ) from e
        self.bytes_fetched += len(data)
        fetch.write_atomically(dest, data)
        return dest
