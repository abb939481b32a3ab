"""Pretrained MoViNet checkpoints: find one (folder, prefix, .tar.gz, URL, gs://), restore it.

Model Garden publishes each checkpoint as `movinet_<id>_<variant>.tar.gz`, which
extracts to `movinet_<id>_<variant>/` holding `checkpoint`, `ckpt-1.index` and
`ckpt-1.data-00000-of-00001`: a `tf.train.Checkpoint(model=MovinetClassifier)` of a
600-class Kinetics classifier. `resolve_checkpoint` turns any of the accepted
sources into a local checkpoint prefix (downloads and extractions are cached, so a
rerun fetches nothing); `trainer/restore.py` restores it into the matching
architecture.

Archive members are never trusted: absolute names, `..`, links and devices are
refused before anything is written (Python 3.10's tarfile filters are not relied on).
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import os
import shutil
import tarfile
import tempfile
import zlib

from absl import logging

from components import fetch
from components.fetch import HttpOptions

_ACCEPTED = (
    "a checkpoint folder (holding `checkpoint` and `ckpt-N.index`), a checkpoint prefix, "
    "a .tar.gz archive of one, an http(s) URL of such an archive or a gs:// path"
)
_CHUNK = 1 << 20


class CheckpointError(Exception):
    """A checkpoint that cannot be found, fetched, unpacked or restored: the message says
    which, what was expected and what to do."""


# --- resolve: any source -> a local checkpoint prefix -------------------------------------


def resolve_checkpoint(spec: str, cache_dir: str, http: HttpOptions = HttpOptions()) -> str:
    """The local checkpoint prefix (e.g. `.../movinet_a0_base/ckpt-1`) that `spec` names.

    Args:
      spec: a checkpoint folder, a checkpoint prefix, a local .tar.gz/.tgz, an http(s)
        URL of a .tar.gz, or a gs:// folder or archive.
      cache_dir: where downloads and extractions are kept, one folder per source.
      http: retries, backoff and timeout of downloads.
    """
    if fetch.is_remote(spec):
        folder = fetch.cache_folder(cache_dir, spec)
        extracted = os.path.join(folder, "extracted")
        if not os.path.isdir(extracted):
            archive = os.path.join(folder, "archive.tar.gz")
            if not os.path.isfile(archive):
                _download(spec, archive, http)
            _extract_cached(archive, extracted, spec, discard=archive)
        return _prefix_in_tree(extracted, spec)
    if "://" in spec and not spec.startswith("file://"):
        return _resolve_gfile(spec, fetch.cache_folder(cache_dir, spec))
    path = spec[len("file://") :] if spec.startswith("file://") else spec
    if os.path.isdir(path):
        return _prefix_in_dir(path, spec)
    if os.path.isfile(path + ".index"):
        return _checked_prefix(path, spec)
    if path.endswith(".index") and os.path.isfile(path):
        return _checked_prefix(path[: -len(".index")], spec)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"checkpoint {spec!r} does not exist: expected {_ACCEPTED}; check the path, or "
            "pass Model Garden's URL (e.g. https://storage.googleapis.com/tf_model_garden/"
            "vision/movinet/movinet_a0_base.tar.gz)"
        )
    stat = os.stat(path)
    # A changed archive at the same path must not reuse the old extraction.
    key = f"{os.path.realpath(path)}:{stat.st_size}:{stat.st_mtime_ns}"
    extracted = os.path.join(fetch.cache_folder(cache_dir, key), "extracted")
    if not os.path.isdir(extracted):
        _extract_cached(path, extracted, spec)
    return _prefix_in_tree(extracted, spec)


def _checked_prefix(prefix: str, spec: str) -> str:
    """`prefix` if its index and data files exist (a copy can lose the large data file)."""
    if not os.path.isfile(prefix + ".index") or not glob.glob(glob.escape(prefix) + ".data-*"):
        raise CheckpointError(
            f"checkpoint {spec!r}: {prefix}.index or its {prefix}.data-* files are missing; "
            "expected both (a TF2 checkpoint); copy or download the checkpoint again"
        )
    return prefix


def _prefix_in_dir(folder: str, spec: str) -> str:
    """The checkpoint of one folder: the `checkpoint` state file's, else its lone index.

    A state file written elsewhere may name an absolute path of another machine (or,
    worse, one that exists here): only a prefix inside `folder` is taken from it.
    """
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(folder)
    inside = os.path.realpath(folder) + os.sep
    if latest is not None and os.path.realpath(latest).startswith(inside):
        return _checked_prefix(latest, spec)
    indexes = sorted(glob.glob(os.path.join(glob.escape(folder), "*.index")))
    if len(indexes) == 1:
        return _checked_prefix(indexes[0][: -len(".index")], spec)
    if indexes:
        names = [os.path.basename(i)[: -len(".index")] for i in indexes]
        raise CheckpointError(
            f"checkpoint folder {spec!r} holds several checkpoints {names} and no usable "
            "`checkpoint` state file; pass the prefix of the one to use, e.g. "
            f"{os.path.join(folder, names[-1])}"
        )
    raise CheckpointError(
        f"no checkpoint in {spec!r}: expected a `checkpoint` file or one `*.index` file "
        "(Model Garden's layout: movinet_<id>_<variant>/checkpoint, ckpt-1.index, "
        "ckpt-1.data-00000-of-00001); check that this is the extracted checkpoint folder"
    )


def _prefix_in_tree(root: str, spec: str) -> str:
    """The checkpoint of an extracted archive: the one folder that holds one."""
    folders = sorted(
        dirpath
        for dirpath, _, files in os.walk(root)
        if "checkpoint" in files or any(f.endswith(".index") for f in files)
    )
    if len(folders) == 1:
        return _prefix_in_dir(folders[0], spec)
    if folders:
        rel = [os.path.relpath(f, root) for f in folders]
        raise CheckpointError(
            f"archive {spec!r} holds checkpoints in several folders {rel}; expected one "
            "(as in Model Garden's movinet_<id>_<variant>.tar.gz); extract it and pass "
            "the folder to use"
        )
    raise CheckpointError(
        f"archive {spec!r} holds no checkpoint: expected a folder with `checkpoint` and "
        "`ckpt-N.index` files (Model Garden's movinet_<id>_<variant>.tar.gz); check that "
        "the URL or file is a MoViNet checkpoint archive, not a SavedModel or TF Hub export"
    )


def _resolve_gfile(spec: str, folder: str) -> str:
    """Copies a gs:// (or other tf.io.gfile) folder or archive into the cache, once."""
    import tensorflow as tf

    local = os.path.join(folder, "copy")
    try:
        if not os.path.isdir(local):
            if not tf.io.gfile.exists(spec):
                raise CheckpointError(
                    f"checkpoint {spec!r} does not exist: expected {_ACCEPTED}; check the "
                    "path and the credentials (GOOGLE_APPLICATION_CREDENTIALS)"
                )
            with _staging(folder) as tmp:
                if tf.io.gfile.isdir(spec):
                    # Checkpoint folders are flat: the state file, indexes, data shards.
                    for name in tf.io.gfile.listdir(spec):
                        src = spec.rstrip("/") + "/" + name
                        if not tf.io.gfile.isdir(src):
                            tf.io.gfile.copy(src, os.path.join(tmp, name.rstrip("/")))
                else:
                    tf.io.gfile.copy(spec, os.path.join(tmp, "archive.tar.gz"))
                os.rename(tmp, local)
    except tf.errors.OpError as e:
        raise CheckpointError(f"cannot copy checkpoint {spec!r}: {e.message}") from e
    archive = os.path.join(local, "archive.tar.gz")
    if not os.path.isfile(archive):
        return _prefix_in_dir(local, spec)
    extracted = os.path.join(folder, "extracted")
    if not os.path.isdir(extracted):
        _extract_cached(archive, extracted, spec, discard=local)
    return _prefix_in_tree(extracted, spec)


@contextlib.contextmanager
def _staging(folder: str):
    """A fresh temporary folder inside `folder`, removed unless renamed into place."""
    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=folder, prefix=".part-")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- download -------------------------------------------------------------------------------


def _download(url: str, dest: str, http: HttpOptions) -> None:
    """Downloads `url` to `dest` atomically; components/ingest/fetch.py says what is
    retried (connections, timeouts, broken bodies, 429 and 5xx) and what is not (4xx, TLS)."""
    try:
        written = fetch.download(url, dest, http)
    except fetch.RemoteError as e:
        if e.status is not None and not e.environmental:
            raise CheckpointError(
                f"checkpoint URL {url} answered HTTP {e.status}; expected a MoViNet .tar.gz "
                "(e.g. Model Garden's movinet_a0_base.tar.gz); check the URL"
            ) from e
        raise CheckpointError(
            e.message(
                "download checkpoint",
                "check the URL and the network, or download the .tar.gz and pass its local path",
            )
        ) from e
    logging.info("downloaded checkpoint %s (%d bytes)", url, written)


# --- safe extraction ----------------------------------------------------------------------


def _extract_cached(archive: str, dest: str, spec: str, discard: str | None = None) -> None:
    """Extracts `archive` into the folder `dest` atomically: it appears whole or not at all.

    `discard` (a fetched copy of the archive) is removed when the archive proves corrupt
    or unsafe, so that the next attempt fetches it again instead of failing from cache.
    """
    try:
        with _staging(os.path.dirname(dest)) as tmp:
            _extract_safely(archive, tmp, spec)
            try:
                os.rename(tmp, dest)
            except OSError:
                if not os.path.isdir(dest):  # else another process extracted it first
                    raise
    except CheckpointError:
        if discard is not None and os.path.isdir(discard):
            shutil.rmtree(discard)
        elif discard is not None and os.path.exists(discard):
            os.remove(discard)
        raise


def _extract_safely(archive: str, dest: str, spec: str) -> None:
    """Writes the files of a tar archive under `dest` after checking every member.

    Only regular files and folders are accepted; one unsafe member refuses the whole
    archive before anything is written.
    """
    root = os.path.realpath(dest)
    # A truncated gzip stream raises EOFError, a damaged one BadGzipFile or zlib.error.
    readable = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            _check_fully_read(tar, spec)
            planned = []
            for member in members:
                parts = fetch.safe_member_parts(member.name)
                if parts == [] and member.isdir():
                    continue  # the archive's root folder itself ("." or "./")
                target = os.path.realpath(os.path.join(root, *parts)) if parts else ""
                kind_ok = member.isfile() or member.isdir()
                if not kind_ok or not target.startswith(root + os.sep):
                    raise CheckpointError(
                        f"archive {spec!r} has an unsafe member {member.name!r} "
                        f"({_member_kind(member)}); refused: expected only regular files "
                        "and folders with relative paths inside the archive; nothing was "
                        "extracted; get the checkpoint from a trusted source"
                    )
                planned.append((member, target))
            for member, target in planned:
                if member.isdir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
    except readable as e:
        raise CheckpointError(
            f"cannot read checkpoint archive {spec!r}: {type(e).__name__}: {short_error(e)}; "
            "expected an intact .tar.gz (a download may have been cut short); download it again"
        ) from e


def _check_fully_read(tar: tarfile.TarFile, spec: str) -> None:
    """Refuses an archive whose member list ended early or whose gzip checksum fails.

    tarfile ends the member list quietly at the first damaged header after the first,
    and checks the gzip CRC only at the end of the stream, which listing never reaches.
    Past the last member only zero padding may follow; reading it to the end checks the CRC.
    """
    tar.fileobj.seek(tar.offset)
    while chunk := tar.fileobj.read(_CHUNK):
        if chunk.strip(b"\0"):
            raise CheckpointError(
                f"cannot read checkpoint archive {spec!r}: a damaged header at byte "
                f"{tar.offset} ends the member list early; expected an intact .tar.gz; "
                "download it again"
            )


def short_error(error: Exception, limit: int = 200) -> str:
    """The first line of an error's text: TensorFlow's and tarfile's can run to pages."""
    lines = str(getattr(error, "message", error)).strip().splitlines() or [""]
    return lines[0].rstrip(":")[:limit]


def _member_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "FIFO"
    if member.isfile() or member.isdir():
        return "path outside the archive's folder"
    return f"tar type {member.type!r}"
