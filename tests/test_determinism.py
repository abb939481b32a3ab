"""Two trainings on the same records give the same weights, whatever the shard
layout the ingest (Beam's DirectRunner) happened to write (trainer/determinism.py,
trainer/input.py `canonical_records`)."""

import glob
import os

import tensorflow as tf

from tests.trained_model import patterns
from trainer import determinism, run
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


def train_hash(examples_dir, train_files, run_dir) -> tuple[str, float]:
    config = TrainerConfig(**CONFIG)
    labels = run.labels_of(patterns(examples_dir, "train"))
    classifier, _, summary = run.train(
        config, train_files, patterns(examples_dir, "eval"), labels, str(run_dir)
    )
    return determinism.weights_hash(classifier.variables), summary["eval_multi_clip_accuracy"]


def test_same_records_in_other_shards_train_the_same_weights(examples_dir, tmp_path):
    first = train_hash(examples_dir, patterns(examples_dir, "train"), tmp_path / "a")
    again = train_hash(
        examples_dir, reshard(examples_dir, str(tmp_path / "shards")), tmp_path / "b"
    )
    assert again == first


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
