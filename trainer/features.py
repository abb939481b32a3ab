"""Frozen-backbone fine-tuning on cached features.

With the backbone frozen (BatchNorm in inference mode) and the temporal windows
fixed once drawn, the backbone's pooled output is a pure function of the clip:
compute it once per clip view, then train the head on those features. An epoch
then costs a pass over a [N, C] matrix instead of N backbone forwards.
`tests/trainer/test_features.py` shows the head comes out the same as when training
through the frozen backbone.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf
import tf_keras
from absl import logging

from trainer.architecture import MovinetArch
from trainer.config import TrainerConfig
from trainer.model import backbone_features
from trainer.optimization import compile_classifier


def feature_function(backbone, arch: MovinetArch, window: int | None, resolution: int | None):
    """The backbone's pooled features of batches of videos' views, traced once.

    One `tf.function` with a fixed input signature serves every call (train and
    eval views, full and last partial batches): A0's graph takes seconds to trace,
    and a function per call, retraced for each new batch shape, traced it three
    times in a frozen fine-tune.

    Args:
      window, resolution: the clips' frames and square size (None: any).
    Returns:
      A function: clips float32 [B, V, window, resolution, resolution, 3] ->
      features float32 [B, V, C] (C = 480 for A0).
    """
    spec = tf.TensorSpec([None, None, window, resolution, resolution, 3], tf.float32)

    @tf.function(input_signature=[spec], autograph=False)
    def forward(clips):
        shape = tf.shape(clips)
        flat = tf.reshape(clips, tf.concat([[-1], shape[2:]], 0))
        features = backbone_features(backbone, arch, flat)
        return tf.reshape(features, [shape[0], shape[1], -1])

    return forward


def extract_features(
    backbone,
    arch: MovinetArch,
    dataset: tf.data.Dataset,
    clips_per_call: int,
    name: str = "",
    forward=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Backbone features of every view of every video.

    Each call of `forward` gets the same number of videos, `clips_per_call // V` (at
    least 1), the last batch padded with blank videos whose features are dropped: the
    fast 3D path's XLA clusters compile once per input shape (~0.3 s each on 2 cores),
    and a new shape for the last batch and another for each split cost a
    frozen fine-tune ~0.6 s of compiles; train and eval views then make one shape
    where V divides `clips_per_call`.

    Args:
      dataset: (clips [V, T, H, W, 3] float32, label int32) per video (see
        `input.clips_dataset`); V static (if not, `clips_per_call` videos a call).
      clips_per_call: clips per forward call (views x videos), e.g. the batch size
        times the training views.
      forward: `feature_function(backbone, arch, ...)`, to share one trace between
        calls (default: a new one, traced for any clip shape).
    Returns:
      (features [N, V, C] float32, labels [N] int32).
    Raises:
      ValueError: the dataset holds no video.
    """
    forward = forward or feature_function(backbone, arch, None, None)
    views = dataset.element_spec[0].shape[0] or 1  # unknown: a video per clip asked
    videos = max(1, clips_per_call // views)
    features, labels = [], []
    start, done = time.monotonic(), 0
    for clips, label in dataset.batch(videos).prefetch(2):
        real = int(label.shape[0])
        if real < videos:  # blank videos up to the calls' shape
            clips = tf.concat([clips, tf.zeros([videos - real, *clips.shape[1:]], clips.dtype)], 0)
        features.append(forward(clips).numpy()[:real])
        labels.append(label.numpy())
        done += real
        logging.info("%s features: %d videos (%.1f s)", name, done, time.monotonic() - start)
    if not features:
        raise ValueError(f"no {name} videos to extract features from")
    return np.concatenate(features).astype(np.float32), np.concatenate(labels).astype(np.int32)


def view_dataset(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    batch_size: int,
    shuffle_seed: int | None,
) -> tf.data.Dataset:
    """Every view as its own example: ([C], one-hot label)."""
    views = features.shape[1]
    x = features.reshape(-1, features.shape[-1])
    y = tf_keras.utils.to_categorical(np.repeat(labels, views), num_classes)
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def train_head(
    head: tf_keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray],
    config: TrainerConfig,
    num_classes: int,
    callbacks: list | None = None,
) -> dict:
    """Fits the head on cached features; returns the per-epoch history and the
    single-clip and multi-clip (views averaged) eval accuracy."""
    compile_classifier(head, config)
    history = head.fit(
        view_dataset(*train, num_classes, config.batch_size, config.seed),
        validation_data=view_dataset(*evaluation, num_classes, config.batch_size, None),
        epochs=config.epochs,
        callbacks=callbacks or [],
        verbose=2,
    )
    eval_x, eval_y = evaluation
    # One call of the head on every view ([N * views, C] floats: ~22 MB for UCF101's
    # eval split): `predict` traced a function for it, ~0.3 s of a 1.5 s fit.
    probabilities = tf.nn.softmax(head(eval_x.reshape(-1, eval_x.shape[-1]), training=False))
    probabilities = np.asarray(probabilities).reshape(eval_x.shape[0], eval_x.shape[1], -1)
    return training_summary(history, probabilities, eval_y)


def training_summary(history, probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Per-epoch history and eval accuracy from per-view probabilities [N, views, K]:
    single-clip (each view alone) and multi-clip (views averaged)."""
    return {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "eval_single_clip_accuracy": float(np.mean(probabilities.argmax(-1) == labels[:, None])),
        "eval_multi_clip_accuracy": float(np.mean(probabilities.mean(1).argmax(-1) == labels)),
    }
