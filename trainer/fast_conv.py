"""Fast CPU depthwise 3D convolutions for MoViNet, with the same weights and results.

MoViNet's base architecture (`conv_type='3d'`) uses depthwise 3D convolutions:
`nn_layers.Conv3D` with `groups` equal to the input channels. TensorFlow runs
these very slowly on CPU (A0, 8 frames at 172x172: over a second per clip),
while 2D depthwise convolutions are fast.

The trick: a 3D convolution is a sum over its temporal taps. With the input
padded exactly as the Keras layer pads it, output frame `i` is

    y[i] = sum_t conv2d(x[i * s_t + t], kernel[t])

so for each tap `t` we take the frames `t, t + s_t, t + 2 s_t, ...`, fold time
into the batch, run one `tf.nn.depthwise_conv2d` with `kernel[t]` (reshaped
from `(kh, kw, 1, C * m)` to `(kh, kw, C, m)`, the same channel order as
Keras' groups) with VALID padding and the spatial strides, unfold and sum, and
add the bias. Only the summation order differs from the 3D kernel, so results
agree to float rounding.

`use_fast_depthwise_conv3d(model)` switches a built model's depthwise
`nn_layers.Conv3D` layers to this implementation by changing their class to a
subclass that only overrides `call`. Variables, their names and the checkpoint
layout are untouched, so checkpoints restore as before; the config is the same,
so the layers re-serialise. Padding comes from the layer itself: TF's 'same',
Model Garden's causal padding (`_compute_causal_padding`, which also honours
`use_buffered_input` for stream buffers) or 'valid'. Everything is graph ops on
dynamic shapes, so it works under `tf.function`, in SavedModel exports, under
`tf.distribute` strategies, for any batch size and frame count.

Switch before anything traces the model (a `tf.function`, `model.predict`, an
export): functions traced earlier keep the slow ops.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from absl import logging
from official.vision.modeling.layers import nn_layers


def same_padding(size, kernel: int, stride: int):
    """TF's 'SAME' padding of one axis, `[before, after]`; `size` may be a tensor."""
    total = kernel - ((size - 1) % stride + 1)
    total = max(total, 0) if isinstance(total, int) else tf.maximum(total, 0)
    return [total // 2, total - total // 2]


def depthwise_conv3d_as_conv2d_sum(
    padded: tf.Tensor, kernel: tf.Tensor, strides: tuple[int, int, int]
) -> tf.Tensor:
    """A VALID depthwise 3D convolution computed as a sum of 2D ones over the temporal taps.

    Args:
      padded: `[batch, frames, height, width, channels]`, already padded; channels static.
      kernel: `(kt, kh, kw, 1, channels * multiplier)`, a Keras grouped Conv3D
        kernel with `groups == channels`.
      strides: `(st, sh, sw)`.

    Returns:
      `[batch, out_frames, out_height, out_width, channels * multiplier]`.
    """
    kt, kh, kw, _, filters = kernel.shape
    channels = padded.shape[-1]
    st, sh, sw = strides
    shape = tf.shape(padded)
    batch = shape[0]
    out_frames = (shape[1] - kt) // st + 1
    kernel_2d = tf.reshape(kernel, [kt, kh, kw, channels, filters // channels])
    total = None
    for t in range(kt):
        frames = padded[:, t : t + (out_frames - 1) * st + 1 : st]
        folded = tf.reshape(frames, tf.concat([[-1], shape[2:]], axis=0))
        out = tf.nn.depthwise_conv2d(folded, kernel_2d[t], [1, sh, sw, 1], "VALID")
        total = out if total is None else total + out
    return tf.reshape(total, tf.concat([[batch, out_frames], tf.shape(total)[1:]], axis=0))


@tf_keras.utils.register_keras_serializable(package="trainer")
class DepthwiseConv3DAsConv2DSum(nn_layers.Conv3D):
    """`nn_layers.Conv3D` whose depthwise convolution runs as a sum of 2D convolutions.

    Same variables, config and padding rules as `nn_layers.Conv3D`; only `call`
    differs. Made by `use_fast_depthwise_conv3d`, or built directly.
    """

    def call(self, inputs):
        if not is_fast_convertible(self):
            raise ValueError(
                f"layer {self.name!r}: the 2D-sum convolution needs a depthwise kernel "
                f"(groups == input channels), dilation 1 and channels_last; got groups="
                f"{self.groups}, kernel {self.kernel.shape}, dilation {self.dilation_rate}, "
                f"{self.data_format}. Use nn_layers.Conv3D for this layer."
            )
        inputs = tf.convert_to_tensor(inputs)
        padded = tf.pad(inputs, self._paddings(inputs))
        outputs = depthwise_conv3d_as_conv2d_sum(padded, self.kernel, tuple(self.strides))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        if inputs.shape.rank:
            outputs.set_shape(self.compute_output_shape(inputs.shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _paddings(self, inputs: tf.Tensor) -> list:
        """The paddings `tf_keras.layers.Conv3D.call` and its convolution op would apply."""
        if self.padding == "causal":  # Model Garden's rule, stream buffers included
            return self._compute_causal_padding(inputs)
        if self.padding == "valid":
            return [[0, 0]] * 5
        shape = tf.shape(inputs)
        spatial = [
            same_padding(inputs.shape[i + 1] or shape[i + 1], self.kernel_size[i], self.strides[i])
            for i in range(3)
        ]
        return [[0, 0], *spatial, [0, 0]]


def is_fast_convertible(layer: tf_keras.layers.Layer) -> bool:
    """Whether `layer` is a built depthwise `nn_layers.Conv3D` the 2D sum can compute."""
    if not isinstance(layer, nn_layers.Conv3D) or not layer.built:
        return False
    return (
        layer.groups > 1
        and layer.kernel.shape[-2] == 1  # one input channel per group: depthwise
        and tuple(layer.dilation_rate) == (1, 1, 1)
        and layer.data_format == "channels_last"
        and layer.padding in ("same", "valid", "causal")
    )


def use_fast_depthwise_conv3d(model: tf_keras.layers.Layer) -> int:
    """Switches every depthwise `nn_layers.Conv3D` inside `model` to the 2D-sum implementation.

    Non-depthwise convolutions (`groups == 1` or groups of several channels) are
    left alone, as are dilated depthwise ones (logged). Idempotent.

    Args:
      model: a built Keras model or layer, e.g. a `Movinet` backbone or a
        `MovinetClassifier`.

    Returns:
      How many layers were switched by this call.

    Raises:
      ValueError: a grouped `nn_layers.Conv3D` is not built yet, so whether it
        is depthwise is unknown; build the model first.
    """
    switched = 0
    for layer in [model, *model.submodules]:
        if type(layer) is not nn_layers.Conv3D or layer.groups == 1:
            continue
        if not layer.built:
            raise ValueError(
                f"layer {layer.name!r} (grouped Conv3D) is not built: build the model "
                "(e.g. model.build([None, None, None, None, 3])) before switching."
            )
        if not is_fast_convertible(layer):
            logging.info("fast_conv: leaving %s alone (not a plain depthwise Conv3D)", layer.name)
            continue
        layer.__class__ = DepthwiseConv3DAsConv2DSum
        switched += 1
    logging.info("fast_conv: %d depthwise Conv3D layers now run as 2D sums", switched)
    return switched
