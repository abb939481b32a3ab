"""Inference BatchNorm folded into the fast convolutions: same weights, same results.

Each test computes Model Garden's output first (ConvBlock: Conv3D -> BatchNorm ->
activation), switches with `use_fast_conv3d` then `use_folded_batch_norm`, and
compares on the same weights and inputs.
"""

import pytest
import tensorflow as tf
from official.projects.movinet.modeling import movinet_layers
from official.vision.modeling.layers import nn_layers

from tests.trainer.test_fast_conv import (
    max_abs_diff,
    op_counts,
    random_clip,
    randomize_non_kernel_weights,
)
from trainer.fast_conv import use_fast_conv3d
from trainer.folded_batch_norm import (
    FoldedConvBlock,
    FoldedStreamConvBlock,
    use_folded_batch_norm,
)

CHANNELS = 6
BLOCK_CASES = {
    "pointwise, swish": dict(filters=10, kernel_size=(1, 1, 1), activation="swish"),
    "pointwise, no activation": dict(filters=10, kernel_size=(1, 1, 1), activation=None),
    "stem 1x3x3 stride 1,2,2, relu": dict(
        filters=8, kernel_size=(1, 3, 3), strides=(1, 2, 2), activation="relu"
    ),
    "depthwise 3x3x3": dict(filters=CHANNELS, kernel_size=(3, 3, 3), depthwise=True),
    "depthwise 5x3x3 stride 1,2,2 causal": dict(
        filters=CHANNELS, kernel_size=(5, 3, 3), strides=(1, 2, 2), depthwise=True, causal=True
    ),
    "depthwise 1x5x5 (one tap)": dict(filters=CHANNELS, kernel_size=(1, 5, 5), depthwise=True),
}


def conv_block(stream=False, **kwargs):
    kwargs = {"activation": "swish", "conv_type": "3d", **kwargs}
    cls = movinet_layers.StreamConvBlock if stream else movinet_layers.ConvBlock
    block = cls(**kwargs)
    block(tf.zeros([1, 5, 8, 8, CHANNELS]))  # builds the conv and BatchNorm in it
    randomize_non_kernel_weights(block, seed=3)  # BatchNorm statistics not the identity
    return block


def call(block, clip, training=False):
    out = block(clip, training=training)
    return out[0] if isinstance(out, tuple) else out


CLIPS = [((2, 7, 13, 11, CHANNELS), 1), ((1, 4, 10, 12, CHANNELS), 2)]


@pytest.mark.parametrize("stream", [False, True], ids=["ConvBlock", "StreamConvBlock"])
@pytest.mark.parametrize("case", BLOCK_CASES.values(), ids=BLOCK_CASES.keys())
def test_block_matches_model_garden(case, stream):
    block = conv_block(stream, **case)
    clips = [random_clip(shape, seed) for shape, seed in CLIPS]
    expected = [call(block, clip).numpy() for clip in clips]

    assert use_fast_conv3d(block) == 1
    assert use_folded_batch_norm(block) == 1
    assert type(block) is (FoldedStreamConvBlock if stream else FoldedConvBlock)
    dynamic = tf.function(
        lambda clip: call(block, clip), input_signature=[tf.TensorSpec([None] * 4 + [CHANNELS])]
    )
    for clip, want in zip(clips, expected, strict=True):
        for got in (call(block, clip).numpy(), dynamic(clip).numpy()):
            assert got.shape == want.shape
            assert max_abs_diff(got, want) <= 1e-5
    assert use_folded_batch_norm(block) == 0  # idempotent


def test_inference_graph_has_no_batch_norm_and_fuses_bias_and_swish():
    block = conv_block(filters=10, kernel_size=(1, 1, 1))
    use_fast_conv3d(block)
    spec = [tf.TensorSpec([None] * 4 + [CHANNELS])]

    def inference_ops():
        function = tf.function(lambda x: block(x, training=False), spec)
        return op_counts(function.get_concrete_function())

    assert inference_ops()["FusedBatchNormV3"] == 1
    use_folded_batch_norm(block)
    folded = inference_ops()
    assert folded["FusedBatchNormV3"] == 0 and folded["Conv2D"] == 1 and folded["BiasAdd"] == 1
    assert folded["Sigmoid"] == 1  # swish as x * sigmoid(x), which the remapper fuses


def test_training_with_trainable_batch_norm_uses_batch_statistics():
    """Training mode: Model Garden's call, batch statistics and moving averages."""
    reference = conv_block(filters=10, kernel_size=(3, 3, 3))
    block = conv_block(filters=10, kernel_size=(3, 3, 3))
    for var, ref in zip(block.variables, reference.variables, strict=True):
        var.assign(ref)
    use_fast_conv3d(block)
    use_folded_batch_norm(block)
    clip = random_clip((2, 5, 9, 9, CHANNELS), 4)
    want = reference(clip, training=True).numpy()
    mean_before = block._batch_norm.moving_mean.numpy()
    got = block(clip, training=True).numpy()
    assert max_abs_diff(got, want) <= 1e-5
    assert max_abs_diff(block._batch_norm.moving_mean, reference._batch_norm.moving_mean) <= 1e-6
    assert max_abs_diff(block._batch_norm.moving_mean, mean_before) > 1e-4  # it moved

    # Frozen (trainable False): BatchNorm runs in inference even when training.
    block.trainable = reference.trainable = False
    want = reference(clip, training=True).numpy()
    assert max_abs_diff(block(clip, training=True), want) <= 1e-5
    spec = [tf.TensorSpec([None] * 4 + [CHANNELS])]
    frozen = tf.function(lambda x: block(x, training=True), spec).get_concrete_function()
    assert op_counts(frozen)["FusedBatchNormV3"] == 0


def test_blocks_left_alone():
    """No BatchNorm, a Model Garden Conv3D (not switched), and (2+1)D blocks keep their class."""
    no_bn = conv_block(filters=4, kernel_size=(1, 1, 1), use_batch_norm=False)
    use_fast_conv3d(no_bn)
    unswitched = conv_block(filters=4, kernel_size=(1, 1, 1))
    two_plus_one = conv_block(filters=CHANNELS, kernel_size=(3, 3, 3), conv_type="2plus1d")
    use_fast_conv3d(two_plus_one)
    for block in (no_bn, unswitched, two_plus_one):
        kind = type(block)
        assert use_folded_batch_norm(block) == 0
        assert type(block) is kind


@pytest.mark.slow
def test_a0_base_matches_model_garden_1e5_and_keeps_checkpoint_layout(tmp_path):
    """Issue 15: A0 base, fast convs and folded BatchNorm, head within 1e-5 of Model Garden."""
    from trainer.architecture import arch_for, build_backbone

    backbone = build_backbone(arch_for("a0", "base"))
    randomize_non_kernel_weights(backbone)
    clips = [tf.math.sigmoid(random_clip((2, 8, 64, 64, 3), 6))]
    clips.append(tf.math.sigmoid(random_clip((1, 5, 48, 40, 3), 7)))
    expected = [backbone(clip, training=False)[0] for clip in clips]
    expected = [{k: v.numpy() for k, v in endpoints.items()} for endpoints in expected]
    path = tf.train.Checkpoint(model=backbone).save(str(tmp_path / "before"))

    use_fast_conv3d(backbone)
    assert use_folded_batch_norm(backbone) == 51  # every Conv3D + BatchNorm pair of A0
    unfolded = [b for b in backbone.submodules if type(b) is movinet_layers.ConvBlock]
    assert not [block for block in unfolded if block._batch_norm]  # only SE's, without BN
    assert not [layer for layer in backbone.submodules if type(layer) is nn_layers.Conv3D]
    forward = tf.function(
        lambda clip: backbone(clip, training=False)[0],
        input_signature=[tf.TensorSpec([None, None, None, None, 3])],
    )
    for clip, want in zip(clips, expected, strict=True):
        got = forward(clip)
        diffs = {name: max_abs_diff(got[name], want[name]) for name in want}
        assert diffs["head"] <= 1e-5, diffs
    assert op_counts(forward.get_concrete_function())["FusedBatchNormV3"] == 0

    for var in backbone.variables:
        var.assign(tf.zeros_like(var))
    tf.train.Checkpoint(model=backbone).restore(path).assert_existing_objects_matched()
    got = backbone(clips[0], training=False)[0]["head"].numpy()
    assert max_abs_diff(got, expected[0]["head"]) <= 1e-5


def test_build_backbone_restores_model_garden_conv3d_call():
    """The build calls Keras' Conv3D without Model Garden's per-call XLA function, and
    puts Model Garden's call back after (also when the build fails)."""
    from trainer.architecture import MovinetArch, arch_for, build_backbone

    call = nn_layers.Conv3D.call
    build_backbone(arch_for("a0", "base"))
    assert nn_layers.Conv3D.call is call
    with pytest.raises(Exception):  # noqa: B017 - any error from Model Garden
        build_backbone(MovinetArch(model_id="a99"))
    assert nn_layers.Conv3D.call is call
