"""Tiny trained models for tests: the demo data ingested and a trainer run on it.

Shared by the session fixtures in conftest.py (one ingest, one stream model per
session) and by tests that train variants of their own.
"""

import glob
import json
import os
import types

import tensorflow as tf

from components.ingest import beam_ingest, constants
from components.ingest.config import IngestConfig
from components.ingest.selection import SelectionSpec
from components.ingest.video import FrameSpec
from trainer import run
from trainer.config import TrainerConfig

RES = 32


def ingest_examples(videos_zip: str, lists_zip: str, out: str) -> str:
    """The tiny demo ingested at RES x RES, 8 frames per video, official split 1."""
    config = IngestConfig(
        source=videos_zip,
        split_lists=lists_zip,
        selection=SelectionSpec(split=1),
        frames=FrameSpec(frames_per_video=8, height=RES, width=RES),
    )
    beam_ingest.run_ingest(config, out, ["--runner=DirectRunner", "--direct_num_workers=1"])
    return out


def patterns(examples_dir, split):
    return [os.path.join(constants.split_dir(examples_dir, split), "*")]


def eval_records(examples_dir, n=3):
    """The first n serialized eval records of `examples_dir`."""
    files = sorted(glob.glob(patterns(examples_dir, "eval")[0]))
    return [r.numpy() for r in tf.data.TFRecordDataset(files).take(n)]


def train(examples_dir, tmp_path_factory, base_model=None, **overrides):
    """Runs the Trainer's run_fn on the examples; returns (fn_args, loaded SavedModel)."""
    config = TrainerConfig(
        **{
            "random_init": True,
            "resolution": RES,
            "window_frames": 4,
            "epochs": 2,
            "batch_size": 4,
            "eval_views": 2,
            "serving_top_k": 2,
            **overrides,
        }
    )
    root = tmp_path_factory.mktemp("trainer")
    fn_args = types.SimpleNamespace(
        custom_config={"trainer": json.loads(config.to_json())},
        train_files=patterns(examples_dir, "train"),
        eval_files=patterns(examples_dir, "eval"),
        serving_model_dir=str(root / "serving"),
        model_run_dir=str(root / "run"),
        base_model=base_model,
    )
    run.run_fn(fn_args)
    return fn_args, tf.saved_model.load(fn_args.serving_model_dir)
