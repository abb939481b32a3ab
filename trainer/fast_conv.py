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

Every `nn_layers.Conv3D` also wraps its convolution in a `tf.function` with
`jit_compile=True`, so each of A0's 65 pointwise (1x1x1) convolutions and its
stem runs as an XLA cluster of its own. `use_fast_conv3d(model)` switches those
too: a 1x1x1 convolution with unit strides is a matrix product over the channel
axis (`[N, C] @ [C, F]`, N = batch x frames x height x width), and any other
ungrouped kernel is the same sum over temporal taps as above, with
`tf.nn.conv2d`. The arithmetic per output is the same dot product in another
summation order.

Switch before anything traces the model (a `tf.function`, `model.predict`, an
export): functions traced earlier keep the slow ops.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras
from absl import logging
from official.modeling.tf_utils import get_shape_list
from official.vision.modeling.layers import nn_layers

from trainer import architecture


def same_padding(size, kernel: int, stride: int):
    """TF's 'SAME' padding of one axis, `[before, after]`; `size` may be a tensor."""
    total = kernel - ((size - 1) % stride + 1)
    total = max(total, 0) if isinstance(total, int) else tf.maximum(total, 0)
    return [total // 2, total - total // 2]


def depthwise_conv3d_as_conv2d_sum(
    padded: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int, int],
    spatial_padding: str = "VALID",
    epilogue=None,
    time_padding: tuple[int, int] = (0, 0),
) -> tf.Tensor:
    """A depthwise 3D convolution computed as a sum of 2D ones over the temporal taps.

    Which frames each tap convolves, and how they get there without copying the
    clip once per tap (slicing `[:, t:t + n]` did: 20% of the forward pass in a
    profile of A0), is `_sum_over_taps`' choice.

    Args:
      padded: `[batch, frames, height, width, channels]`, padded in time (and in
        space unless `spatial_padding` is "SAME"); channels static.
      kernel: `(kt, kh, kw, 1, channels * multiplier)`, a Keras grouped Conv3D
        kernel with `groups == channels`.
      strides: `(st, sh, sw)`.
      spatial_padding: "VALID", or "SAME" for TF's SAME rule in space (which
        Keras 'same' and Model Garden's 'causal' padding both follow).
      epilogue: per-channel ops applied to the 4-D sum (bias, activation), or None.
      time_padding: zero frames (before, after) `padded` still lacks in time: never
        made, a tap's output is padded instead, in the sum (static frames only).

    Returns:
      `[batch, out_frames, out_height, out_width, channels * multiplier]`.
    """
    kt, kh, kw, _, filters = kernel.shape
    channels = padded.shape[-1]
    kernel_2d = tf.reshape(kernel, [kt, kh, kw, channels, filters // channels])
    return _sum_over_taps(
        padded,
        kt,
        strides[0],
        lambda folded, t: tf.nn.depthwise_conv2d(
            folded, kernel_2d[t], [1, strides[1], strides[2], 1], spatial_padding
        ),
        epilogue,
        time_padding,
    )


def _sum_over_taps(
    padded: tf.Tensor, kt: int, st: int, conv_2d, epilogue=None, time_padding=(0, 0)
) -> tf.Tensor:
    """sum_t conv_2d(frames t, t + st, ... folded into the batch, t), back to 5-D.

    `epilogue` (per-channel ops: bias, activation) runs on the 4-D sum: fused into
    the 2D convolution by TensorFlow's remapper for a single tap, which at stride 1
    folds time into the batch as it lies (`[batch * frames, ...]`, a free reshape,
    no transposes); with several taps, in one XLA cluster with their sum.

    `time_padding` (before, after) zero frames are not made: output frame i reads
    padded frame i * st + t, so each tap reads only the real frames
    `_tap_frames` gives it and its output is padded with zero frames in the XLA
    cluster, where the pad fuses into the sum. A conv of a zero frame is exactly
    zero (no bias before the epilogue), so the sum is the same as over padded
    frames. Padding the clip was a copy of it before each temporal convolution:
    7.5% of A0 base's forward at batch 16 on 2 cores (2026-12-07).

    Which frames each tap convolves:
    - static frames, where the frames the taps do not read number at most the
      clip's (A0 base's 8-frame clips: its 3-tap layers read 7, 8 and 7 frames,
      2 unread; its 5-tap ones 6, 7, 8, 7 and 6, 6 unread): every tap convolves
      the whole clip as it lies (`[batch * frames, ...]`, a free reshape) and the
      sum reads the frames it needs from each output. The unread frames are
      convolved in vain, but nothing is copied, where the time-major slices
      below copy the clip once. Against those it took 5% off A0 base's forward
      at batch 16 on 2 cores, interleaved in one process (16.9 -> 15.8 ms a
      clip, 2026-12-07).
    - otherwise (a streaming step, whose taps read a frame each of a few
      buffered; temporal strides; frames unknown until run time): time is moved
      to the front once (`[frames, batch, ...]`) so each tap's frames are a
      slice of the outermost axis, which TensorFlow hands over without a copy
      when the rows are aligned (free at batch 1), and the sum transposes back.
    """
    epilogue = epilogue or (lambda x: x)
    before, after = time_padding
    batch, frames, *frame_shape = get_shape_list(padded)
    if kt == 1 and st == 1 and before == after == 0:
        out = epilogue(conv_2d(tf.reshape(padded, [-1, *frame_shape]), 0))
        return tf.reshape(out, [batch, frames, *get_shape_list(out)[1:]])
    out_frames = (frames + before + after - kt) // st + 1
    reads = _tap_frames(kt, st, frames, out_frames, before, after)
    # Frames the taps would convolve in vain on the whole clip, against the
    # frames the transpose to time-major copies.
    whole_clip = isinstance(frames, int) and (
        sum(frames - (last - first + 1) for _, first, last, _ in reads) <= frames
    )
    if whole_clip:
        folded = tf.reshape(padded, [-1, *frame_shape])
        taps = [conv_2d(folded, t) for t, _, _, _ in reads]
    else:
        time_major = tf.transpose(padded, [1, 0, 2, 3, 4])
        taps = []
        for t, first, last, start in reads:
            frames_t = time_major[start : start + (last - first) * st + 1 : st]
            taps.append(conv_2d(tf.reshape(frames_t, [-1, *frame_shape]), t))

    def sum_and_unfold(taps):
        time_axis = 1 if whole_clip else 0
        total = None
        for out, (_, first, last, start) in zip(taps, reads, strict=True):
            if whole_clip:  # [batch, frames, ...]: the frames this tap reads
                out = tf.reshape(out, [batch, frames, *get_shape_list(out)[1:]])
                out = out[:, start : start + (last - first) * st + 1 : st]
            else:  # [frames read, batch, ...]
                out = tf.reshape(out, [last - first + 1, batch, *get_shape_list(out)[1:]])
            if (before or after) and (first or last < out_frames - 1):  # frames of padding
                paddings = [[0, 0]] * 5
                paddings[time_axis] = [first, out_frames - 1 - last]
                out = tf.pad(out, paddings)
            total = out if total is None else total + out
        total = epilogue(total)
        return total if whole_clip else tf.transpose(total, [1, 0, 2, 3, 4])

    # One XLA cluster reads the taps and writes the 5-D output once: the sum, the
    # epilogue and any transpose back were four passes over the output (6% of A0
    # base's forward on 2 cores, bench.backbone). Traced as written (nothing in it
    # branches on a tensor's value): autograph converting it and the epilogue's
    # activations each time cost ~0.4 s of A0's trace (2 cores, 2026-12-07).
    return tf.function(sum_and_unfold, jit_compile=True, autograph=False)(taps)


def _tap_frames(kt, st, frames, out_frames, before, after) -> list[tuple]:
    """(t, first, last, start) for each tap that reads a real frame: the output frames
    `first..last` whose padded frame `i * st + t` is one of the clip's, and the clip's
    frame `start` that output frame `first` reads (then every `st`-th)."""
    reads = []
    for t in range(kt):
        first, last = 0, out_frames - 1  # every output frame (frames may be a tensor)
        if before or after:  # static: _pad_time pads the clip itself otherwise
            first = max(0, -(-(before - t) // st))
            last = min(out_frames - 1, (frames - 1 + before - t) // st)
            if last < first:
                continue  # this tap reads only padding
        reads.append((t, first, last, first * st + t - before))
    return reads


def conv3d_as_conv2d_sum(
    padded: tf.Tensor,
    kernel: tf.Tensor,
    strides: tuple[int, int, int],
    spatial_padding: str = "VALID",
    epilogue=None,
    time_padding: tuple[int, int] = (0, 0),
) -> tf.Tensor:
    """An ungrouped 3D convolution computed as a sum of 2D ones over the temporal taps.

    Args:
      padded: `[batch, frames, height, width, in_channels]`, padded as in
        `depthwise_conv3d_as_conv2d_sum`.
      kernel: `(kt, kh, kw, in_channels, filters)`, a Keras Conv3D kernel with `groups == 1`.
      strides: `(st, sh, sw)`.
      spatial_padding: "VALID" or "SAME" (TF's rule in space).
      epilogue, time_padding: as in `depthwise_conv3d_as_conv2d_sum`.

    Returns:
      `[batch, out_frames, out_height, out_width, filters]`, float32 like the input.
    """
    return _sum_over_taps(
        padded,
        kernel.shape[0],
        strides[0],
        lambda folded, t: tf.nn.conv2d(
            folded, kernel[t], [1, strides[1], strides[2], 1], spatial_padding
        ),
        epilogue,
        time_padding,
    )


def pointwise_conv3d_as_matmul(inputs: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """A 1x1x1, unit-stride 3D convolution as one matrix product over the channel axis.

    Args:
      inputs: `[batch, frames, height, width, in_channels]` (any rank >= 2 works:
        only the last axis is contracted).
      kernel: `(1, 1, 1, in_channels, filters)`.

    Returns:
      `[batch, frames, height, width, filters]`.
    """
    in_channels, filters = kernel.shape[-2], kernel.shape[-1]
    flat = tf.reshape(inputs, [-1, in_channels])
    out = tf.matmul(flat, tf.reshape(kernel, [in_channels, filters]))
    return tf.reshape(out, [*get_shape_list(inputs)[:-1], filters])


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
        padded, spatial, time = self._pad_time(inputs)
        outputs = depthwise_conv3d_as_conv2d_sum(
            padded, self.kernel, tuple(self.strides), spatial, time_padding=time
        )
        return self._bias_shape_activation(inputs, outputs)

    def _bias_shape_activation(self, inputs: tf.Tensor, outputs: tf.Tensor) -> tf.Tensor:
        """What `tf_keras.layers.Conv3D.call` does after its convolution."""
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, self.bias)
        if inputs.shape.rank:
            outputs.set_shape(self.compute_output_shape(inputs.shape))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def _pad_time(self, inputs: tf.Tensor) -> tuple[tf.Tensor, str, tuple[int, int]]:
        """The input as the 2D-sum convolutions take it: (clip, 2D padding mode,
        zero frames (before, after) still to add in time).

        Both 'same' and Model Garden's causal padding follow TF's SAME rule in space,
        so the 2D convolution pads there itself ("SAME"; "VALID" for 'valid').
        In time, a static padding of a clip of static frames is left to the sum
        (`_sum_over_taps`), which never makes the zero frames; otherwise the clip
        is padded here.
        """
        paddings = self._paddings(inputs)
        if self.padding == "valid":
            return inputs, "VALID", (0, 0)
        before, after = paddings[1]
        if isinstance(before, int) and isinstance(after, int):
            if inputs.shape[1] is not None or before == after == 0:
                return inputs, "SAME", (before, after)
        return tf.pad(inputs, [[0, 0], [before, after], [0, 0], [0, 0], [0, 0]]), "SAME", (0, 0)

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
    for layer in architecture.layers_of(model):
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


@tf_keras.utils.register_keras_serializable(package="trainer")
class Conv3DAsConv2D(DepthwiseConv3DAsConv2DSum):
    """`nn_layers.Conv3D` (`groups == 1`) run as a matmul (1x1x1) or 2D convolutions.

    Same variables, config and padding rules as `nn_layers.Conv3D`; only `call`
    differs, and no per-layer XLA cluster. Made by `use_fast_conv3d`.
    """

    def call(self, inputs):
        if not is_fast_convertible_dense(self):
            raise ValueError(
                f"layer {self.name!r}: the 2D convolution path needs groups == 1, dilation 1 "
                f"and channels_last; got groups={self.groups}, dilation {self.dilation_rate}, "
                f"{self.data_format}. Use nn_layers.Conv3D for this layer."
            )
        inputs = tf.convert_to_tensor(inputs)
        if tuple(self.kernel_size) == (1, 1, 1) and tuple(self.strides) == (1, 1, 1):
            outputs = pointwise_conv3d_as_matmul(inputs, self.kernel)  # no padding at 1x1x1
        else:
            padded, spatial, time = self._pad_time(inputs)
            outputs = conv3d_as_conv2d_sum(
                padded, self.kernel, tuple(self.strides), spatial, time_padding=time
            )
        return self._bias_shape_activation(inputs, outputs)


def is_fast_convertible_dense(layer: tf_keras.layers.Layer) -> bool:
    """Whether `layer` is a built ungrouped `nn_layers.Conv3D` the 2D path can compute."""
    if not isinstance(layer, nn_layers.Conv3D) or not layer.built:
        return False
    return (
        layer.groups == 1
        and tuple(layer.dilation_rate) == (1, 1, 1)
        and layer.data_format == "channels_last"
        and layer.padding in ("same", "valid", "causal")
    )


def use_fast_conv3d(model: tf_keras.layers.Layer) -> int:
    """Switches every `nn_layers.Conv3D` inside `model`: depthwise ones to 2D sums,
    ungrouped ones to a matmul (1x1x1) or 2D convolutions; idempotent.

    Args:
      model: a built Keras model or layer (`Movinet` backbone, `MovinetClassifier`),
        base or causal.

    Returns:
      How many layers were switched by this call (depthwise and ungrouped).

    Raises:
      ValueError: a grouped `nn_layers.Conv3D` is not built yet (see
        `use_fast_depthwise_conv3d`).
    """
    switched = use_fast_depthwise_conv3d(model)
    dense = 0
    for layer in architecture.layers_of(model):
        if type(layer) is nn_layers.Conv3D and is_fast_convertible_dense(layer):
            layer.__class__ = Conv3DAsConv2D
            dense += 1
    logging.info("fast_conv: %d ungrouped Conv3D layers now run as matmuls/2D convs", dense)
    return switched + dense
