"""The record format: one `tf.train.Example` per video.

Keys follow Model Garden's video reader (`image/encoded`: one JPEG per frame,
`clip/label/index`), so its readers and TFX's tools both work on the shards.
"""

from __future__ import annotations

import dataclasses
import struct

FRAMES_KEY = "image/encoded"
LABEL_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
MEDIA_ID_KEY = "clip/media_id"
GROUP_KEY = "clip/group"
NUM_FRAMES_KEY = "clip/num_frames"
NUM_REAL_FRAMES_KEY = "clip/num_real_frames"
# Sample times, as DMVR/Model Garden name a clip's span (int64 microseconds): one per
# stored frame, the first and the last; and the samples per second of video.
FRAME_TIMESTAMPS_KEY = "clip/frame/timestamp"
START_TIMESTAMP_KEY = "clip/start/timestamp"
END_TIMESTAMP_KEY = "clip/end/timestamp"
SAMPLE_FPS_KEY = "clip/sample_fps"
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
    timestamps_us: tuple[int, ...]
    sample_fps: float
    source_fps: float
    height: int
    width: int


def to_example_bytes(record: VideoRecord) -> bytes:
    """Serializes a VideoRecord as a tf.train.Example, without importing TensorFlow.

    Beam workers only write records; encoding the proto here (wire format below)
    spares each worker process TensorFlow's import, seconds of start-up per worker.
    `tests/components/ingest/test_records.py` checks the bytes parse to the same Example TF builds.
    """
    features = {
        FRAMES_KEY: _bytes_feature(record.jpeg_frames),
        LABEL_KEY: _int64_feature([record.label]),
        LABEL_TEXT_KEY: _bytes_feature([record.label_text.encode()]),
        MEDIA_ID_KEY: _bytes_feature([record.media_id.encode()]),
        GROUP_KEY: _bytes_feature([record.group.encode()]),
        NUM_FRAMES_KEY: _int64_feature([len(record.jpeg_frames)]),
        NUM_REAL_FRAMES_KEY: _int64_feature([record.num_real_frames]),
        FRAME_TIMESTAMPS_KEY: _int64_feature(record.timestamps_us),
        START_TIMESTAMP_KEY: _int64_feature(record.timestamps_us[:1] or [0]),
        END_TIMESTAMP_KEY: _int64_feature(record.timestamps_us[-1:] or [0]),
        SAMPLE_FPS_KEY: _float_feature([record.sample_fps]),
        SOURCE_FPS_KEY: _float_feature([record.source_fps]),
        HEIGHT_KEY: _int64_feature([record.height]),
        WIDTH_KEY: _int64_feature([record.width]),
    }
    # Example{features=1: Features{feature=1: map entries {key=1, value=2}}}
    entries = b"".join(
        _field(1, _field(1, key.encode()) + _field(2, value)) for key, value in features.items()
    )
    return _field(1, entries)


# Protobuf wire format of tf.train.Feature: bytes_list=1, float_list=2, int64_list=3,
# each a message whose field 1 holds the values (floats and ints packed).
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement, 10 bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _bytes_feature(values) -> bytes:
    return _field(1, b"".join(_field(1, v) for v in values))


def _int64_feature(values) -> bytes:
    return _field(3, _field(1, b"".join(_varint(int(v)) for v in values)))


def _float_feature(values) -> bytes:
    return _field(2, _field(1, struct.pack(f"<{len(values)}f", *values)))


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
        timestamps_us=tuple(int(t) for t in f[FRAME_TIMESTAMPS_KEY].int64_list.value),
        sample_fps=float(f[SAMPLE_FPS_KEY].float_list.value[0]),
        source_fps=float(f[SOURCE_FPS_KEY].float_list.value[0]),
        height=int(f[HEIGHT_KEY].int64_list.value[0]),
        width=int(f[WIDTH_KEY].int64_list.value[0]),
    )


def timestamps_us(seconds) -> tuple[int, ...]:
    """Times in seconds as the records keep them: int microseconds."""
    return tuple(round(t * 1e6) for t in seconds)
