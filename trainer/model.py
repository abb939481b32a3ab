"""The classifier: a (pretrained, usually frozen) MoViNet backbone under a new head.

The head is MoViNet's own classifier head written as dense layers on the pooled
backbone features (a 1x1x1 convolution on a [B, 1, 1, 1, C] tensor is a dense
layer): projection to `head_filters` with the architecture's activation,
dropout, then the class logits. With a frozen backbone the same head trains on
cached features (see `features.py`).
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from absl import logging

from trainer import architecture
from trainer.architecture import MovinetArch
from trainer.config import TrainerConfig


def load_backbone(config: TrainerConfig, arch: MovinetArch):
    """The backbone with pretrained weights (or random ones when the config says so),
    frozen or partly unfrozen, with the fast 3D path when enabled (`fast_conv`, and
    inference BatchNorm folded into it: `folded_batch_norm`)."""
    if config.checkpoint:
        from trainer import checkpoint, restore

        prefix = checkpoint.resolve_checkpoint(config.checkpoint, config.checkpoint_cache_dir)
        backbone = restore.restore_pretrained(arch, prefix)
    else:
        logging.warning("training %s from random weights (random_init: true)", arch.checkpoint_name)
        backbone = architecture.build_backbone(arch)
        logging.info("%d residual branches opened (ReZero at 1)", open_residual_branches(backbone))
    if config.fast_3d:
        from trainer.fast_conv import use_fast_conv3d
        from trainer.folded_batch_norm import use_folded_batch_norm

        logging.info("fast 3D path on %d convolutions", use_fast_conv3d(backbone))
        use_folded_batch_norm(backbone)
    set_trainable_blocks(backbone, config.trainable_blocks)
    set_bn_momentum(backbone, config.bn_momentum)
    return backbone


def open_residual_branches(backbone, scale: float = 1.0) -> int:
    """Starts every block's ReZero scale at `scale` (a plain residual block at 1);
    returns how many were set.

    MoViNet multiplies each block's residual branch by a trainable scalar
    initialised at 0 (ReZero), so a randomly initialised backbone is the identity
    and its branches get no gradient until those scalars have grown. Adam moves a
    scalar by at most about the learning rate per step: at 1e-3 that took the demo
    (36 steps per epoch) ~20 epochs of flat loss before it learned at all. Trained
    checkpoints hold their own values; this is for random weights only.
    """
    from official.vision.modeling.layers import nn_layers

    scales = [
        layer
        for layer in architecture.layers_of(backbone)
        if isinstance(layer, nn_layers.Scale) and layer.name == "rezero"
    ]
    for layer in scales:
        for weight in layer.weights:
            weight.assign(tf.fill(weight.shape, scale))
    return len(scales)


def set_bn_momentum(backbone, momentum: float) -> None:
    """Sets the moving-average momentum of every BatchNorm layer (read when training)."""
    for layer in architecture.layers_of(backbone):
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            layer.momentum = momentum


def set_trainable_blocks(backbone, trainable_blocks: int) -> None:
    """0 freezes the backbone, -1 unfreezes it all, N > 0 the last N blocks (+ its head)."""
    if trainable_blocks == 0:
        backbone.trainable = False
        return
    backbone.trainable = True
    if trainable_blocks == -1:
        return
    block_ids = sorted(
        {
            int(layer.name.split("_")[0][len("block") :])
            for layer in backbone.layers
            if layer.name.startswith("block")
        }
    )
    if trainable_blocks > len(block_ids):
        raise ValueError(
            f"trainable_blocks={trainable_blocks} but the backbone has {len(block_ids)} blocks"
        )
    keep = set(block_ids[-trainable_blocks:])
    for layer in backbone.layers:
        if layer.name.startswith("block"):
            layer.trainable = int(layer.name.split("_")[0][len("block") :]) in keep
        elif layer.name != "head":
            layer.trainable = False


def feature_dim(backbone) -> int:
    """Width of the backbone's pooled output (480 for A0)."""
    return int(backbone.output_shape[0]["head"][-1])


def backbone_features(backbone, arch: MovinetArch, clips: tf.Tensor, training=False) -> tf.Tensor:
    """Pooled backbone features [B, C] of clips [B, T, H, W, 3] (whole clip, also causal)."""
    inputs = {"image": clips}
    if arch.causal:
        inputs.update(backbone.init_states(tf.shape(clips)))
    endpoints, _ = backbone(inputs, training=training)
    return tf.reshape(endpoints["head"], [tf.shape(clips)[0], -1])


def build_head(
    arch: MovinetArch, in_dim: int, head_filters: int, num_classes: int, dropout: float, seed: int
) -> tf_keras.Model:
    """The new classifier head: features [B, in_dim] -> logits [B, num_classes]."""
    from official.modeling import tf_utils

    tf_keras.utils.set_random_seed(seed)
    features = tf_keras.Input([in_dim], name="features")
    x = tf_keras.layers.Dense(
        head_filters,
        activation=tf_utils.get_activation(arch.head_activation),
        kernel_initializer="he_normal",
        name="head_projection",
    )(features)
    x = tf_keras.layers.Dropout(dropout, name="head_dropout")(x)
    logits = tf_keras.layers.Dense(
        num_classes,
        kernel_initializer=tf_keras.initializers.RandomNormal(stddev=0.01),
        name="classifier",
        dtype="float32",
    )(x)
    return tf_keras.Model(features, logits, name="head")


# Clips of any length and size: float32 [B, T, H, W, 3] in [0, 1].
CLIPS_SPEC = tf.TensorSpec([None, None, None, None, 3], tf.float32, name="clips")


class VideoClassifier(tf_keras.Model):
    """Backbone + head: clips [B, T, H, W, 3] in [0, 1] -> logits [B, num_classes]."""

    def __init__(self, backbone, head: tf_keras.Model, arch: MovinetArch, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.head = head
        self.arch = arch

    def call(self, clips, training=False):
        trainable = self.backbone.trainable and training
        return self.head(
            backbone_features(self.backbone, self.arch, clips, trainable), training=training
        )

    @tf.function(input_signature=[CLIPS_SPEC], autograph=False)
    def inference_logits(self, clips):
        """Eval-mode logits [B, K] of clips `CLIPS_SPEC`, traced once per classifier.

        Keras' validation (`test_step`), the multi-clip evaluation after training and
        every exported classifying signature (trainer/export.py) call this one
        function: a trace of MoViNet's forward pass takes 6-9 s on 2 cores, and each
        of them tracing its own cost the demo ~20 s.
        """
        return self(clips, training=False)

    def test_step(self, data):
        """Keras' `Model.test_step`, its forward pass `inference_logits`."""
        if tf.distribute.get_strategy().num_replicas_in_sync > 1:
            return super().test_step(data)  # each replica traces with its own variables
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self.inference_logits(x)
        self.compute_loss(x, y, y_pred, sample_weight)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def stream_step(self, frames: tf.Tensor, states: dict) -> tuple[tf.Tensor, dict]:
        """Causal models: logits after `frames` given the states before them."""
        endpoints, new_states = self.backbone({**states, "image": frames}, training=False)
        features = tf.reshape(endpoints["head"], [tf.shape(frames)[0], -1])
        return self.head(features, training=False), new_states
