"""The serving directory's layout: `<serving_dir>/<version>/saved_model.pb`.

TFX's Pusher (filesystem destination) writes each blessed model to a new
numbered version folder under its base directory (the version is the push time
in seconds), and TensorFlow Serving serves the highest number. These functions
read that layout through tf.io.gfile, so `gs://` works as a local path does.
"""

from __future__ import annotations

import os

import tensorflow as tf

SAVED_MODEL_FILE = "saved_model.pb"
# Where a TFX Model artifact keeps its SavedModel (tfx/utils/path_utils.py,
# serving_model_dir): the Trainer's output and ServedModel's copy alike.
SERVING_SUBDIR = "Format-Serving"


def is_saved_model(path: str) -> bool:
    """Whether `path` is a SavedModel directory (holds saved_model.pb)."""
    return tf.io.gfile.exists(os.path.join(path, SAVED_MODEL_FILE))


def newest_version(serving_dir: str) -> tuple[int, str] | None:
    """(version, path) of the highest numbered SavedModel under `serving_dir`.

    Folders that are not numbers, or that hold no saved_model.pb (a push that
    did not finish), are skipped. None when `serving_dir` is missing or holds no
    version.
    """
    if not tf.io.gfile.isdir(serving_dir):
        return None
    versions = []
    for name in tf.io.gfile.listdir(serving_dir):
        name = name.rstrip("/")
        path = os.path.join(serving_dir, name)
        if name.isdigit() and is_saved_model(path):
            versions.append((int(name), path))
    return max(versions) if versions else None


def artifact_model_dir(model_uri: str) -> str:
    """The SavedModel folder inside a TFX Model artifact's URI."""
    return os.path.join(model_uri, SERVING_SUBDIR)


def artifact_holds_model(model_uri: str) -> bool:
    """Whether a Model artifact holds a SavedModel: ServedModel's output is empty
    when nothing was served yet."""
    return is_saved_model(artifact_model_dir(model_uri))


def same_model(first: str, second: str) -> bool:
    """Whether two SavedModel folders hold the same files, byte for byte.

    A pushed version is a copy of the Trainer's export, so a model pushed before
    compares equal to its source. Training is deterministic (trainer/determinism.py):
    the same config on the same records exports the same model, which is then the
    one already served; other records or settings change the variables.
    """
    return _digests(first) == _digests(second)


def _digests(folder: str) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder`."""
    import hashlib

    digests = {}
    for root, _, files in tf.io.gfile.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            digest = hashlib.sha256()
            with tf.io.gfile.GFile(path, "rb") as f:
                for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(chunk)
            digests[os.path.relpath(path, folder)] = digest.hexdigest()
    return digests
