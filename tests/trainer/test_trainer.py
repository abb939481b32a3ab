"""The Trainer end to end on records the ingest writes: train, export, and the
exported signatures (agreement, streaming equivalence, input errors)."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from components.config_loader import ConfigError
from components.training_summary import SUMMARY_FILE, WEIGHTS_HASH_FILE, TrainingSummary
from tests.builders.trained_model import RES, eval_records, train
from trainer import determinism, run
from trainer.config import TrainerConfig

pytestmark = pytest.mark.slow


def read_summary(model_run_dir) -> TrainingSummary:
    with open(os.path.join(model_run_dir, SUMMARY_FILE)) as f:
        return TrainingSummary.from_json(f.read())


def test_run_fn_writes_model_summary_and_tensorboard_logs(stream_model):
    fn_args, model = stream_model
    summary = read_summary(fn_args.model_run_dir)
    assert summary.labels == ("SlideLeft", "SlideRight", "SlideUp")
    assert len(summary.history["loss"]) == 2
    assert 0.0 <= summary.eval_multi_clip_accuracy <= 1.0
    assert summary.checkpoint == "random_init"
    assert list(summary.phases) == ["build_s", "features_s", "fit_s", "export_s"]  # frozen
    # The hash the run summary prints is that of the exported variables.
    hash_file = os.path.join(os.path.dirname(fn_args.serving_model_dir), WEIGHTS_HASH_FILE)
    with open(hash_file) as f:
        assert f.read().strip() == summary.weights_sha256
    assert determinism.weights_hash(model.model_variables) == summary.weights_sha256
    assert glob.glob(
        os.path.join(fn_args.model_run_dir, "**", "events.out.tfevents.*"), recursive=True
    )
    assert set(model.signatures) == {
        "serving_default",
        "frames",
        "labels",
        "frame_contract",
        "init_states",
        "stream_step",
    }
    labels = model.signatures["labels"]()["labels"].numpy().tolist()
    assert labels == [b"SlideLeft", b"SlideRight", b"SlideUp"]


def test_serving_default_agrees_with_frames_signature(stream_model, examples_dir):
    from components.ingest import records
    from trainer import video_input

    _, model = stream_model
    serialized = eval_records(examples_dir)
    served = model.signatures["serving_default"](examples=tf.constant(serialized))
    assert served["probabilities"].shape == (3, 3)
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
    assert served["top_k_labels"].shape == (3, 2)

    for i, data in enumerate(serialized):
        record = records.from_example_bytes(data)
        starts = video_input.spread_starts(tf.constant(record.num_real_frames), 4, 2)
        clips = video_input.decode_windows(tf.constant(record.jpeg_frames), starts, 4, RES)
        per_view = model.signatures["frames"](frames=clips)["probabilities"].numpy()
        np.testing.assert_allclose(per_view.mean(0), served["probabilities"][i], atol=1e-5)
        # Two views: the centre window is decoded as an extra one for single-clip scores.
        centre = video_input.spread_starts(tf.constant(record.num_real_frames), 4, 1)
        clip = video_input.decode_windows(tf.constant(record.jpeg_frames), centre, 4, RES)
        single = model.signatures["frames"](frames=clip)["probabilities"].numpy()[0]
        np.testing.assert_allclose(single, served["single_clip_probabilities"][i], atol=1e-5)
        top = served["top_k_indices"][i].numpy()
        assert (
            served["top_k_labels"][i, 0].numpy().decode()
            == (["SlideLeft", "SlideRight", "SlideUp"][top[0]])
        )


def test_one_eval_forward_trace_serves_validation_multi_clip_eval_and_export(
    examples_dir, tmp_path
):
    """A trace of MoViNet's forward pass takes seconds: Keras' per-epoch validation,
    the multi-clip evaluation after the fit and every exported classifying signature
    share the classifier's one (`inference_logits`), and the export still agrees with
    the classifier."""
    from tests.builders.trained_model import patterns
    from trainer.export import export_model

    config = TrainerConfig(
        variant="stream",
        random_init=True,
        trainable_blocks=-1,
        resolution=RES,
        window_frames=4,
        epochs=1,
        batch_size=4,
        eval_views=2,
        serving_top_k=2,
        tflite="none",
    )
    train_files = patterns(examples_dir, "train")
    labels = run.labels_of(train_files)
    classifier, arch, summary = run.train(
        config, train_files, patterns(examples_dir, "eval"), labels, str(tmp_path / "run")
    )
    assert len(summary["history"]["val_loss"]) == 1  # the validation ran
    export_model(classifier, labels, config, arch, str(tmp_path / "serving"))
    assert classifier.inference_logits.experimental_get_tracing_count() == 1

    model = tf.saved_model.load(str(tmp_path / "serving"))
    clips = tf.random.stateless_uniform([2, 4, RES, RES, 3], seed=[1, 2])
    served = model.signatures["frames"](frames=clips)["probabilities"]
    expected = tf.nn.softmax(classifier(clips, training=False))
    np.testing.assert_allclose(served.numpy(), expected.numpy(), atol=1e-5)


def test_stream_frame_by_frame_equals_whole_clip(stream_model):
    _, model = stream_model
    clip = tf.random.uniform([2, 7, RES, RES, 3], seed=3)
    whole = model.signatures["frames"](frames=clip)["probabilities"].numpy()
    states = model.signatures["init_states"](input_shape=tf.constant([2, 1, RES, RES, 3]))
    for t in range(7):
        out = model.signatures["stream_step"](image=clip[:, t : t + 1], **states)
        states = {k: v for k, v in out.items() if k.startswith("state")}
    np.testing.assert_allclose(out["probabilities"].numpy(), whole, atol=1e-4)
    # Several frames per step give the same result too.
    states = model.signatures["init_states"](input_shape=tf.constant([2, 1, RES, RES, 3]))
    for t in (0, 3):
        out = model.signatures["stream_step"](image=clip[:, t : t + 4 if t else 3], **states)
        states = {k: v for k, v in out.items() if k.startswith("state")}
    np.testing.assert_allclose(out["probabilities"].numpy(), whole, atol=1e-4)


@pytest.mark.parametrize(
    "shape, error, message",
    [
        ([1, 4, RES, RES, 4], tf.errors.InvalidArgumentError, "3 \\(RGB\\) channels"),
        ([1, 0, RES, RES, 3], tf.errors.InvalidArgumentError, "empty clip"),
        ([4, RES, RES, 3], tf.errors.InvalidArgumentError, "wrong rank"),
    ],
)
def test_bad_frames_fail_at_the_signature_with_a_message(stream_model, shape, error, message):
    _, model = stream_model
    with pytest.raises(error, match=message):
        model.signatures["frames"](frames=tf.zeros(shape))
    with pytest.raises(error, match=message):
        states = model.signatures["init_states"](input_shape=tf.constant([1, 1, RES, RES, 3]))
        model.signatures["stream_step"](image=tf.zeros(shape), **states)


def test_base_variant_with_fast_3d_exports_without_stream_signatures(
    examples_dir, tmp_path_factory
):
    _, model = train(examples_dir, tmp_path_factory, variant="base", epochs=1)
    assert set(model.signatures) == {"serving_default", "frames", "labels", "frame_contract"}
    out = model.signatures["serving_default"](examples=tf.constant(eval_records(examples_dir, 2)))
    assert out["probabilities"].shape == (2, 3)


def test_missing_labels_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="labels.txt not found"):
        run.labels_of([str(tmp_path / "Split-train" / "*")])


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "trainer.checkpoint must be set: .* random_init: true"),
        ({"random_init": True, "variant": "lite"}, "trainer.variant must be one of"),
        ({"random_init": True, "dropout": 1.5}, "trainer.dropout must be in"),
        ({"random_init": True, "checkpoint": "x.tar.gz"}, "trainer.checkpoint and random_init"),
        ({"random_init": True, "epoch": 3}, "unknown config field\\(s\\) trainer.epoch;"),
        ({"random_init": True, "lr_schedule": "step"}, "trainer.lr_schedule must be one of"),
        ({"random_init": True, "bn_momentum": 1.0}, "trainer.bn_momentum must be in"),
        ({"random_init": "yes"}, "trainer.random_init must be bool, got str 'yes'"),
    ],
)
def test_trainer_config_errors_name_the_field(fields, message):
    with pytest.raises(ConfigError, match=message):
        TrainerConfig.from_dict(fields)


def test_pretrained_checkpoint_from_url_is_restored_and_its_last_block_fine_tuned(
    examples_dir, tmp_path_factory
):
    """A Model Garden checkpoint served over HTTP, restored, its last block unfrozen
    (trainable_blocks: 1, so no feature cache), trained end to end and exported."""
    import tarfile

    from tests.fakes.http_server import serve_folder
    from trainer import architecture, restore
    from trainer.model import set_trainable_blocks

    arch = architecture.arch_for("a0", "stream")
    root = tmp_path_factory.mktemp("garden")
    backbone, classifier = restore.build_kinetics_classifier(arch)
    rng = np.random.default_rng(5)
    for v in classifier.variables:  # distinct from a fresh build, still sane to train on
        v.assign(v * rng.uniform(0.8, 1.2, v.shape).astype(v.dtype.as_numpy_dtype) + 0.01)
    saved_backbone = {v.name: v.numpy() for v in backbone.variables}
    assert len(saved_backbone) == len(backbone.variables)
    set_trainable_blocks(backbone, 1)
    frozen = {v.name for layer in backbone.layers if not layer.trainable for v in layer.variables}
    tuned = {v.name for v in backbone.trainable_variables}
    assert frozen and tuned and not frozen & tuned
    folder = root / "src" / arch.checkpoint_name
    tf.train.Checkpoint(model=classifier).save(str(folder / "ckpt"))
    served = root / "served"
    served.mkdir()
    with tarfile.open(served / "movinet_a0_stream.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=arch.checkpoint_name)

    with serve_folder(served) as server:
        url = server.url_for("movinet_a0_stream.tar.gz")
        fn_args, model = train(
            examples_dir,
            tmp_path_factory,
            variant="stream",
            tflite="none",  # model.tflite is tests/trainer/test_tflite_model.py's (~30 s each)
            random_init=False,
            checkpoint=url,
            checkpoint_cache_dir=str(root / "cache"),
            trainable_blocks=1,
            epochs=1,
            train_views=1,
        )
    summary = read_summary(fn_args.model_run_dir)
    assert summary.checkpoint == url
    assert "features_s" not in summary.phases  # no feature cache when unfrozen
    assert len(summary.history["loss"]) == 1 and np.isfinite(summary.history["loss"]).all()
    # The exported backbone holds the checkpoint's weights where frozen, and the last
    # block moved from them.
    exported = {v.name: v.numpy() for v in model.model_variables}
    assert set(saved_backbone) <= set(exported)
    for name in frozen:
        np.testing.assert_array_equal(exported[name], saved_backbone[name], err_msg=name)
    assert any(not np.array_equal(exported[name], saved_backbone[name]) for name in tuned)
    out = model.signatures["serving_default"](examples=tf.constant(eval_records(examples_dir, 2)))
    assert out["probabilities"].shape == (2, 3)


def test_warm_start_begins_from_the_base_models_weights(
    stream_model, examples_dir, tmp_path_factory
):
    base_args, base = stream_model
    # A rate too small to move the weights: the new model is the base model.
    _, warm = train(
        examples_dir,
        tmp_path_factory,
        base_model=base_args.serving_model_dir,
        variant="stream",
        tflite="none",  # model.tflite is tests/trainer/test_tflite_model.py's (~30 s each)
        warm_start=True,
        learning_rate=1e-12,
        epochs=1,
        seed=7,  # another head initialisation: only the warm start makes them equal
    )
    clip = tf.random.uniform([2, 4, RES, RES, 3], seed=5)
    expected = base.signatures["frames"](frames=clip)["probabilities"].numpy()
    got = warm.signatures["frames"](frames=clip)["probabilities"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert read_summary(base_args.model_run_dir).warm_start == ""


def test_warm_start_refuses_a_model_of_other_classes(stream_model, tmp_path):
    from trainer import architecture
    from trainer.model import VideoClassifier, build_head, feature_dim

    base_args, _ = stream_model
    arch = architecture.arch_for("a0", "stream")
    backbone = architecture.build_backbone(arch)
    head = build_head(arch, feature_dim(backbone), backbone.head_filters, 3, 0.0, 0)
    classifier = VideoClassifier(backbone, head, arch)
    with pytest.raises(ValueError, match="trained on classes .*SlideLeft.* these examples have"):
        run.warm_start(classifier, ["A", "B", "C"], base_args.serving_model_dir)


def test_tfma_loads_the_export_as_a_generic_saved_model_without_trying_keras(
    stream_model, monkeypatch
):
    """The Evaluator's config names the model type: TFMA otherwise first tries
    `tf.keras.models.load_model` on the export (~6 s on 2 cores, then a failure and
    a Keras warning) to detect it (tfma/utils/model_util.py, `get_model_type`)."""
    import tensorflow_model_analysis as tfma

    from pipeline import evaluation
    from pipeline.config import EvalConfig

    fn_args, _ = stream_model
    keras_loads = []
    monkeypatch.setattr(tf.keras.models, "load_model", lambda *a, **k: keras_loads.append(a))
    config = evaluation.eval_config(EvalConfig(), 3)
    shared = tfma.default_eval_shared_model(fn_args.serving_model_dir, eval_config=config)
    assert shared.model_type == tfma.TF_GENERIC
    assert keras_loads == []
