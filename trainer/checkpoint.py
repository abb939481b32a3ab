"""Pretrained MoViNet checkpoints: find one (folder, prefix, .tar.gz, URL, gs://), restore it.

Model Garden publishes each checkpoint as `movinet_<id>_<variant>.tar.gz`, which
extracts to `movinet_<id>_<variant>/` holding `checkpoint`, `ckpt-1.index` and
`ckpt-1.data-00000-of-00001`: a `tf.train.Checkpoint(model=MovinetClassifier)` of a
600-class Kinetics classifier. `resolve_checkpoint` turns any of the accepted
sources into a local checkpoint prefix (downloads and extractions are cached, so a
rerun fetches nothing); `restore_pretrained` restores it into the matching
architecture and returns the backbone.

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
from trainer.architecture import KINETICS_CLASSES, MovinetArch, build_backbone, build_classifier

_ACCEPTED = (
    "a checkpoint folder (holding `checkpoint` and `ckpt-N.index`), a checkpoint prefix, "
    "a .tar.gz archive of one, an http(s) URL of such an archive or a gs:// path"
)
_CHUNK = 1 << 20
_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"  # the suffix of a variable's checkpoint key


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
            f"cannot read checkpoint archive {spec!r}: {type(e).__name__}: {_short(e)}; "
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


def _short(error: Exception, limit: int = 200) -> str:
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


# --- restore --------------------------------------------------------------------------------


def build_kinetics_classifier(arch: MovinetArch, num_classes: int = KINETICS_CLASSES):
    """(backbone, classifier) of `arch`, the classifier in the shape of Model Garden's."""
    backbone = build_backbone(arch)
    return backbone, build_classifier(backbone, arch, num_classes)


def restore_pretrained(arch: MovinetArch, checkpoint_prefix: str):
    """The backbone of `arch` (a tf_keras Model) with the checkpoint's weights restored.

    Raises CheckpointError when the checkpoint does not fit `arch` exactly (every
    variable of the 600-class classifier must be matched).
    """
    import tensorflow as tf

    found = _checkpoint_shapes(checkpoint_prefix)
    backbone, classifier = build_kinetics_classifier(arch)
    root = tf.train.Checkpoint(model=classifier)
    expected = _variable_shapes(root)
    # Compared before restoring: a restore that fails half way has already assigned the
    # variables it matched, and TF logs every value it left over.
    missing = sorted(k for k in expected if k not in found)
    reshaped = sorted(k for k in expected if k in found and found[k] != expected[k])
    if missing or reshaped:
        diff = _describe_diff(expected, found, missing, reshaped)
        raise _mismatch(checkpoint_prefix, arch, found, len(expected), diff)
    status = None
    try:
        status = root.restore(checkpoint_prefix)
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, IndexError) as e:  # read whole above: changed since
        raise CheckpointError(
            f"cannot read the values of checkpoint {checkpoint_prefix!r}: {_short(e)}; "
            "expected intact .data-* files beside the .index (a copy or download may have "
            "been cut short); fetch the checkpoint again"
        ) from e
    except (AssertionError, ValueError) as e:
        if status is not None:
            status.expect_partial()
        diff = f"TensorFlow said: {_short(e)}"
        raise _mismatch(checkpoint_prefix, arch, found, len(expected), diff) from e
    status.expect_partial()  # e.g. the checkpoint's save_counter: not part of the model
    logging.info("restored %s from %s", arch.checkpoint_name, checkpoint_prefix)
    return backbone


def _checkpoint_shapes(prefix: str) -> dict[str, list[int]]:
    """Checkpoint key -> shape of every variable saved under `prefix`, all values read.

    Reading every value first (checksums included) reports a damaged or truncated data
    file before the slow model build, and as what it is rather than as a mismatch.
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(
            f"cannot read a checkpoint at prefix {prefix!r}: {_short(e)}; expected "
            f"{prefix}.index and {prefix}.data-* files; pass the prefix resolve_checkpoint "
            "returns"
        ) from e
    shapes = reader.get_variable_to_shape_map()
    for key in shapes:
        try:
            reader.get_tensor(key)
        # A short data file surfaces as IndexError ("Read less bytes than requested").
        except (tf.errors.OpError, IndexError, ValueError) as e:
            raise CheckpointError(
                f"cannot read the values of checkpoint {prefix!r} ({key}: {_short(e)}); "
                "expected intact .data-* files beside the .index (a copy or download may "
                "have been cut short); fetch the checkpoint again"
            ) from e
    return shapes


def _variable_shapes(root) -> dict[str, list[int]]:
    """Checkpoint key -> shape of every variable `root` would save.

    Keys are the object paths a checkpoint uses: each object's first path in a
    breadth-first walk, as TF's saver names them.
    """
    import tensorflow as tf

    view = tf.train.TrackableView(root)
    shapes, queue, seen = {}, [(root, ())], {id(root)}
    while queue:
        obj, path = queue.pop(0)
        if isinstance(obj, tf.Variable):
            shapes["/".join(path) + _VALUE] = obj.shape.as_list()
        for name, child in view.children(obj).items():
            if id(child) not in seen:
                seen.add(id(child))
                queue.append((child, (*path, name)))
    return shapes


def _describe_diff(expected, found, missing: list[str], reshaped: list[str]) -> str:
    parts = []
    if missing:
        parts.append(
            f"{len(missing)} of the {len(expected)} variables are not in the checkpoint "
            f"(e.g. {_key(missing[0])})"
        )
    if reshaped:
        k = reshaped[0]
        parts.append(
            f"{len(reshaped)} have another shape (e.g. {_key(k)}: {found[k]} in the "
            f"checkpoint, {expected[k]} in the model)"
        )
    return "; ".join(parts)


def _key(key: str) -> str:
    return key.removesuffix(_VALUE).removeprefix("model/")


def _mismatch(prefix: str, arch: MovinetArch, found, expected_count: int, diff: str):
    return CheckpointError(
        f"checkpoint {prefix!r} does not fit the {arch.checkpoint_name} architecture "
        f"(expected Model Garden's {arch.checkpoint_name} checkpoint): "
        f"{_likely_cause(found, arch, expected_count)}. {diff}"
    )


def _likely_cause(found: dict[str, list[int]], arch: MovinetArch, expected_count: int) -> str:
    """A guess at why a checkpoint does not fit, from its variable names and shapes."""
    shapes = {n: s for n, s in found.items() if n.startswith("model/")}
    if not shapes:
        return (
            "it holds no `model` variables, so it was not saved as "
            "tf.train.Checkpoint(model=...) like Model Garden's MoViNet checkpoints"
        )
    heads = [s for n, s in shapes.items() if "/_classifier/" in n and "kernel" in n]
    if heads and heads[0][-1] != KINETICS_CLASSES:
        return (
            f"it is a {heads[0][-1]}-class classifier, not a {KINETICS_CLASSES}-class "
            "Kinetics one (a fine-tuned model?); pass Model Garden's pretrained checkpoint"
        )
    # (2+1)D convolutions nest a second conv layer: `_stem/_conv/_conv/kernel`.
    stream_like = any("/_stem/_conv/_conv/" in n for n in shapes)
    if stream_like != arch.causal:
        kind = "stream" if stream_like else "base"
        return (
            f"it looks like a {kind} checkpoint and the {arch.variant} architecture was asked "
            f"for; use movinet_{arch.model_id}_{arch.variant}, or set the variant to {kind}"
        )
    return (
        f"it holds {len(shapes)} model variables where {arch.checkpoint_name} has "
        f"{expected_count}: it is likely another model id; use the "
        f"{arch.checkpoint_name} checkpoint or set the model id to the checkpoint's"
    )
