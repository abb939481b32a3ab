"""Training windows (trainer/video_input.py `clips_dataset`): new random windows each
epoch, the same ones run after run, and the random crop (`aug_min_area_ratio`)
taken whole over a window. Records are made here; each frame says its number."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from components.ingest import records
from trainer import video_input
from trainer.config import TrainerConfig

FRAMES, WINDOW, RES = 12, 4, 16


def frame_jpeg(index: int, gradient: bool) -> bytes:
    """A 64x64 frame: grey level 20*index (+ a left-to-right ramp when `gradient`)."""
    image = np.full((64, 64, 3), 20 * index, np.float32)
    if gradient:
        image += np.linspace(0, 15, 64, dtype=np.float32)[None, :, None]
    ok, data = cv2.imencode(".jpg", image.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    return data.tobytes()


def write_records(path, videos: int = 6, gradient: bool = False) -> str:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for video in range(videos):
            record = records.VideoRecord(
                jpeg_frames=tuple(frame_jpeg(i, gradient) for i in range(FRAMES)),
                label=video % 2,
                label_text=f"c{video % 2}",
                media_id=f"v{video}",
                group="g",
                num_real_frames=FRAMES,
                timestamps_us=records.timestamps_us([i / 5 for i in range(FRAMES)]),
                sample_fps=5.0,
                source_fps=25.0,
                height=64,
                width=64,
            )
            writer.write(records.to_example_bytes(record))
    return str(path)


def window_starts(dataset) -> list[list[int]]:
    """The first frame's number of every view, per video, in one pass."""
    return [
        [round(float(tf.reduce_mean(view[0])) * 255 / 20) for view in clips] for clips, _ in dataset
    ]


def training_windows(path, **kwargs):
    return video_input.clips_dataset(
        path, window=WINDOW, resolution=RES, views=3, training=True, seed=7, **kwargs
    )


def test_windows_change_each_epoch_and_repeat_run_after_run(tmp_path):
    path = write_records(tmp_path / "train.tfrecord")
    dataset = training_windows(path)
    epoch1, epoch2 = window_starts(dataset), window_starts(dataset)
    assert all(0 <= s <= FRAMES - WINDOW for video in epoch1 + epoch2 for s in video)
    assert epoch1 != epoch2  # fixed windows per video would repeat every epoch
    again = training_windows(path)  # as a second run builds it
    assert window_starts(again) == epoch1 and window_starts(again) == epoch2


def test_random_crop_is_one_crop_per_window(tmp_path):
    path = write_records(tmp_path / "train.tfrecord", videos=2, gradient=True)
    whole = [c.numpy() for c, _ in training_windows(path)]
    cropped = [c.numpy() for c, _ in training_windows(path, crop_min_area=0.25)]
    for clips in cropped:
        for view in clips:
            ramps = view - view.mean(axis=(1, 2, 3), keepdims=True)  # the frame's level off
            np.testing.assert_allclose(ramps, np.broadcast_to(ramps[:1], ramps.shape), atol=0.02)
    # A crop narrows the ramp: less of the frame's left-to-right range in each view.
    spread = [float(np.ptp(v[0, :, :, 0])) for c in cropped for v in c]
    assert min(spread) < 0.8 * float(np.ptp(whole[0][0, 0, :, :, 0]))


def test_crop_share_is_validated():
    with pytest.raises(ValueError, match="aug_min_area_ratio must be in \\(0, 1\\]"):
        TrainerConfig(random_init=True, aug_min_area_ratio=0.0)


def test_clip_datasets_run_without_tf_data_autotuning(tmp_path):
    """Deleting an autotuned iterator could wait out its tuning thread's period (10 s
    of idle after each ~10 s pass here; trainer/video_input.py `without_autotune`):
    the Trainer's and the feature pass's datasets, batched and prefetched, have it off,
    and their windows are the same as before."""
    path = write_records(tmp_path / "train.tfrecord")
    for training in (True, False):
        dataset = video_input.clips_dataset(
            path, window=WINDOW, resolution=RES, views=2, training=training, seed=7
        )
        assert dataset.batch(4).prefetch(2).options().autotune.enabled is False
    autotuned = training_windows(path).with_options(_autotune_on())
    assert window_starts(autotuned) == window_starts(training_windows(path))


def _autotune_on() -> tf.data.Options:
    options = tf.data.Options()
    options.autotune.enabled = True
    return options
