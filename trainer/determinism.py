"""Reproducible training on one machine: seeds and TensorFlow's op determinism.

The same config on the same records then gives the same weights, run after run
(`tests/trainer/test_determinism.py`). Op determinism picks deterministic kernels (on
CPU: fixed reduction orders) and makes an op without one raise instead of
silently varying. What it costs in speed is measured by `python -m bench.demo
--determinism-cost` (README); on GPU, an op without a deterministic kernel raises
instead of running, so `trainer.deterministic: false` turns it off (seeds stay).
"""

from __future__ import annotations

import hashlib

import numpy as np
import tensorflow as tf
import tf_keras


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
    """Seeds Python's `random`, NumPy and TensorFlow and turns op determinism on
    (or off, when `deterministic_ops` is false).

    Process-wide and idempotent: call it before building and training a model.
    """
    tf_keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as tf_config  # no public twin

        tf_config.disable_op_determinism()


def weights_hash(variables) -> str:
    """SHA-256 (hex) of variables' shapes, dtypes and values, in order.

    Names are left out: Keras numbers auto-named layers per process, so the same
    weights built twice in one process have other names.

    Args:
      variables: tf.Variables (e.g. `model.variables`, or a SavedModel's
        `model_variables`).
    """
    digest = hashlib.sha256()
    for variable in variables:
        value = np.ascontiguousarray(variable.numpy())
        digest.update(f"{value.shape}:{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
