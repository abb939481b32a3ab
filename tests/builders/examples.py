"""Reading an Examples folder the ingest wrote, as tests check it."""

from __future__ import annotations

import os

import numpy as np

from components.ingest.constants import LABELS_FILE
from components.ingest.records import VideoRecord
from components.ingest.video import decode_jpeg_rgb


def load_labels(examples_dir: str) -> list[str]:
    """Class names, in label order, of an Examples folder the ingest wrote."""
    with open(os.path.join(examples_dir, LABELS_FILE), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def decode_frames(record: VideoRecord) -> np.ndarray:
    """The record's frames as RGB uint8 [n, h, w, 3]."""
    return np.stack([decode_jpeg_rgb(b) for b in record.jpeg_frames])
