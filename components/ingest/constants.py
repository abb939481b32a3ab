"""What an Examples artifact written by VideoIngest holds, by name.

The split names, where TFX expects each split's shards, and the files the ingest
writes beside them, in the manner of TFX's `tfx/components/evaluator/constants.py`.
Readers of the artifact (the Trainer, the report, the data gate, the CLI) import
this module, which imports neither Beam nor TensorFlow.
"""

from __future__ import annotations

import os

TRAIN, EVAL = "train", "eval"
SPLITS = (TRAIN, EVAL)
RECORD_PREFIX = "data_tfrecord"  # each split's TFRecord shards: <prefix>-NNNNN-of-NNNNN
LABELS_FILE = "labels.txt"  # the class names, one a line, in label-index order
REPORT_FILE = "ingest_report.json"  # what was read, skipped and why (components/report/data.py)
# Beam's one shard of what each video gave besides its record, a JSON object a line
# with its "kind": "bad" (failed to decode), "warn" (decoded with a warning) or
# "content" (its content hash, for duplicates); the report carries them all.
NOTES_PREFIX = "video_notes"


def split_dir(output_dir: str, split: str) -> str:
    """Where TFX expects the shards of one split of an Examples artifact (`Split-<name>`)."""
    return os.path.join(output_dir, f"Split-{split}")
