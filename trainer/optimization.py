"""The optimizer and the Keras compile of every classifier the trainer fits.

(Model Garden keeps its optimizers in `official/modeling/optimization`; the
learning-rate schedules are in `schedule.py` here.)
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from trainer.config import TrainerConfig


def make_optimizer(config: TrainerConfig, learning_rate=None):
    """The config's optimizer at `learning_rate` (a rate or a schedule; default the config's).

    Keras' `legacy` optimizers (tf_keras 2.x, maintained beside the new ones): they
    update each variable with one fused kernel (`ResourceApplyAdam`, ...), where the
    new ones write ~12 ops per variable. On the demo's 2 cores, training the whole
    A0 (265 variables), that traced the train step ~8 s faster and ran each epoch
    ~1.3 s faster. Same update rule (Kingma & Ba's Adam with epsilon-hat 1e-7);
    the float rounding differs, so the weights differ in the last bits.
    """
    return {
        "adam": tf_keras.optimizers.legacy.Adam,
        "sgd": tf_keras.optimizers.legacy.SGD,
        "rmsprop": tf_keras.optimizers.legacy.RMSprop,
    }[config.optimizer](learning_rate=learning_rate or config.learning_rate)


def keras_code_unconverted() -> None:
    """Lets autograph leave tf_keras' own functions as written (process-wide, idempotent).

    Autograph never converts the `keras` package (`DoNotConvert("keras")` in
    tensorflow/python/autograph/core/config.py), and later TensorFlow has the same rule
    for its renamed copy, `tf_keras` (`DoNotConvert("tf_keras")`, same file,
    tensorflow/tensorflow at 0304934). TF 2.16 lacks it, so each process converted
    Keras' `step_function`, `reduce_per_replica` and ~30 more from their source
    when `fit` first traced: 1.4 s -> 0.9 s for the frozen fine-tune's head on 2
    cores (2026-12-07), the same losses. This adds that rule.
    """
    from tensorflow.python.autograph.core import config as autograph_config

    rules = autograph_config.CONVERSION_RULES
    if not any(str(rule) == "DoNotConvert rule for tf_keras" for rule in rules):
        autograph_config.CONVERSION_RULES = (autograph_config.DoNotConvert("tf_keras"), *rules)


def compile_classifier(model: tf_keras.Model, config: TrainerConfig, learning_rate=None) -> None:
    """Cross-entropy on logits (with label smoothing) and accuracy, one-hot labels."""
    keras_code_unconverted()
    model.compile(
        optimizer=make_optimizer(config, learning_rate),
        loss=tf_keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=[tf_keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    # Keras traces its steps with autograph, which converts every function they reach
    # (~900, ~10 s the first time in a process). Nothing in them branches on tensor
    # values, so they are traced as plain Python: same graph, same numbers, 2.6 s.
    for name in ("train_step", "test_step", "predict_step"):
        setattr(model, name, tf.autograph.experimental.do_not_convert(getattr(model, name)))
    # The optimizer's slots exist before the first step: created lazily inside it,
    # they make tf.function trace the train step twice (its variable-creation rule),
    # 22 s of the tiny trainer's 99 s fit here; same weights either way.
    # (Keras' own weight loading does the same, tf_keras/src/saving/legacy/hdf5_format.py.)
    if model.trainable_variables:
        model.optimizer._create_all_weights(model.trainable_variables)
