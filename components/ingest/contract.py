"""The frame contract: how the ingest made the frames a model is trained on.

Written by the ingest beside the splits (`frame_contract.json`) and as the Examples
artifact's `frame_contract` property; the Trainer copies it into the SavedModel
(`assets.extra/frame_contract.json` and the `frame_contract` signature), and
`predict` and `stream` sample and shape frames by it, so serving sees the frames
training saw. Light on purpose (no TensorFlow, no Beam): readers of metadata use it.

Two frame counts, named apart: `frames_per_video` is what the ingest stores per
video (FrameSpec.frames_per_video); the model's window (TrainerConfig.window_frames) is
the trainer's and is not part of this contract.
"""

from __future__ import annotations

import dataclasses
import json
import os

CONTRACT_FILE = "frame_contract.json"
PROPERTY = "frame_contract"


@dataclasses.dataclass(frozen=True)
class FrameContract:
    """Attributes:
    target_fps: samples per second of video (by presentation time).
    frame_step: explicit stride in decoded frames (0: sampled by time at target_fps).
    frames_per_video: frames stored per video (the clip the serving signature reads).
    height, width: stored frame size in pixels.
    resize_mode: 'pad', 'crop' or 'stretch' (components/ingest/video.py).
    jpeg_quality: JPEG quality of the stored frames.
    """

    target_fps: float
    frame_step: int
    frames_per_video: int
    height: int
    width: int
    resize_mode: str
    jpeg_quality: int

    @classmethod
    def of_ingest(cls, config) -> FrameContract:
        """The contract of an IngestConfig."""
        f = config.frames
        return cls(
            target_fps=float(f.target_fps),
            frame_step=int(f.frame_step),
            frames_per_video=int(f.frames_per_video),
            height=int(f.height),
            width=int(f.width),
            resize_mode=f.resize_mode,
            jpeg_quality=int(config.jpeg_quality),
        )

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FrameContract:
        """Raises: ValueError on text that is not a contract (names the fields)."""
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise ValueError(f"a frame contract has the fields {sorted(names)}, got {data!r}")
        return cls(**data)


def write_contract(contract: FrameContract, folder: str) -> str:
    """Writes `folder/frame_contract.json` (local or gs://); returns its path."""
    import tensorflow as tf

    path = os.path.join(folder, CONTRACT_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(contract.to_json())
    return path


def read_contract(folder: str) -> FrameContract | None:
    """The contract in `folder`, or None when there is none (data from before it)."""
    import tensorflow as tf

    path = os.path.join(folder, CONTRACT_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return FrameContract.from_json(f.read())
