"""The record format: one `tf.train.Example` per video.

Keys follow Model Garden's video reader (`image/encoded`: one JPEG per frame,
`clip/label/index`), so its readers and TFX's tools both work on the shards.
"""

from __future__ import annotations

import dataclasses

import numpy as np

FRAMES_KEY = "image/encoded"
LABEL_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
MEDIA_ID_KEY = "clip/media_id"
GROUP_KEY = "clip/group"
NUM_FRAMES_KEY = "clip/num_frames"
NUM_REAL_FRAMES_KEY = "clip/num_real_frames"
STRIDE_KEY = "clip/frame_stride"
SOURCE_FPS_KEY = "clip/source_fps"
HEIGHT_KEY = "image/height"
WIDTH_KEY = "image/width"


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    """The content of one record, in plain values."""

    jpeg_frames: tuple[bytes, ...]
    label: int
    label_text: str
    media_id: str
    group: str
    num_real_frames: int
    frame_stride: int
    source_fps: float
    height: int
    width: int


def to_example_bytes(record: VideoRecord) -> bytes:
    """Serializes a VideoRecord as a tf.train.Example."""
    import tensorflow as tf

    def _bytes(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    def _ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    feature = {
        FRAMES_KEY: _bytes(record.jpeg_frames),
        LABEL_KEY: _ints([record.label]),
        LABEL_TEXT_KEY: _bytes([record.label_text.encode()]),
        MEDIA_ID_KEY: _bytes([record.media_id.encode()]),
        GROUP_KEY: _bytes([record.group.encode()]),
        NUM_FRAMES_KEY: _ints([len(record.jpeg_frames)]),
        NUM_REAL_FRAMES_KEY: _ints([record.num_real_frames]),
        STRIDE_KEY: _ints([record.frame_stride]),
        SOURCE_FPS_KEY: tf.train.Feature(float_list=tf.train.FloatList(value=[record.source_fps])),
        HEIGHT_KEY: _ints([record.height]),
        WIDTH_KEY: _ints([record.width]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


def from_example_bytes(data: bytes) -> VideoRecord:
    """Parses a serialized tf.train.Example written by `to_example_bytes`."""
    import tensorflow as tf

    f = tf.train.Example.FromString(data).features.feature
    return VideoRecord(
        jpeg_frames=tuple(f[FRAMES_KEY].bytes_list.value),
        label=int(f[LABEL_KEY].int64_list.value[0]),
        label_text=f[LABEL_TEXT_KEY].bytes_list.value[0].decode(),
        media_id=f[MEDIA_ID_KEY].bytes_list.value[0].decode(),
        group=f[GROUP_KEY].bytes_list.value[0].decode(),
        num_real_frames=int(f[NUM_REAL_FRAMES_KEY].int64_list.value[0]),
        frame_stride=int(f[STRIDE_KEY].int64_list.value[0]),
        source_fps=float(f[SOURCE_FPS_KEY].float_list.value[0]),
        height=int(f[HEIGHT_KEY].int64_list.value[0]),
        width=int(f[WIDTH_KEY].int64_list.value[0]),
    )


def decode_frames(record: VideoRecord) -> np.ndarray:
    """The record's frames as RGB uint8 [n, h, w, 3]."""
    from components.ingest.video import decode_jpeg_rgb

    return np.stack([decode_jpeg_rgb(b) for b in record.jpeg_frames])
