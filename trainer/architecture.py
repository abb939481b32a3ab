"""MoViNet architectures: the constructor arguments each checkpoint kind fits.

`Movinet.get_config()` drops `se_type`, `gating_activation` and
`average_pooling_type`, so the arguments are kept here, as data, and every model
is built from them.
"""

from __future__ import annotations

import contextlib
import dataclasses

MODEL_IDS = ("a0", "a1", "a2")
VARIANTS = ("base", "stream")
KINETICS_CLASSES = 600  # Model Garden's checkpoints are Kinetics-600 classifiers


@dataclasses.dataclass(frozen=True)
class MovinetArch:
    """The arguments of `movinet.Movinet` and of the classifier head's activation."""

    model_id: str = "a0"
    causal: bool = False
    conv_type: str = "3d"
    se_type: str = "3d"
    activation: str = "swish"
    gating_activation: str = "sigmoid"
    head_activation: str = "swish"

    @property
    def variant(self) -> str:
        return "stream" if self.causal else "base"

    @property
    def checkpoint_name(self) -> str:
        """Model Garden's name of the matching checkpoint, e.g. movinet_a0_base."""
        return f"movinet_{self.model_id}_{self.variant}"


def arch_for(model_id: str, variant: str) -> MovinetArch:
    """The architecture Model Garden's `base` or `stream` checkpoint of `model_id` fits.

    Base checkpoints: non-causal, 3D convolutions, swish. Stream checkpoints:
    causal (2+1)D convolutions, 2D+3D squeeze-excitation, hard swish/sigmoid.
    """
    if model_id not in MODEL_IDS:
        raise ValueError(f"model_id must be one of {MODEL_IDS}, got {model_id!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "base":
        return MovinetArch(model_id=model_id)
    return MovinetArch(
        model_id=model_id,
        causal=True,
        conv_type="2plus1d",
        se_type="2plus3d",
        activation="hard_swish",
        gating_activation="hard_sigmoid",
        head_activation="hard_swish",
    )


@contextlib.contextmanager
def _without_autograph():
    """Keras wraps every subclassed layer's call in autograph while it builds the
    functional graph; MoViNet's layers need none (their control flow is on Python
    values), and turning it off builds the same variables 4-5x faster on CPU."""
    from tensorflow.python.autograph.core import ag_ctx

    with ag_ctx.ControlStatusCtx(status=ag_ctx.Status.DISABLED):
        yield


@contextlib.contextmanager
def _conv3d_without_xla_function():
    """Model Garden's `nn_layers.Conv3D.call` wraps the convolution in a new
    `tf.function(jit_compile=True)` on every call, so building the functional graph
    traced 99 functions (2.6 s of A0's 3.9 s build on 2 cores) only for the output
    shapes. While the graph is built, the layers call Keras' Conv3D directly (the
    same op and shapes, nothing executes); calls after the build are Model
    Garden's again."""
    import tf_keras
    from official.vision.modeling.layers import nn_layers

    call = nn_layers.Conv3D.call
    nn_layers.Conv3D.call = lambda self, inputs: tf_keras.layers.Conv3D.call(self, inputs)
    try:
        yield
    finally:
        nn_layers.Conv3D.call = call


def build_backbone(arch: MovinetArch, use_external_states: bool | None = None):
    """A `movinet.Movinet` backbone for `arch` (tf_keras, Keras 2)."""
    from official.projects.movinet.modeling import movinet

    with _without_autograph(), _conv3d_without_xla_function():
        return movinet.Movinet(
            model_id=arch.model_id,
            causal=arch.causal,
            conv_type=arch.conv_type,
            se_type=arch.se_type,
            activation=arch.activation,
            gating_activation=arch.gating_activation,
            use_sync_bn=False,
            use_external_states=arch.causal if use_external_states is None else use_external_states,
        )


def layers_of(model) -> list:
    """`model` and every Keras layer inside it, nested ones included: the layers of
    `model.submodules`, from Keras' own layer tracking (`Layer._flatten_layers`,
    tf_keras 2.x) in ~1 ms; `tf.Module.submodules` walks every attribute and
    weight and took ~75 ms for A0 base on 2 cores, and the backbone's build ran
    it five times. `tests/trainer/test_model.py` checks both give the same layers."""
    return list(model._flatten_layers(include_self=True, recursive=True))


def build_classifier(backbone, arch: MovinetArch, num_classes: int, dropout_rate: float = 0.0):
    """Model Garden's `MovinetClassifier` over `backbone` (built for 5-D input)."""
    from official.projects.movinet.modeling import movinet_model

    with _without_autograph():
        model = movinet_model.MovinetClassifier(
            backbone=backbone,
            num_classes=num_classes,
            output_states=arch.causal,
            activation=arch.head_activation,
            dropout_rate=dropout_rate,
        )
        model.build([None, None, None, None, 3])
    return model
