"""Cached-feature head training equals training through the frozen backbone."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from trainer import architecture, features
from trainer.config import TrainerConfig
from trainer.model import VideoClassifier, backbone_features, build_head, feature_dim
from trainer.optimization import compile_classifier
from trainer.schedule import lr_schedule_callback

pytestmark = pytest.mark.slow
NUM_CLASSES = 3


@pytest.fixture(scope="module")
def frozen_backbone():
    arch = architecture.arch_for("a0", "stream")
    backbone = architecture.build_backbone(arch)
    backbone.trainable = False
    return arch, backbone


def test_head_on_cached_features_equals_head_through_frozen_backbone(frozen_backbone):
    arch, backbone = frozen_backbone
    rng = np.random.default_rng(0)
    clips = rng.uniform(size=(12, 4, 32, 32, 3)).astype(np.float32)
    labels = tf_keras.utils.to_categorical(rng.integers(0, NUM_CLASSES, 12), NUM_CLASSES)
    config = TrainerConfig(random_init=True, optimizer="sgd", learning_rate=0.05, batch_size=4)
    backbone_before = backbone.get_weights()

    def new_head():
        return build_head(arch, feature_dim(backbone), 64, NUM_CLASSES, 0.0, seed=7)

    through = VideoClassifier(backbone, new_head(), arch)
    compile_classifier(through, config)
    through.fit(clips, labels, batch_size=4, epochs=2, shuffle=False, verbose=0)

    cached_head = new_head()
    cached = backbone_features(backbone, arch, tf.constant(clips)).numpy()
    compile_classifier(cached_head, config)
    cached_head.fit(cached, labels, batch_size=4, epochs=2, shuffle=False, verbose=0)

    initial = new_head().get_weights()
    for got, want, start in zip(
        cached_head.get_weights(), through.head.get_weights(), initial, strict=True
    ):
        assert np.abs(got - start).max() > 1e-4  # the head did train
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # The backbone stayed frozen, BatchNorm statistics included.
    assert backbone.trainable_weights == []
    for got, want in zip(backbone.get_weights(), backbone_before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_extract_features_shapes_and_labels(frozen_backbone):
    arch, backbone = frozen_backbone
    clips = tf.random.uniform([5, 2, 4, 32, 32, 3], seed=1)
    labels = tf.constant([0, 1, 2, 1, 0])
    dataset = tf.data.Dataset.from_tensor_slices((clips, labels))
    got, got_labels = features.extract_features(backbone, arch, dataset, clips_per_call=4)

    assert got.shape == (5, 2, feature_dim(backbone)) == (5, 2, 480)
    np.testing.assert_array_equal(got_labels, labels.numpy())
    direct = backbone_features(backbone, arch, tf.reshape(clips, [-1, 4, 32, 32, 3])).numpy()
    np.testing.assert_allclose(got.reshape(10, -1), direct, atol=1e-5)


def test_one_feature_trace_serves_train_and_eval_views(frozen_backbone):
    """Train (2 views) and eval (1 or 3 views), full and partial batches: one trace,
    and one input shape per split (one shape for both where the views divide the
    clips per call), the last batch padded (XLA compiles once per shape)."""
    arch, backbone = frozen_backbone
    traced = features.feature_function(backbone, arch, 4, 32)
    results, shapes = [], {}
    for videos, views in ((5, 2), (3, 1), (3, 3)):

        def forward(clips, views=views):
            shapes.setdefault(views, set()).add(tuple(clips.shape))
            return traced(clips)

        clips = tf.random.uniform([videos, views, 4, 32, 32, 3], seed=videos + views)
        dataset = tf.data.Dataset.from_tensor_slices((clips, tf.zeros([videos], tf.int32)))
        got, _ = features.extract_features(backbone, arch, dataset, 4, forward=forward)
        assert got.shape == (videos, views, 480)
        results.append((clips, got))

    assert traced.experimental_get_tracing_count() == 1
    assert shapes == {
        2: {(2, 2, 4, 32, 32, 3)},
        1: {(4, 1, 4, 32, 32, 3)},
        3: {(1, 3, 4, 32, 32, 3)},
    }
    for clips, got in results[:2]:  # padded last batches: their videos' features only
        direct = backbone_features(backbone, arch, tf.reshape(clips, [-1, 4, 32, 32, 3])).numpy()
        np.testing.assert_allclose(got.reshape(direct.shape[0], -1), direct, atol=1e-5)
    clips, got = results[2]
    direct = backbone_features(backbone, arch, tf.reshape(clips, [-1, 4, 32, 32, 3])).numpy()
    np.testing.assert_allclose(got.reshape(9, -1), direct, atol=1e-5)


def test_train_head_reports_single_and_multi_clip_accuracy(frozen_backbone):
    arch, backbone = frozen_backbone
    rng = np.random.default_rng(1)

    # Separable features: class c has a bump in dimension c.
    def make(n, views):
        y = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
        x = rng.normal(0, 0.1, (n, views, 480)).astype(np.float32)
        x[np.arange(n), :, y] += 3.0
        return x, y

    config = TrainerConfig(random_init=True, epochs=15, batch_size=8, learning_rate=1e-2)
    head = build_head(arch, 480, 64, NUM_CLASSES, 0.1, seed=0)
    summary = features.train_head(head, make(40, 2), make(12, 3), config, NUM_CLASSES)

    assert len(summary["history"]["loss"]) == 15
    assert summary["history"]["loss"][-1] < summary["history"]["loss"][0]
    assert summary["eval_multi_clip_accuracy"] == 1.0
    assert summary["eval_single_clip_accuracy"] > 0.9


def test_cosine_schedule_decays_to_zero_over_the_epochs():
    config = TrainerConfig(random_init=True, epochs=4, learning_rate=0.1, lr_schedule="cosine")
    schedule = lr_schedule_callback(config).schedule
    rates = [schedule(epoch, None) for epoch in range(4)]
    np.testing.assert_allclose(rates, [0.1, 0.0853553, 0.05, 0.0146447], rtol=1e-5)
    assert lr_schedule_callback(TrainerConfig(random_init=True)) is None


def test_the_train_step_is_traced_once():
    # compile_classifier builds the optimizer's slots up front: created inside the
    # first step, they make tf.function trace it a second time (MoViNet: ~22 s).
    model = tf_keras.Sequential([tf_keras.layers.Dense(NUM_CLASSES, input_shape=(4,))])
    compile_classifier(model, TrainerConfig(random_init=True))
    labels = tf_keras.utils.to_categorical(np.arange(8) % NUM_CLASSES, NUM_CLASSES)
    model.fit(np.ones((8, 4), np.float32), labels, batch_size=4, epochs=2, verbose=0)
    assert model.train_function.experimental_get_tracing_count() == 1


def test_autograph_leaves_tf_keras_code_as_written_and_converts_ours():
    # TensorFlow's later rule DoNotConvert("tf_keras"), added by compile_classifier
    # (optimization.keras_code_unconverted): Keras' step functions are traced as
    # written, once per process saved ~0.45 s of a head fit; model code is converted.
    from tensorflow.python.autograph.core import config as autograph_config
    from tensorflow.python.autograph.impl import conversion
    from tf_keras.src.engine import training

    from trainer import optimization

    model = tf_keras.Sequential([tf_keras.layers.Dense(NUM_CLASSES, input_shape=(4,))])
    compile_classifier(model, TrainerConfig(random_init=True))
    optimization.keras_code_unconverted()  # again: one rule, not two
    assert conversion.is_allowlisted(training.reduce_per_replica)
    assert not conversion.is_allowlisted(features.extract_features)
    rules = [str(rule) for rule in autograph_config.CONVERSION_RULES]
    assert rules.count("DoNotConvert rule for tf_keras") == 1
    labels = tf_keras.utils.to_categorical(np.arange(8) % NUM_CLASSES, NUM_CLASSES)
    history = model.fit(np.ones((8, 4), np.float32), labels, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
