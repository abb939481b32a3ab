"""Freezing and unfreezing the backbone; the head's shape."""

import pytest
import tensorflow as tf

from trainer import architecture
from trainer.model import (
    VideoClassifier,
    build_head,
    feature_dim,
    set_bn_momentum,
    set_trainable_blocks,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stream_backbone():
    arch = architecture.arch_for("a0", "stream")
    return arch, architecture.build_backbone(arch)


def test_freeze_unfreeze_last_blocks_and_all(stream_backbone):
    _, backbone = stream_backbone
    set_trainable_blocks(backbone, 0)
    assert backbone.trainable_weights == []

    set_trainable_blocks(backbone, 1)
    names = {w.name for w in backbone.trainable_weights}
    assert names
    assert all(n.startswith(("block4_", "head/")) for n in names), sorted(names)[:5]
    assert any(n.startswith("head/") for n in names)
    assert not any(n.startswith(("block3_", "stem")) for n in names)

    set_trainable_blocks(backbone, -1)
    assert len(backbone.trainable_weights) > len(names)
    assert any(w.name.startswith("stem") for w in backbone.trainable_weights)

    with pytest.raises(ValueError, match="has 5 blocks"):
        set_trainable_blocks(backbone, 6)
    set_trainable_blocks(backbone, 0)


def test_classifier_outputs_logits_per_clip(stream_backbone):
    arch, backbone = stream_backbone
    head = build_head(arch, feature_dim(backbone), backbone.head_filters, 7, 0.0, seed=0)
    logits = VideoClassifier(backbone, head, arch)(tf.zeros([3, 4, 32, 32, 3]))
    assert logits.shape == (3, 7)
    assert feature_dim(backbone) == 480


def test_bn_momentum_is_set_on_every_batch_norm(stream_backbone):
    import tf_keras

    _, backbone = stream_backbone
    norms = [m for m in backbone.submodules if isinstance(m, tf_keras.layers.BatchNormalization)]
    assert norms and {n.momentum for n in norms} == {0.99}
    set_bn_momentum(backbone, 0.9)
    assert {n.momentum for n in norms} == {0.9}
    set_bn_momentum(backbone, 0.99)


@pytest.mark.parametrize("variant", ["stream", "base"])
def test_layers_of_gives_the_layers_of_submodules(stream_backbone, variant):
    """The fast walk (Keras' layer tracking) finds every layer `tf.Module.submodules`
    does, nested blocks' convolutions and BatchNorms included, in a classifier too."""
    import tf_keras

    if variant == "stream":
        arch, backbone = stream_backbone
    else:
        arch = architecture.arch_for("a0", "base")
        backbone = architecture.build_backbone(arch)
    head = build_head(arch, feature_dim(backbone), backbone.head_filters, 3, 0.0, seed=0)
    for model in (backbone, VideoClassifier(backbone, head, arch)):
        expected = [model, *(m for m in model.submodules if isinstance(m, tf_keras.layers.Layer))]
        found = architecture.layers_of(model)
        assert len(found) == len({id(m) for m in found})
        assert {id(m) for m in found} == {id(m) for m in expected}
        assert len(found) > 300  # A0's blocks, each with its conv, BatchNorm, SE layers
