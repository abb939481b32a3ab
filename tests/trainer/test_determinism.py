"""Two trainings on the same records give the same weights, whatever the shard
layout the ingest (Beam's DirectRunner) happened to write (trainer/determinism.py,
trainer/video_input.py `canonical_records`), and what the per-epoch validation scores."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from components.ingest import records
from tests.builders.trained_model import eval_records, patterns
from trainer import determinism, run, video_input
from trainer.config import TrainerConfig

CONFIG = dict(
    random_init=True,
    variant="stream",
    trainable_blocks=-1,
    resolution=32,
    window_frames=4,
    epochs=1,
    warmup_epochs=0.5,
    lr_schedule="cosine",
    batch_size=4,
    train_views=1,
    eval_views=2,
)


def reshard(examples_dir: str, out: str) -> list[str]:
    """The train records rewritten in reverse order over 3 shards (as another
    scheduling of Beam's workers could have written them)."""
    records = [
        r.numpy()
        for r in tf.data.TFRecordDataset(sorted(glob.glob(patterns(examples_dir, "train")[0])))
    ]
    records.reverse()
    os.makedirs(out)
    for shard in range(3):
        with tf.io.TFRecordWriter(os.path.join(out, f"shard-{shard}")) as writer:
            for record in records[shard::3]:
                writer.write(record)
    return [os.path.join(out, "*")]


def train(examples_dir, train_files, run_dir):
    """(classifier, summary) of CONFIG trained on `train_files`."""
    config = TrainerConfig(**CONFIG)
    labels = run.labels_of(patterns(examples_dir, "train"))
    classifier, _, summary = run.train(
        config, train_files, patterns(examples_dir, "eval"), labels, str(run_dir)
    )
    return classifier, summary


@pytest.fixture(scope="module")
def trained(examples_dir, tmp_path_factory):
    return train(examples_dir, patterns(examples_dir, "train"), tmp_path_factory.mktemp("a"))


def test_same_records_in_other_shards_train_the_same_weights(trained, examples_dir, tmp_path):
    again = train(examples_dir, reshard(examples_dir, str(tmp_path / "shards")), tmp_path / "b")
    assert determinism.weights_hash(again[0].variables) == determinism.weights_hash(
        trained[0].variables
    )
    assert again[1]["eval_multi_clip_accuracy"] == trained[1]["eval_multi_clip_accuracy"]


def test_per_epoch_validation_scores_the_centre_window_of_each_eval_video(trained, examples_dir):
    """Keras' per-epoch validation (the report's curve) takes one window per eval video,
    its centre, not all `eval_views` (trainer/run.py `train`): after the last epoch its
    loss is the trained classifier's on exactly those windows."""
    classifier, summary = trained
    window, resolution = CONFIG["window_frames"], CONFIG["resolution"]
    losses = {1: [], CONFIG["eval_views"]: []}
    for data in eval_records(examples_dir, n=-1):
        record = records.from_example_bytes(data)
        for views, into in losses.items():
            starts = video_input.spread_starts(tf.constant(record.num_real_frames), window, views)
            clips = video_input.decode_windows(
                tf.constant(record.jpeg_frames), starts, window, resolution
            )
            logits = classifier(clips, training=False)
            into.extend(
                tf.nn.sparse_softmax_cross_entropy_with_logits([record.label] * views, logits)
            )
    centre, every = np.mean(losses[1]), np.mean(losses[CONFIG["eval_views"]])
    val_loss = summary["history"]["val_loss"][-1]
    assert val_loss == pytest.approx(centre, rel=1e-4)
    # At this tolerance the records tell the two apart (measured: 0.001 apart).
    assert val_loss != pytest.approx(every, rel=1e-4)


def test_weights_hash_changes_with_any_value():
    variables = [tf.Variable([1.0, 2.0], name="a"), tf.Variable([[3]], name="b")]
    before = determinism.weights_hash(variables)
    assert before == determinism.weights_hash(variables)
    variables[0].assign([1.0, 2.0000002])
    assert determinism.weights_hash(variables) != before


def test_op_determinism_follows_the_config():
    from tensorflow.python.framework import config as tf_config

    before = tf_config.is_op_determinism_enabled()
    try:
        determinism.seed_everything(0, deterministic_ops=False)
        assert not tf_config.is_op_determinism_enabled()
        determinism.seed_everything(0)
        assert tf_config.is_op_determinism_enabled()
    finally:  # process-wide: as it was for the other tests
        (tf_config.enable_op_determinism if before else tf_config.disable_op_determinism)()
    assert TrainerConfig(random_init=True).deterministic  # on unless turned off
