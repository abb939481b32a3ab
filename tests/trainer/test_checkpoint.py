"""Tests of trainer/checkpoint.py and trainer/restore.py: resolving folders, prefixes,
archives, URLs and gfile paths (served on 127.0.0.1), safe extraction, and restoring
checkpoints written here in Model Garden's layout
(`movinet_<id>_<variant>/checkpoint, ckpt-1.index, ckpt-1.data-*`)."""

from __future__ import annotations

import filecmp
import io
import os
import shutil
import tarfile
import time
import types

import numpy as np
import pytest
import tensorflow as tf

from components.fetch import HttpOptions
from tests.fakes.http_server import closed_port_url, serve_folder
from tests.fakes.tls import self_signed_certificate
from trainer import checkpoint, restore
from trainer.architecture import arch_for
from trainer.checkpoint import CheckpointError, resolve_checkpoint
from trainer.restore import restore_pretrained

FAST = HttpOptions(retries=2, backoff_s=0.01, timeout_s=10.0)
CKPT_FILES = ("checkpoint", "ckpt-1.index", "ckpt-1.data-00000-of-00001")


def save_garden_checkpoint(root, name: str, **objects) -> str:
    """Saves tf.train.Checkpoint(**objects) as Model Garden does: root/name/ckpt-1 + state."""
    folder = os.path.join(str(root), name)
    tf.train.Checkpoint(**objects).save(os.path.join(folder, "ckpt"))
    assert sorted(os.listdir(folder)) == sorted(CKPT_FILES)
    return folder


def pack(folder: str, archive: str) -> str:
    """A .tar.gz holding `folder` under its own name, as Model Garden's archives do."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=os.path.basename(folder))
    return archive


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_special(tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    tar.addfile(info)


def files_under(root) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


def assert_same_checkpoint(prefix: str, folder: str) -> None:
    """The resolved prefix's files are byte-identical to the saved checkpoint's."""
    assert os.path.basename(prefix) == "ckpt-1"
    for name in CKPT_FILES[1:]:
        assert filecmp.cmp(
            os.path.join(os.path.dirname(prefix), name), os.path.join(folder, name), shallow=False
        )


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A one-variable checkpoint in Model Garden's layout, its .tar.gz, and a server of it."""
    root = tmp_path_factory.mktemp("tiny")
    folder = save_garden_checkpoint(root / "src", "movinet_a0_base", v=tf.Variable([1.0, 2.0]))
    served = root / "served"
    served.mkdir()
    archive = pack(folder, str(served / "movinet_a0_base.tar.gz"))
    with serve_folder(served) as server:
        yield types.SimpleNamespace(folder=folder, archive=archive, served=served, server=server)


@pytest.fixture
def server(tiny):
    tiny.server.clear_faults()
    tiny.server.reset_counters()
    return tiny.server


def _randomized_checkpoint(root, arch, seed: int):
    """Saves a classifier of `arch` with random weights (initializers leave many equal)."""
    backbone, classifier = restore.build_kinetics_classifier(arch)
    rng = np.random.default_rng(seed)
    for v in classifier.variables:
        v.assign(rng.uniform(0.5, 1.5, v.shape).astype(v.dtype.as_numpy_dtype))
    folder = save_garden_checkpoint(root, arch.checkpoint_name, model=classifier)
    return folder, backbone.get_weights()


@pytest.fixture(scope="module")
def a0_base(tmp_path_factory):
    """A real movinet_a0_base checkpoint (random weights): folder, served archive, weights."""
    root = tmp_path_factory.mktemp("a0_base")
    folder, weights = _randomized_checkpoint(root / "src", arch_for("a0", "base"), seed=0)
    served = root / "served"
    served.mkdir()
    archive = pack(folder, str(served / "movinet_a0_base.tar.gz"))
    with serve_folder(served) as server:
        yield types.SimpleNamespace(folder=folder, archive=archive, weights=weights, server=server)


@pytest.fixture(scope="module")
def a0_stream(tmp_path_factory):
    root = tmp_path_factory.mktemp("a0_stream")
    folder, weights = _randomized_checkpoint(root, arch_for("a0", "stream"), seed=1)
    return types.SimpleNamespace(folder=folder, weights=weights)


# --- resolve: local sources ---------------------------------------------------------------


def test_folder_resolves_to_the_prefix_its_state_file_names(tiny, tmp_path):
    prefix = resolve_checkpoint(tiny.folder, str(tmp_path / "cache"))
    assert prefix == os.path.join(tiny.folder, "ckpt-1")
    assert not (tmp_path / "cache").exists()  # local folders are used in place


def test_prefix_and_index_path_resolve_to_the_prefix(tiny, tmp_path):
    prefix = os.path.join(tiny.folder, "ckpt-1")
    assert resolve_checkpoint(prefix, str(tmp_path)) == prefix
    assert resolve_checkpoint(prefix + ".index", str(tmp_path)) == prefix


@pytest.mark.parametrize("state", ["none", "other_machine", "outside_folder"])
def test_folder_without_usable_state_file_uses_its_lone_index(tiny, tmp_path, state):
    folder = shutil.copytree(tiny.folder, tmp_path / "copy")
    os.remove(folder / "checkpoint")
    # A state file written on another machine, or naming a checkpoint outside the folder.
    elsewhere = {"other_machine": "/elsewhere/run7", "outside_folder": tiny.folder}
    if state in elsewhere:
        (folder / "checkpoint").write_text(f'model_checkpoint_path: "{elsewhere[state]}/ckpt-1"\n')
    assert resolve_checkpoint(str(folder), str(tmp_path / "cache")) == str(folder / "ckpt-1")


def test_folder_with_several_indexes_and_no_state_asks_for_a_prefix(tiny, tmp_path):
    folder = shutil.copytree(tiny.folder, tmp_path / "copy")
    os.remove(folder / "checkpoint")
    for name in CKPT_FILES[1:]:
        shutil.copy(folder / name, folder / name.replace("ckpt-1", "ckpt-2"))
    with pytest.raises(CheckpointError, match=r"several checkpoints .*pass the prefix"):
        resolve_checkpoint(str(folder), str(tmp_path / "cache"))


def test_index_without_data_file_is_an_error(tiny, tmp_path):
    folder = shutil.copytree(tiny.folder, tmp_path / "copy")
    os.remove(folder / "ckpt-1.data-00000-of-00001")
    with pytest.raises(CheckpointError, match=r"data-\* files are missing"):
        resolve_checkpoint(str(folder), str(tmp_path / "cache"))


def test_missing_path_names_it_and_what_is_accepted(tmp_path):
    missing = str(tmp_path / "nope" / "movinet_a0_base.tar.gz")
    with pytest.raises(CheckpointError, match="does not exist") as e:
        resolve_checkpoint(missing, str(tmp_path / "cache"))
    assert missing in str(e.value) and "tar.gz" in str(e.value) and "URL" in str(e.value)


def test_local_archive_is_extracted_once(tiny, tmp_path, monkeypatch):
    cache = str(tmp_path / "cache")
    prefix = resolve_checkpoint(tiny.archive, cache)
    assert prefix.startswith(cache + os.sep)
    assert_same_checkpoint(prefix, tiny.folder)

    def no_second_extraction(*args):
        raise AssertionError("extracted again")

    monkeypatch.setattr(checkpoint, "_extract_safely", no_second_extraction)
    assert resolve_checkpoint(tiny.archive, cache) == prefix


def test_archive_of_dot_relative_members_is_accepted(tiny, tmp_path):
    archive = str(tmp_path / "dot.tgz")
    with tarfile.open(archive, "w:gz") as tar:  # as `tar -C src -czf dot.tgz .` writes
        tar.add(os.path.dirname(tiny.folder), arcname=".")
    prefix = resolve_checkpoint(archive, str(tmp_path / "cache"))
    assert_same_checkpoint(prefix, tiny.folder)


# --- resolve: archives that must be refused -----------------------------------------------


def _archive_bytes(tiny) -> bytes:
    with open(tiny.archive, "rb") as f:
        return f.read()


@pytest.mark.parametrize("damage", ["random_bytes", "truncated", "flipped_byte"])
def test_corrupt_archive_is_an_error_and_leaves_no_extraction(tiny, tmp_path, damage):
    data = _archive_bytes(tiny)
    if damage == "random_bytes":
        data = np.random.default_rng(0).bytes(4096)
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        middle = len(data) // 2
        data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
    archive = tmp_path / "movinet_a0_base.tar.gz"
    archive.write_bytes(data)
    cache = tmp_path / "cache"
    with pytest.raises(
        CheckpointError, match=r"cannot read checkpoint archive .*download it again"
    ):
        resolve_checkpoint(str(archive), str(cache))
    assert files_under(cache) == set()


def _unsafe_archive(tiny, path, case: str, outside) -> None:
    """A Model Garden archive plus one unsafe member aimed at `outside`."""
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tiny.folder, arcname="movinet_a0_base")
        if case == "dotdot":
            add_bytes(tar, "movinet_a0_base/../../../../outside/evil")
        elif case == "absolute":
            add_bytes(tar, str(outside / "evil"))
        elif case == "symlink":  # a link out, then a file written through it
            add_special(tar, "movinet_a0_base/escape", tarfile.SYMTYPE, str(outside))
            add_bytes(tar, "movinet_a0_base/escape/evil")
        elif case == "hardlink":
            add_special(tar, "movinet_a0_base/evil", tarfile.LNKTYPE, "/etc/passwd")
        elif case == "device":
            add_special(tar, "movinet_a0_base/evil", tarfile.CHRTYPE)


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_unsafe_member_refuses_the_archive_and_writes_nothing(tiny, tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "a" / "movinet_a0_base.tar.gz"
    archive.parent.mkdir()
    _unsafe_archive(tiny, str(archive), case, outside)
    cache = tmp_path / "cache"  # extraction runs in cache/<key>/.part-*: 4 levels below tmp_path
    with pytest.raises(CheckpointError, match=r"unsafe member .*refused.*nothing was extracted"):
        resolve_checkpoint(str(archive), str(cache))
    assert files_under(outside) == set()
    assert files_under(cache) == set()  # not even the safe members
    assert not [p for p in tmp_path.rglob("evil")]


def test_archive_without_checkpoint_says_what_was_expected(tmp_path):
    archive = str(tmp_path / "saved_model.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        add_bytes(tar, "movinet_a0_base/saved_model.pb", b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"holds no checkpoint: expected .*ckpt-N.index"):
        resolve_checkpoint(archive, str(tmp_path / "cache"))


def test_archive_with_two_checkpoint_folders_is_ambiguous(tiny, tmp_path):
    archive = str(tmp_path / "two.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tiny.folder, arcname="movinet_a0_base")
        tar.add(tiny.folder, arcname="movinet_a0_stream")
    with pytest.raises(CheckpointError, match="several folders"):
        resolve_checkpoint(archive, str(tmp_path / "cache"))


# --- resolve: URLs and gfile paths --------------------------------------------------------


def test_url_is_downloaded_once(tiny, server, tmp_path):
    url = server.url_for("movinet_a0_base.tar.gz")
    cache = str(tmp_path / "cache")
    prefix = resolve_checkpoint(url, cache, FAST)
    assert_same_checkpoint(prefix, tiny.folder)
    assert [r.status for r in server.requests_for("movinet_a0_base.tar.gz")] == [200]
    assert resolve_checkpoint(url, cache, FAST) == prefix
    assert len(server.log) == 1  # the rerun made no request at all


def test_download_retries_server_errors_and_broken_transfers(tiny, server, tmp_path):
    server.fail_next(2, status=503)
    server.cut_next(1, after_bytes=100, reset=False)  # a clean close after 100 bytes
    three = HttpOptions(retries=3, backoff_s=0.01, timeout_s=10.0)  # one per failure
    prefix = resolve_checkpoint(server.url_for("movinet_a0_base.tar.gz"), str(tmp_path), three)
    assert_same_checkpoint(prefix, tiny.folder)
    assert [r.status for r in server.log] == [503, 503, 200, 200]
    assert not list(tmp_path.rglob(".part-*"))


def test_unreachable_url_names_the_url(tmp_path):
    url = closed_port_url("movinet_a0_base.tar.gz")
    with pytest.raises(CheckpointError, match="cannot download checkpoint") as e:
        resolve_checkpoint(url, str(tmp_path), HttpOptions(retries=1, backoff_s=0.01))
    assert url in str(e.value) and "connection refused (after 1 retry)" in str(e.value)


def test_https_url_with_a_certificate_that_does_not_verify_fails_at_once(
    tiny, tmp_path, monkeypatch
):
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(variable, raising=False)
    cert = self_signed_certificate(tmp_path / "tls")
    with serve_folder(tiny.served, tls=cert.server_context()) as server:
        url = server.url_for("movinet_a0_base.tar.gz")
        slow = HttpOptions(retries=3, backoff_s=1.0, timeout_s=10.0)
        start = time.monotonic()
        with pytest.raises(CheckpointError) as e:
            resolve_checkpoint(url, str(tmp_path / "cache"), slow)
        assert time.monotonic() - start < slow.backoff_s  # not retried
        message = str(e.value)
        assert message.startswith(f"cannot download checkpoint {url}: the TLS certificate")
        assert "if you trust 127.0.0.1" in message and "REQUESTS_CA_BUNDLE" in message
        assert "retr" not in message and server.log == []
        # The fix the message gives works.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert.cert_path)
        prefix = resolve_checkpoint(url, str(tmp_path / "cache"), slow)
        assert_same_checkpoint(prefix, tiny.folder)


def test_url_answering_404_names_the_url_and_status(server, tmp_path):
    url = server.url_for("movinet_a9_base.tar.gz")
    with pytest.raises(CheckpointError, match="answered HTTP 404") as e:
        resolve_checkpoint(url, str(tmp_path), FAST)
    assert url in str(e.value)
    assert len(server.log) == 1  # a 4xx is not retried


def test_corrupt_download_is_discarded_and_fetched_again(tiny, server, tmp_path):
    bad = tiny.served / "bad.tar.gz"
    bad.write_bytes(_archive_bytes(tiny)[:300])
    url = server.url_for("bad.tar.gz")
    with pytest.raises(CheckpointError, match="cannot read checkpoint archive"):
        resolve_checkpoint(url, str(tmp_path), FAST)
    assert files_under(tmp_path) == set()  # the bad download is not kept
    shutil.copy(tiny.archive, bad)  # the host fixes the file
    assert_same_checkpoint(resolve_checkpoint(url, str(tmp_path), FAST), tiny.folder)
    assert len(server.requests_for("bad.tar.gz")) == 2


@pytest.mark.parametrize("form", ["folder", "archive"])
def test_gfile_path_is_copied_once(tiny, tmp_path, form):
    # TF's in-memory ram:// filesystem stands in for gs://: both go through tf.io.gfile.
    remote = f"ram://ckpts-{form}"
    tf.io.gfile.makedirs(remote)
    if form == "folder":
        for name in CKPT_FILES:
            tf.io.gfile.copy(os.path.join(tiny.folder, name), f"{remote}/{name}", overwrite=True)
    else:
        tf.io.gfile.copy(tiny.archive, f"{remote}/movinet_a0_base.tar.gz", overwrite=True)
        remote += "/movinet_a0_base.tar.gz"
    cache = str(tmp_path / "cache")
    prefix = resolve_checkpoint(remote, cache)
    assert_same_checkpoint(prefix, tiny.folder)
    tf.io.gfile.rmtree(remote) if form == "folder" else tf.io.gfile.remove(remote)
    assert resolve_checkpoint(remote, cache) == prefix  # served from the cache


def test_missing_gfile_path_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="ram://nowhere/x.tar.gz.* does not exist"):
        resolve_checkpoint("ram://nowhere/x.tar.gz", str(tmp_path))


# --- restore ------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["folder", "archive", "url"])
def test_restores_the_saved_weights(a0_base, tmp_path, source):
    spec = {
        "folder": a0_base.folder,
        "archive": a0_base.archive,
        "url": a0_base.server.url_for("movinet_a0_base.tar.gz"),
    }[source]
    prefix = resolve_checkpoint(spec, str(tmp_path / "cache"), FAST)
    backbone = restore_pretrained(arch_for("a0", "base"), prefix)
    restored = backbone.get_weights()
    assert len(restored) == len(a0_base.weights) > 300
    for got, want in zip(restored, a0_base.weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_restores_a_stream_checkpoint_into_the_causal_backbone(a0_stream):
    backbone = restore_pretrained(
        arch_for("a0", "stream"), os.path.join(a0_stream.folder, "ckpt-1")
    )
    assert backbone.get_config()["causal"] is True
    for got, want in zip(backbone.get_weights(), a0_stream.weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_stream_checkpoint_into_base_architecture_is_refused(a0_stream):
    prefix = os.path.join(a0_stream.folder, "ckpt-1")
    with pytest.raises(CheckpointError) as e:
        restore_pretrained(arch_for("a0", "base"), prefix)
    message = str(e.value)
    assert prefix in message and "expected Model Garden's movinet_a0_base checkpoint" in message
    assert "looks like a stream checkpoint" in message and "not in the checkpoint" in message
    assert len(message) < 1000  # TensorFlow's long list of unmatched objects is cut


def test_a0_checkpoint_into_a1_architecture_is_refused(a0_base):
    prefix = os.path.join(a0_base.folder, "ckpt-1")
    with pytest.raises(CheckpointError) as e:
        restore_pretrained(arch_for("a1", "base"), prefix)
    message = str(e.value)
    assert "expected Model Garden's movinet_a1_base checkpoint" in message
    assert "likely another model id" in message and "another shape" in message


@pytest.mark.parametrize("damage", ["truncated", "flipped_byte"])
def test_damaged_data_file_is_an_error_not_a_mismatch(tiny, tmp_path, monkeypatch, damage):
    folder = shutil.copytree(tiny.folder, tmp_path / "movinet_a0_base")
    data_file = folder / "ckpt-1.data-00000-of-00001"
    data = data_file.read_bytes()  # the index still lists every variable
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = data[:2] + bytes([data[2] ^ 0xFF]) + data[3:]  # inside the variable `v`
    data_file.write_bytes(data)
    monkeypatch.setattr(restore, "build_kinetics_classifier", None)  # fails before a build
    with pytest.raises(CheckpointError, match=r"cannot read the values .*fetch the checkpoint"):
        restore_pretrained(arch_for("a0", "base"), str(folder / "ckpt-1"))


def test_restore_of_a_missing_prefix_is_an_error(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read a checkpoint at prefix"):
        restore_pretrained(arch_for("a0", "base"), str(tmp_path / "ckpt-1"))


@pytest.mark.parametrize(
    "objects, cause",
    [
        ({"model": tf.Module()}, "holds no `model` variables"),
        ({"net": tf.Variable(1.0)}, "holds no `model` variables"),
        ({"classes": 10}, "is a 10-class classifier, not a 600-class Kinetics one"),
    ],
)
def test_likely_cause_is_read_from_the_checkpoint_variables(tmp_path, objects, cause):
    # Each cause costs a model build through restore_pretrained; the guess itself reads
    # only the checkpoint, so it is checked directly on small checkpoints of that shape.
    if "classes" in objects:
        model = tf.Module()
        model._classifier = tf.Module()
        model._classifier._conv = tf.Module()
        model._classifier._conv.kernel = tf.Variable(tf.zeros([1, 1, 1, 8, objects["classes"]]))
        objects = {"model": model}
    folder = save_garden_checkpoint(tmp_path, "movinet_a0_base", **objects)
    found = dict(tf.train.list_variables(os.path.join(folder, "ckpt-1")))
    guess = restore._likely_cause(found, arch_for("a0", "base"), expected_count=334)
    assert cause in guess
