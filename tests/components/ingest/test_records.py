"""Tests of components/ingest/records.py: the tf.train.Example of one video."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from components.ingest import records
from components.ingest.video import encode_jpeg
from tests.builders import examples

HEIGHT, WIDTH = 24, 32
# BGR colours of the frames (OpenCV order) and the RGB the records must give back.
BGR_COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0)]
RGB_COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]


def _record() -> records.VideoRecord:
    frames = [np.full((HEIGHT, WIDTH, 3), c, np.uint8) for c in BGR_COLOURS]
    return records.VideoRecord(
        jpeg_frames=tuple(encode_jpeg(f, quality=95) for f in frames),
        label=7,
        label_text="HandstandPushups",
        media_id="UCF101/v_HandStandPushups_g01_c02.avi",
        group="g01",
        num_real_frames=2,
        timestamps_us=(0, 200_200, 400_400),
        sample_fps=5.0,
        source_fps=29.97,
        height=HEIGHT,
        width=WIDTH,
    )


def test_example_round_trip():
    record = _record()
    parsed = records.from_example_bytes(records.to_example_bytes(record))
    # source_fps goes through a float32 FloatList.
    assert parsed.source_fps == pytest.approx(record.source_fps, rel=1e-6)
    assert parsed == dataclasses.replace(record, source_fps=parsed.source_fps)


def test_decode_frames_gives_rgb_frames():
    frames = examples.decode_frames(_record())
    assert frames.shape == (3, HEIGHT, WIDTH, 3)
    assert frames.dtype == np.uint8
    for frame, rgb in zip(frames, RGB_COLOURS, strict=True):
        np.testing.assert_allclose(frame.reshape(-1, 3).mean(axis=0), rgb, atol=8)


def test_feature_keys_parse_with_tensorflow():
    import tensorflow as tf

    features = {
        records.FRAMES_KEY: tf.io.VarLenFeature(tf.string),
        records.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
        records.LABEL_TEXT_KEY: tf.io.FixedLenFeature([], tf.string),
        records.MEDIA_ID_KEY: tf.io.FixedLenFeature([], tf.string),
        records.GROUP_KEY: tf.io.FixedLenFeature([], tf.string),
        records.NUM_FRAMES_KEY: tf.io.FixedLenFeature([], tf.int64),
        records.NUM_REAL_FRAMES_KEY: tf.io.FixedLenFeature([], tf.int64),
        records.FRAME_TIMESTAMPS_KEY: tf.io.VarLenFeature(tf.int64),
        records.START_TIMESTAMP_KEY: tf.io.FixedLenFeature([], tf.int64),
        records.END_TIMESTAMP_KEY: tf.io.FixedLenFeature([], tf.int64),
        records.SAMPLE_FPS_KEY: tf.io.FixedLenFeature([], tf.float32),
        records.SOURCE_FPS_KEY: tf.io.FixedLenFeature([], tf.float32),
        records.HEIGHT_KEY: tf.io.FixedLenFeature([], tf.int64),
        records.WIDTH_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    record = _record()
    parsed = tf.io.parse_single_example(records.to_example_bytes(record), features)
    assert records.FRAMES_KEY == "image/encoded" and records.LABEL_KEY == "clip/label/index"
    encoded = tf.sparse.to_dense(parsed[records.FRAMES_KEY]).numpy().tolist()
    assert encoded == list(record.jpeg_frames)
    assert int(parsed[records.LABEL_KEY]) == 7
    assert int(parsed[records.NUM_FRAMES_KEY]) == 3
    assert int(parsed[records.NUM_REAL_FRAMES_KEY]) == 2
    times = tf.sparse.to_dense(parsed[records.FRAME_TIMESTAMPS_KEY]).numpy().tolist()
    assert times == [0, 200_200, 400_400]
    assert int(parsed[records.START_TIMESTAMP_KEY]) == 0
    assert int(parsed[records.END_TIMESTAMP_KEY]) == 400_400
    assert float(parsed[records.SAMPLE_FPS_KEY]) == 5.0
    assert parsed[records.LABEL_TEXT_KEY].numpy() == b"HandstandPushups"
    assert parsed[records.MEDIA_ID_KEY].numpy() == record.media_id.encode()
    assert (int(parsed[records.HEIGHT_KEY]), int(parsed[records.WIDTH_KEY])) == (HEIGHT, WIDTH)
    # The frames decode in TensorFlow too, as RGB.
    first = tf.io.decode_jpeg(encoded[0]).numpy()
    assert first.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_allclose(first.reshape(-1, 3).mean(axis=0), RGB_COLOURS[0], atol=8)


def _tf_example(record: records.VideoRecord):
    """The Example TensorFlow's own protos build for `record`: the reference encoding."""
    import tensorflow as tf

    def _bytes(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))

    def _ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    feature = {
        records.FRAMES_KEY: _bytes(record.jpeg_frames),
        records.LABEL_KEY: _ints([record.label]),
        records.LABEL_TEXT_KEY: _bytes([record.label_text.encode()]),
        records.MEDIA_ID_KEY: _bytes([record.media_id.encode()]),
        records.GROUP_KEY: _bytes([record.group.encode()]),
        records.NUM_FRAMES_KEY: _ints([len(record.jpeg_frames)]),
        records.NUM_REAL_FRAMES_KEY: _ints([record.num_real_frames]),
        records.FRAME_TIMESTAMPS_KEY: _ints(record.timestamps_us),
        records.START_TIMESTAMP_KEY: _ints(record.timestamps_us[:1] or [0]),
        records.END_TIMESTAMP_KEY: _ints(record.timestamps_us[-1:] or [0]),
        records.SAMPLE_FPS_KEY: tf.train.Feature(
            float_list=tf.train.FloatList(value=[record.sample_fps])
        ),
        records.SOURCE_FPS_KEY: tf.train.Feature(
            float_list=tf.train.FloatList(value=[record.source_fps])
        ),
        records.HEIGHT_KEY: _ints([record.height]),
        records.WIDTH_KEY: _ints([record.width]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


@pytest.mark.parametrize(
    "changes",
    [
        {},
        # Negative int64 (10-byte varint), multi-byte varints, non-ASCII text, no frames.
        {"label": -1, "timestamps_us": (2**40,), "height": 300, "label_text": "Tänzer"},
        {"jpeg_frames": (), "num_real_frames": 0, "timestamps_us": (), "source_fps": 0.0},
    ],
)
def test_example_bytes_equal_the_example_tensorflow_builds(changes):
    import tensorflow as tf

    record = dataclasses.replace(_record(), **changes)
    ours = tf.train.Example.FromString(records.to_example_bytes(record))
    assert ours == _tf_example(record)
