"""Restoring a Model Garden MoViNet checkpoint into our architecture, strictly.

`trainer/checkpoint.py` finds the checkpoint (folder, prefix, archive, URL) and
gives its local prefix; this module restores it: every variable of Model Garden's
600-class Kinetics classifier (`tf.train.Checkpoint(model=MovinetClassifier)`) must
be matched by shape before anything is assigned, and a mismatch is explained (the
likely model id or variant) rather than left to TensorFlow's page of warnings.
"""

from __future__ import annotations

from absl import logging

from trainer.architecture import KINETICS_CLASSES, MovinetArch, build_backbone, build_classifier
from trainer.checkpoint import CheckpointError, short_error

_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"  # the suffix of a variable's checkpoint key


def build_kinetics_classifier(arch: MovinetArch, num_classes: int = KINETICS_CLASSES):
    """(backbone, classifier) of `arch`, the classifier in the shape of Model Garden's."""
    backbone = build_backbone(arch)
    return backbone, build_classifier(backbone, arch, num_classes)


def restore_pretrained(arch: MovinetArch, checkpoint_prefix: str):
    """The backbone of `arch` (a tf_keras Model) with the checkpoint's weights restored.

    Raises CheckpointError when the checkpoint does not fit `arch` exactly (every
    variable of the 600-class classifier must be matched).
    """
    import tensorflow as tf

    found = _checkpoint_shapes(checkpoint_prefix)
    backbone, classifier = build_kinetics_classifier(arch)
    root = tf.train.Checkpoint(model=classifier)
    expected = _variable_shapes(root)
    # Compared before restoring: a restore that fails half way has already assigned the
    # variables it matched, and TF logs every value it left over.
    missing = sorted(k for k in expected if k not in found)
    reshaped = sorted(k for k in expected if k in found and found[k] != expected[k])
    if missing or reshaped:
        diff = _describe_diff(expected, found, missing, reshaped)
        raise _mismatch(checkpoint_prefix, arch, found, len(expected), diff)
    status = None
    try:
        status = root.restore(checkpoint_prefix)
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, IndexError) as e:  # read whole above: changed since
        raise CheckpointError(
            f"cannot read the values of checkpoint {checkpoint_prefix!r}: {short_error(e)}; "
            "expected intact .data-* files beside the .index (a copy or download may have "
            "been cut short); fetch the checkpoint again"
        ) from e
    except (AssertionError, ValueError) as e:
        if status is not None:
            status.expect_partial()
        diff = f"TensorFlow said: {short_error(e)}"
        raise _mismatch(checkpoint_prefix, arch, found, len(expected), diff) from e
    status.expect_partial()  # e.g. the checkpoint's save_counter: not part of the model
    logging.info("restored %s from %s", arch.checkpoint_name, checkpoint_prefix)
    return backbone


def _checkpoint_shapes(prefix: str) -> dict[str, list[int]]:
    """Checkpoint key -> shape of every variable saved under `prefix`, all values read.

    Reading every value first (checksums included) reports a damaged or truncated data
    file before the slow model build, and as what it is rather than as a mismatch.
    """
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(
            f"cannot read a checkpoint at prefix {prefix!r}: {short_error(e)}; expected "
            f"{prefix}.index and {prefix}.data-* files; pass the prefix resolve_checkpoint "
            "returns"
        ) from e
    shapes = reader.get_variable_to_shape_map()
    for key in shapes:
        try:
            reader.get_tensor(key)
        # A short data file surfaces as IndexError ("Read less bytes than requested").
        except (tf.errors.OpError, IndexError, ValueError) as e:
            raise CheckpointError(
                f"cannot read the values of checkpoint {prefix!r} ({key}: {short_error(e)}); "
                "expected intact .data-* files beside the .index (a copy or download may "
                "have been cut short); fetch the checkpoint again"
            ) from e
    return shapes


def _variable_shapes(root) -> dict[str, list[int]]:
    """Checkpoint key -> shape of every variable `root` would save.

    Keys are the object paths a checkpoint uses: each object's first path in a
    breadth-first walk, as TF's saver names them.
    """
    import tensorflow as tf

    view = tf.train.TrackableView(root)
    shapes, queue, seen = {}, [(root, ())], {id(root)}
    while queue:
        obj, path = queue.pop(0)
        if isinstance(obj, tf.Variable):
            shapes["/".join(path) + _VALUE] = obj.shape.as_list()
        for name, child in view.children(obj).items():
            if id(child) not in seen:
                seen.add(id(child))
                queue.append((child, (*path, name)))
    return shapes


def _describe_diff(expected, found, missing: list[str], reshaped: list[str]) -> str:
    parts = []
    if missing:
        parts.append(
            f"{len(missing)} of the {len(expected)} variables are not in the checkpoint "
            f"(e.g. {_key(missing[0])})"
        )
    if reshaped:
        k = reshaped[0]
        parts.append(
            f"{len(reshaped)} have another shape (e.g. {_key(k)}: {found[k]} in the "
            f"checkpoint, {expected[k]} in the model)"
        )
    return "; ".join(parts)


def _key(key: str) -> str:
    return key.removesuffix(_VALUE).removeprefix("model/")


def _mismatch(prefix: str, arch: MovinetArch, found, expected_count: int, diff: str):
    return CheckpointError(
        f"checkpoint {prefix!r} does not fit the {arch.checkpoint_name} architecture "
        f"(expected Model Garden's {arch.checkpoint_name} checkpoint): "
        f"{_likely_cause(found, arch, expected_count)}. {diff}"
    )


def _likely_cause(found: dict[str, list[int]], arch: MovinetArch, expected_count: int) -> str:
    """A guess at why a checkpoint does not fit, from its variable names and shapes."""
    shapes = {n: s for n, s in found.items() if n.startswith("model/")}
    if not shapes:
        return (
            "it holds no `model` variables, so it was not saved as "
            "tf.train.Checkpoint(model=...) like Model Garden's MoViNet checkpoints"
        )
    heads = [s for n, s in shapes.items() if "/_classifier/" in n and "kernel" in n]
    if heads and heads[0][-1] != KINETICS_CLASSES:
        return (
            f"it is a {heads[0][-1]}-class classifier, not a {KINETICS_CLASSES}-class "
            "Kinetics one (a fine-tuned model?); pass Model Garden's pretrained checkpoint"
        )
    # (2+1)D convolutions nest a second conv layer: `_stem/_conv/_conv/kernel`.
    stream_like = any("/_stem/_conv/_conv/" in n for n in shapes)
    if stream_like != arch.causal:
        kind = "stream" if stream_like else "base"
        return (
            f"it looks like a {kind} checkpoint and the {arch.variant} architecture was asked "
            f"for; use movinet_{arch.model_id}_{arch.variant}, or set the variant to {kind}"
        )
    return (
        f"it holds {len(shapes)} model variables where {arch.checkpoint_name} has "
        f"{expected_count}: it is likely another model id; use the "
        f"{arch.checkpoint_name} checkpoint or set the model id to the checkpoint's"
    )
