"""Depthwise 3D convolutions as sums of 2D ones: same weights, same results.

Each test computes Model Garden's output first, switches the layers with
`use_fast_depthwise_conv3d`, and compares on the same weights and inputs.
"""

import collections
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from official.vision.modeling.layers import nn_layers  # noqa: E402

from trainer.fast_conv import (  # noqa: E402
    Conv3DAsConv2D,
    DepthwiseConv3DAsConv2DSum,
    use_fast_conv3d,
    use_fast_depthwise_conv3d,
)

TOLERANCE = 1e-4  # max abs diff; float32 summation order is all that differs
CHANNELS = 6


def random_clip(shape, seed=0):
    return tf.constant(np.random.default_rng(seed).standard_normal(shape).astype("float32"))


def max_abs_diff(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


def randomize_non_kernel_weights(model, seed=0):
    """Random BatchNorm statistics, biases and residual scales.

    Model Garden initialises the residual `scale` to 0 (and BatchNorm to the
    identity), so at init every block's depthwise branch is multiplied by zero
    and a broken convolution would not change the output.
    """
    rng = np.random.default_rng(seed)
    for var in model.variables:
        name = var.name.split("/")[-1].split(":")[0]
        if name == "kernel":
            continue
        if name in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.0, var.shape)
        elif name == "scale":
            value = rng.uniform(0.2, 0.6, var.shape)
        else:
            value = rng.normal(0.0, 0.1, var.shape)
        var.assign(value.astype("float32"))


def depthwise_conv3d(
    kernel_size, strides=1, padding="same", multiplier=1, buffered=False, use_bias=True
):
    layer = nn_layers.Conv3D(
        CHANNELS * multiplier,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=CHANNELS,
        use_bias=use_bias,
        use_buffered_input=buffered,
        bias_initializer="random_normal",
    )
    layer.build([None, None, None, None, CHANNELS])
    return layer


LAYER_CASES = {
    "3x3x3": dict(kernel_size=(3, 3, 3)),
    "5x3x3 stride 1,2,2": dict(kernel_size=(5, 3, 3), strides=(1, 2, 2)),
    "1x5x5 stride 1,2,2": dict(kernel_size=(1, 5, 5), strides=(1, 2, 2)),
    "3x5x5 stride 2 multiplier 2": dict(kernel_size=(3, 5, 5), strides=2, multiplier=2),
    "4x2x2 even": dict(kernel_size=(4, 2, 2)),
    "no bias": dict(kernel_size=(3, 3, 3), use_bias=False),
    "causal 3x3x3 stride 1,2,2": dict(kernel_size=(3, 3, 3), strides=(1, 2, 2), padding="causal"),
    "causal 1x3x3": dict(kernel_size=(1, 3, 3), padding="causal"),
    "causal buffered 3x3x3": dict(kernel_size=(3, 3, 3), padding="causal", buffered=True),
    "causal buffered 5x3x3 stride 1,2,2": dict(
        kernel_size=(5, 3, 3), strides=(1, 2, 2), padding="causal", buffered=True
    ),
    "valid 2x4x4 stride 1,3,3": dict(kernel_size=(2, 4, 4), strides=(1, 3, 3), padding="valid"),
}


@pytest.mark.parametrize("case", LAYER_CASES.values(), ids=LAYER_CASES.keys())
def test_layer_matches_model_garden(case):
    layer = depthwise_conv3d(**case)
    # Odd sizes, and a second shape through one tf.function with dynamic dims.
    clips = [random_clip((2, 7, 13, 11, CHANNELS), 1), random_clip((3, 9, 10, 12, CHANNELS), 2)]
    expected = [layer(clip).numpy() for clip in clips]

    assert use_fast_depthwise_conv3d(layer) == 1
    assert type(layer) is DepthwiseConv3DAsConv2DSum
    dynamic = tf.function(layer, input_signature=[tf.TensorSpec([None] * 4 + [CHANNELS])])
    for clip, want in zip(clips, expected, strict=True):
        eager, graph = layer(clip).numpy(), dynamic(clip).numpy()
        assert eager.shape == graph.shape == want.shape
        assert max_abs_diff(eager, want) <= TOLERANCE
        assert max_abs_diff(graph, want) <= TOLERANCE


@pytest.mark.parametrize("frames", [1, 2, 3])
@pytest.mark.parametrize(
    "case",
    [dict(kernel_size=(5, 3, 3)), dict(kernel_size=(3, 3, 3), strides=2)],
    ids=["5x3x3", "3x3x3 stride 2"],
)
def test_short_clips_whose_taps_read_only_padding(case, frames):
    # Static frames: the temporal padding is never made, taps reading only padding
    # are skipped and the others' outputs padded in the sum (_sum_over_taps).
    layer = depthwise_conv3d(**case)
    clip = random_clip((2, frames, 9, 8, CHANNELS), frames)
    want = layer(clip).numpy()
    use_fast_depthwise_conv3d(layer)
    got = layer(clip).numpy()
    assert got.shape == want.shape
    assert max_abs_diff(got, want) <= TOLERANCE


@pytest.mark.parametrize(
    "frames, kernel_size, padding, buffered, transposes",
    [
        (8, (3, 3, 3), "same", False, 0),  # A0 base's clips: taps read 7, 8 and 7 frames
        (8, (5, 3, 3), "same", False, 0),  # 6, 7, 8, 7, 6: 6 unread <= 8
        (8, (3, 3, 3), "causal", False, 0),  # 6, 7, 8
        (8, (5, 3, 3), "causal", False, 2),  # 4, 5, 6, 7, 8: 10 unread > 8, time-major
        (3, (5, 3, 3), "same", False, 2),  # 1, 2, 3, 2, 1 of 3 frames
        (3, (3, 3, 3), "causal", True, 2),  # a stream step: 2 buffered frames + 1
    ],
)
def test_each_tap_reads_the_clip_as_it_lies_or_a_time_major_slice(
    frames, kernel_size, padding, buffered, transposes
):
    # _sum_over_taps: where the taps leave at most a static clip's frames unread,
    # they convolve it as it lies (no transpose); otherwise slices of the
    # time-major clip (one transpose in, one back in the XLA sum). Same results.
    layer = depthwise_conv3d(kernel_size, strides=(1, 2, 2), padding=padding, buffered=buffered)
    clip = random_clip((2, frames, 9, 8, CHANNELS), frames)
    want = layer(clip).numpy()
    use_fast_depthwise_conv3d(layer)
    forward = tf.function(layer).get_concrete_function(tf.TensorSpec(clip.shape))
    assert op_counts(forward)["Transpose"] == transposes
    got = forward(clip).numpy()
    assert got.shape == want.shape
    assert max_abs_diff(got, want) <= TOLERANCE


def test_gradients_match_model_garden():
    """Fine-tuning through the switched layers trains the same way."""
    layer = depthwise_conv3d((3, 3, 3), strides=(1, 2, 2), padding="causal", buffered=True)
    clip = random_clip((2, 7, 13, 11, CHANNELS), 9)

    def gradients():
        with tf.GradientTape() as tape:
            tape.watch(clip)
            loss = tf.reduce_sum(tf.square(layer(clip)))
        return [g.numpy() for g in tape.gradient(loss, [clip, *layer.trainable_weights])]

    expected = gradients()
    use_fast_depthwise_conv3d(layer)
    for got, want in zip(gradients(), expected, strict=True):
        assert max_abs_diff(got, want) <= TOLERANCE * max(1.0, float(np.abs(want).max()))


def test_switch_keeps_variables_and_config():
    layer = depthwise_conv3d((3, 3, 3), padding="causal", buffered=True)
    before = [(v.name, v.shape, v.numpy()) for v in layer.weights]
    config = layer.get_config()
    use_fast_depthwise_conv3d(layer)
    after = [(v.name, v.shape, v.numpy()) for v in layer.weights]
    assert [b[:2] for b in before] == [a[:2] for a in after]
    assert all(np.array_equal(b[2], a[2]) for b, a in zip(before, after, strict=True))
    assert layer.get_config() == config
    assert use_fast_depthwise_conv3d(layer) == 0  # idempotent


def test_non_depthwise_and_dilated_convs_are_left_alone():
    dense = nn_layers.Conv3D(8, 3, padding="same")
    grouped = nn_layers.Conv3D(8, 3, padding="same", groups=2)  # 3 channels per group
    dilated = nn_layers.Conv3D(CHANNELS, 3, padding="same", groups=CHANNELS, dilation_rate=2)
    depthwise = nn_layers.Conv3D(CHANNELS, 3, padding="same", groups=CHANNELS)
    inputs = tf_keras.Input((None, 8, 8, CHANNELS))
    model = tf_keras.Model(
        inputs, [dense(inputs), grouped(inputs), dilated(inputs), depthwise(inputs)]
    )
    assert use_fast_depthwise_conv3d(model) == 1
    assert [type(layer) for layer in (dense, grouped, dilated)] == [nn_layers.Conv3D] * 3
    assert type(depthwise) is DepthwiseConv3DAsConv2DSum


def test_unbuilt_grouped_conv_is_refused():
    layer = nn_layers.Conv3D(CHANNELS, 3, padding="same", groups=CHANNELS)
    with pytest.raises(ValueError, match="not built"):
        use_fast_depthwise_conv3d(layer)


def conv_model():
    """A small functional model, as our Trainer wraps a backbone: depthwise then dense."""
    inputs = tf_keras.Input((None, None, None, CHANNELS))
    x = nn_layers.Conv3D(CHANNELS, (3, 3, 3), strides=(1, 2, 2), padding="causal", groups=CHANNELS)(
        inputs
    )
    x = nn_layers.Conv3D(4, 1)(x)
    return tf_keras.Model(inputs, x)


def op_counts(concrete_function) -> collections.Counter:
    """How many ops of each type the function's graph holds, nested functions included."""
    graph_def = concrete_function.graph.as_graph_def()
    counts = collections.Counter(node.op for node in graph_def.node)
    for function in graph_def.library.function:
        counts.update(node.op for node in function.node_def)
    return counts


def test_saved_model_export_uses_2d_convolutions(tmp_path):
    model = conv_model()
    clips = [random_clip((1, 5, 9, 9, CHANNELS), 3), random_clip((2, 8, 16, 12, CHANNELS), 4)]
    expected = [model(clip).numpy() for clip in clips]
    use_fast_depthwise_conv3d(model)

    class Exporter(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, CHANNELS])])
        def serve(self, clip):
            return {"features": self.model(clip, training=False)}

    exporter = Exporter(model)
    ops = op_counts(exporter.serve.get_concrete_function())
    assert ops["DepthwiseConv2dNative"] == 3  # one per temporal tap
    assert ops["Conv3D"] == 1  # the dense 1x1x1 convolution stays 3D
    tf.saved_model.save(exporter, str(tmp_path), signatures={"serving_default": exporter.serve})
    serve = tf.saved_model.load(str(tmp_path)).signatures["serving_default"]
    for clip, want in zip(clips, expected, strict=True):
        assert max_abs_diff(serve(clip=clip)["features"], want) <= TOLERANCE


def test_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = conv_model()
    clip = random_clip((2, 6, 11, 11, CHANNELS), 5)
    expected = model(clip).numpy()
    use_fast_depthwise_conv3d(model)

    @tf.function
    def step(clip):
        return strategy.run(lambda x: model(x, training=False), args=(clip,))

    result = strategy.gather(step(clip), axis=0)
    assert max_abs_diff(result, expected) <= TOLERANCE


# Whole MoViNet A0 backbones (each takes ~20 s to build on 2 cores).


@pytest.fixture(scope="module")
def base_a0():
    """A0 base classifier, its endpoints/logits before the switch, and a checkpoint."""
    from trainer.architecture import arch_for, build_backbone, build_classifier

    arch = arch_for("a0", "base")
    backbone = build_backbone(arch)
    classifier = build_classifier(backbone, arch, num_classes=5)
    randomize_non_kernel_weights(classifier)
    clips = [random_clip((2, 8, 64, 64, 3), 6), random_clip((1, 5, 48, 40, 3), 7)]
    clips = [tf.math.sigmoid(clip) for clip in clips]  # RGB in [0, 1]
    endpoints = [
        {k: v.numpy() for k, v in backbone(clip, training=False)[0].items()} for clip in clips
    ]
    logits = [classifier(clip, training=False).numpy() for clip in clips]
    return dict(
        backbone=backbone, classifier=classifier, clips=clips, endpoints=endpoints, logits=logits
    )


@pytest.mark.slow
def test_a0_base_backbone_matches_model_garden(base_a0, tmp_path):
    backbone, classifier = base_a0["backbone"], base_a0["classifier"]
    checkpoint = tf.train.Checkpoint(model=classifier)
    path = checkpoint.save(str(tmp_path / "before"))
    assert use_fast_depthwise_conv3d(classifier) == 15  # through the classifier to the backbone

    forward = tf.function(
        lambda clip: backbone(clip, training=False)[0],
        input_signature=[tf.TensorSpec([None, None, None, None, 3])],
    )
    for clip, want, logits in zip(
        base_a0["clips"], base_a0["endpoints"], base_a0["logits"], strict=True
    ):
        got = forward(clip)
        diffs = {name: max_abs_diff(got[name], want[name]) for name in want}
        assert max(diffs.values()) <= TOLERANCE, diffs
        assert max_abs_diff(classifier(clip, training=False), logits) <= TOLERANCE

    # The checkpoint layout is unchanged: a checkpoint written before restores after.
    for var in backbone.trainable_variables:
        var.assign(tf.zeros_like(var))
    tf.train.Checkpoint(model=classifier).restore(path).assert_existing_objects_matched()
    clip, logits = base_a0["clips"][0], base_a0["logits"][0]
    assert max_abs_diff(classifier(clip, training=False), logits) <= TOLERANCE


@pytest.mark.slow
def test_stream_architecture_has_no_depthwise_conv3d():
    """Our stream arch is (2+1)D: its depthwise convolutions are 2D already."""
    from trainer.architecture import arch_for, build_backbone

    assert use_fast_depthwise_conv3d(build_backbone(arch_for("a0", "stream"))) == 0


@pytest.mark.slow
def test_causal_3d_backbone_matches_model_garden_whole_clip_and_streaming():
    """Causal '3d' A0: 'causal' padding, stream buffers (`use_buffered_input`), states."""
    from official.projects.movinet.modeling import movinet

    backbone = movinet.Movinet(model_id="a0", causal=True, conv_type="3d", use_external_states=True)
    randomize_non_kernel_weights(backbone, seed=1)
    clip = tf.math.sigmoid(random_clip((1, 4, 48, 48, 3), 8))
    init_states = backbone.init_states(tf.shape(clip))

    def run(clip):
        whole, _ = backbone({**init_states, "image": clip}, training=False)
        states, heads = init_states, []
        for frame in tf.split(clip, clip.shape[1], axis=1):
            out, states = backbone({**states, "image": frame}, training=False)
            heads.append(out["head"].numpy())
        return {k: v.numpy() for k, v in whole.items()}, np.stack(heads), states

    want_whole, want_heads, want_states = run(clip)
    buffered = [
        layer
        for layer in backbone.submodules
        if type(layer) is nn_layers.Conv3D and layer.groups > 1 and layer.use_buffered_input
    ]
    assert buffered, "expected stream-buffered depthwise convolutions"
    assert use_fast_depthwise_conv3d(backbone) == 15
    got_whole, got_heads, got_states = run(clip)
    diffs = {name: max_abs_diff(got_whole[name], want_whole[name]) for name in want_whole}
    assert max(diffs.values()) <= TOLERANCE, diffs
    assert max_abs_diff(got_heads, want_heads) <= TOLERANCE
    assert max(max_abs_diff(got_states[k], want_states[k]) for k in want_states) <= TOLERANCE


# Ungrouped convolutions (1x1x1 as a matmul, others as 2D convolutions): use_fast_conv3d.

DENSE_CASES = {
    "1x1x1": dict(kernel_size=(1, 1, 1)),
    "1x1x1 causal": dict(kernel_size=(1, 1, 1), padding="causal"),
    "1x1x1 stride 1,2,2": dict(kernel_size=(1, 1, 1), strides=(1, 2, 2)),
    "stem 1x3x3 stride 1,2,2": dict(kernel_size=(1, 3, 3), strides=(1, 2, 2)),
    "3x3x3 causal buffered": dict(kernel_size=(3, 3, 3), padding="causal", use_buffered_input=True),
    "3x3x3 valid stride 2": dict(kernel_size=(3, 3, 3), strides=2, padding="valid"),
}


@pytest.mark.parametrize("case", DENSE_CASES.values(), ids=DENSE_CASES.keys())
def test_dense_layer_matches_model_garden(case):
    layer = nn_layers.Conv3D(5, bias_initializer="random_normal", **{"padding": "same", **case})
    layer.build([None, None, None, None, CHANNELS])
    clips = [random_clip((2, 7, 13, 11, CHANNELS), 1), random_clip((1, 4, 10, 12, CHANNELS), 2)]
    expected = [layer(clip).numpy() for clip in clips]

    assert use_fast_conv3d(layer) == 1
    assert type(layer) is Conv3DAsConv2D
    dynamic = tf.function(layer, input_signature=[tf.TensorSpec([None] * 4 + [CHANNELS])])
    for clip, want in zip(clips, expected, strict=True):
        for got in (layer(clip).numpy(), dynamic(clip).numpy()):
            assert got.shape == want.shape
            assert max_abs_diff(got, want) <= 1e-5
    assert use_fast_conv3d(layer) == 0  # idempotent


def test_fast_conv3d_graph_has_no_conv3d():
    model = conv_model()
    use_fast_conv3d(model)
    fn = tf.function(model, input_signature=[tf.TensorSpec([None, None, None, None, CHANNELS])])
    ops = op_counts(fn.get_concrete_function())
    assert ops["Conv3D"] == 0 and ops["MatMul"] == 1


@pytest.mark.slow
def test_a0_base_all_convolutions_match_model_garden_1e5(base_a0):
    """Issue 15: the whole fast path (depthwise, pointwise, stem) within 1e-5."""
    backbone, classifier = base_a0["backbone"], base_a0["classifier"]
    use_fast_conv3d(classifier)
    assert not [layer for layer in backbone.submodules if type(layer) is nn_layers.Conv3D]
    forward = tf.function(
        lambda clip: backbone(clip, training=False)[0],
        input_signature=[tf.TensorSpec([None, None, None, None, 3])],
    )
    for clip, want in zip(base_a0["clips"], base_a0["endpoints"], strict=True):
        got = forward(clip)
        diffs = {name: max_abs_diff(got[name], want[name]) for name in want}
        assert diffs["head"] <= 1e-5, diffs
