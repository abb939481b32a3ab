"""The smallest pipeline config that still runs every component (tests only)."""

import os


def tiny_config_dict(tiny_demo, root: str, name: str) -> dict:
    """PipelineConfig fields for the tiny demo at 32x32, one epoch, one Beam worker."""
    return {
        "name": name,
        "pipeline_root": os.path.join(root, "pipeline"),
        "serving_dir": os.path.join(root, "serving"),
        "workers": 1,
        "ingest": {
            "source": tiny_demo.videos_zip,
            "split_lists": tiny_demo.lists_zip,
            "selection": {"split": 1},
            "frames": {"frames_per_video": 8, "height": 32, "width": 32},
        },
        "trainer": {
            "variant": "stream",
            "tflite": "none",  # model.tflite is tests/trainer/test_tflite_model.py's (~30 s each)
            "random_init": True,
            "trainable_blocks": -1,
            "window_frames": 4,
            "resolution": 32,
            "epochs": 1,
            "batch_size": 4,
            "eval_views": 2,
        },
        "evaluation": {"min_accuracy": 0.0},
    }
