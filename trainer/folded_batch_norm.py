"""Inference BatchNorm folded into the fast convolutions before it, same weights.

In inference mode BatchNorm is a per-channel affine map,
`y = x * s + (beta - mean * s)` with `s = gamma / sqrt(moving_variance + epsilon)`
(`tf_keras.layers.BatchNormalization`, `training=False`). After a convolution it
folds into the convolution: kernel `* s` over the output channels, bias
`bias * s + beta - mean * s`. A0's base backbone has 81 Conv3D + BatchNorm
pairs; unfolded, BatchNorm was a fifth of the CPU forward pass (a op-level
profile of `bench.backbone`'s clip), plus the activation as its own pass.

`use_folded_batch_norm(model)` switches Model Garden's `ConvBlock` and
`StreamConvBlock` (conv -> BatchNorm -> activation,
official/projects/movinet/modeling/movinet_layers.py) whose convolution is one of
`fast_conv`'s layers. Their `call` then runs, when the BatchNorm is in inference
mode (`training` false, or the layer frozen, BatchNormalization's own
`_get_training_value` rule):

- a 1x1x1 unit-stride convolution as a 1x1 `tf.nn.conv2d` on `[batch * frames,
  height, width, channels]`, bias and activation applied to its 4-D output;
- any other convolution as `fast_conv`'s sum over temporal taps, bias and
  activation applied to the 4-D sum before it is unfolded.

Swish is written `x * sigmoid(x)` (tf.nn.silu's forward, without its custom
gradient), the pattern TensorFlow's oneDNN remapper fuses into the convolution
with the bias ("_FusedConv2D" with BiasAdd and _MklSwish). In training mode with a
trainable BatchNorm (batch statistics, moving averages to update) the block
runs Model Garden's own `call`. Variables, their names, the checkpoint layout
and the configs are untouched. Outputs equal the unfolded ones to float
rounding (`tests/trainer/test_folded_batch_norm.py`: 1e-5 on A0).

Switch after `fast_conv.use_fast_conv3d` and before anything traces the model.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from absl import logging
from official.modeling.tf_utils import get_shape_list
from official.projects.movinet.modeling import movinet_layers

from trainer import architecture, fast_conv


def batch_norm_scale_shift(batch_norm) -> tuple[tf.Tensor, tf.Tensor]:
    """(s, shift) [channels] float32 with `batch_norm(x, training=False) == x * s + shift`."""
    scale = tf.math.rsqrt(batch_norm.moving_variance + batch_norm.epsilon)
    if batch_norm.scale:
        scale = scale * batch_norm.gamma
    shift = -batch_norm.moving_mean * scale
    if batch_norm.center:
        shift = shift + batch_norm.beta
    return scale, shift


def can_fold(block, training) -> bool:
    """Whether `block` (a ConvBlock) can run its conv and BatchNorm folded now."""
    batch_norm, conv = block._batch_norm, block._conv
    if batch_norm is None or block._conv_temporal is not None:
        return False
    if not isinstance(conv, fast_conv.DepthwiseConv3DAsConv2DSum):  # and Conv3DAsConv2D
        return False
    if list(tf.nest.flatten(batch_norm.axis)) not in ([-1], [4]):
        return False
    # BatchNormalization's rule: None -> the learning phase; frozen -> inference.
    return batch_norm._get_training_value(training) is False


def folded_conv_block(block, inputs: tf.Tensor) -> tf.Tensor:
    """`block`'s conv, inference BatchNorm and activation as one folded convolution.

    Args:
      block: a ConvBlock for which `can_fold` holds.
      inputs: `[batch, frames, height, width, channels]` float32.

    Returns:
      `[batch, out_frames, out_height, out_width, filters]`, what the block returns
      (streaming blocks: before their states).
    """
    conv = block._conv
    scale, shift = batch_norm_scale_shift(block._batch_norm)
    kernel = conv.kernel * scale
    bias = conv.bias * scale + shift if conv.use_bias else shift
    activation = _fusable(block._activation_layer)

    def epilogue(x):
        x = tf.nn.bias_add(x, bias)
        return activation(x) if activation is not None else x

    inputs = tf.convert_to_tensor(inputs)
    if isinstance(conv, fast_conv.Conv3DAsConv2D) and _pointwise(conv):
        shape = get_shape_list(inputs)  # static where known: fewer ops to trace
        folded = tf.reshape(inputs, [-1, *shape[2:]])
        out = epilogue(tf.nn.conv2d(folded, kernel[0], 1, "VALID"))
        outputs = tf.reshape(out, [*shape[:-1], kernel.shape[-1]])
    else:
        padded, spatial, time = conv._pad_time(inputs)
        sum_of_2d = (
            fast_conv.conv3d_as_conv2d_sum
            if isinstance(conv, fast_conv.Conv3DAsConv2D)
            else fast_conv.depthwise_conv3d_as_conv2d_sum
        )
        outputs = sum_of_2d(padded, kernel, tuple(conv.strides), spatial, epilogue, time)
    if inputs.shape.rank:
        outputs.set_shape(conv.compute_output_shape(inputs.shape))
    return outputs


def _pointwise(conv) -> bool:
    return tuple(conv.kernel_size) == (1, 1, 1) and tuple(conv.strides) == (1, 1, 1)


def _fusable(activation_layer):
    """The block's activation; swish as `x * sigmoid(x)` (see the module docstring)."""
    function = getattr(activation_layer, "activation", None)
    if function is not None and getattr(function, "__name__", "") in ("swish", "silu"):
        return lambda x: x * tf.math.sigmoid(x)
    return activation_layer


@tf_keras.utils.register_keras_serializable(package="trainer")
class FoldedConvBlock(movinet_layers.ConvBlock):
    """Model Garden's `ConvBlock`, BatchNorm folded into the convolution in inference."""

    def call(self, inputs, training=None):
        if not can_fold(self, training):
            return super().call(inputs)
        return folded_conv_block(self, inputs)


@tf_keras.utils.register_keras_serializable(package="trainer")
class FoldedStreamConvBlock(movinet_layers.StreamConvBlock):
    """Model Garden's `StreamConvBlock`, BatchNorm folded into the convolution in inference."""

    def call(self, inputs, states=None, training=None):
        if not can_fold(self, training):
            return super().call(inputs, states)
        states = dict(states) if states is not None else {}
        x = inputs
        if self._stream_buffer is not None:  # as StreamConvBlock.call, one conv
            x, states = self._stream_buffer(x, states=states)
        return folded_conv_block(self, x), states


_FOLDED = {
    movinet_layers.ConvBlock: FoldedConvBlock,
    movinet_layers.StreamConvBlock: FoldedStreamConvBlock,
}


def use_folded_batch_norm(model: tf_keras.layers.Layer) -> int:
    """Switches the conv blocks inside `model` whose convolution is a `fast_conv` layer.

    Blocks with a separate temporal convolution ('3d_2plus1d'), without BatchNorm,
    or with a Model Garden convolution (2plus1d's `MobileConv2D`, or a Conv3D left
    alone) keep Model Garden's class. Idempotent.

    Args:
      model: a built Keras model or layer after `fast_conv.use_fast_conv3d`.

    Returns:
      How many blocks were switched by this call.
    """
    switched = 0
    for layer in architecture.layers_of(model):
        folded = _FOLDED.get(type(layer))
        if folded is None or not layer.built:
            continue
        if layer._batch_norm is None or layer._conv_temporal is not None:
            continue
        if not isinstance(layer._conv, fast_conv.DepthwiseConv3DAsConv2DSum):
            continue
        layer.__class__ = folded
        layer._init_call_fn_args()  # the new `call` takes `training`: Keras passes it
        switched += 1
    logging.info("folded BatchNorm: %d conv blocks fold it in inference", switched)
    return switched
