"""Per-step learning rates and per-epoch progress lines for `model.fit`."""

from __future__ import annotations

import math
import time

import tensorflow as tf
import tf_keras
from absl import logging

from trainer.config import TrainerConfig


class WarmupCosine(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ~0 to `base` over `warmup_steps`, then constant or a
    cosine decay to 0 at `total_steps`.

    From random weights, Adam's first steps at the full rate (before its moment
    estimates settle, with BatchNorm statistics still moving) threw the demo's
    network into a state it took ~20 epochs to leave; warming up avoids it.
    """

    def __init__(self, base: float, warmup_steps: int, total_steps: int, cosine: bool):
        super().__init__()
        self.base, self.cosine = float(base), bool(cosine)
        self.warmup_steps, self.total_steps = max(0, int(warmup_steps)), max(1, int(total_steps))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        rate = tf.constant(self.base, tf.float32)
        if self.warmup_steps:
            rate *= tf.minimum(1.0, (step + 1.0) / self.warmup_steps)
        if self.cosine:
            progress = tf.minimum(1.0, step / self.total_steps)
            rate *= 0.5 * (1.0 + tf.cos(math.pi * progress))
        return rate

    def get_config(self) -> dict:
        return {
            "base": self.base,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "cosine": self.cosine,
        }


class EpochLog(tf_keras.callbacks.Callback):
    """Logs one INFO line per epoch: `epoch N/M: loss ... (S s)`, which the
    pipeline's console shows every 10% of the epochs (pipeline/progress.py)."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self._start = time.monotonic()

    def on_train_begin(self, logs=None):
        self._start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        metrics = "  ".join(f"{k} {float(v):.3f}" for k, v in (logs or {}).items() if k != "lr")
        logging.info(
            "epoch %d/%d: %s (%.0f s)",
            epoch + 1,
            self.epochs,
            metrics,
            time.monotonic() - self._start,
        )


def lr_schedule_callback(config: TrainerConfig):
    """The learning-rate schedule as a Keras callback (None for a constant rate)."""
    if config.lr_schedule == "constant":
        return None

    def cosine(epoch, _):
        return 0.5 * config.learning_rate * (1.0 + math.cos(math.pi * epoch / config.epochs))

    return tf_keras.callbacks.LearningRateScheduler(cosine)
