"""What each `stream` mode answers (trainer/inference.py), on a video whose action changes.

The model here is a stub whose outputs are a known function of the frames, so each
mode's behaviour is exact and explainable: a frame's red and green levels are its
evidence for classes 0 and 1, and the `frames` signature answers the mean evidence of
the frames it is given (linearly, so averaging outputs averages evidence). Each clip's
look cycles every 2W frames and favours the other class for part of each cycle, as a
motion seen at some phases can look like another; a W-frame window is fooled by it, a
longer span is not. `stream_step` carries the running sum, so its output after frame t
is the `frames` output on frames 0..t, the property the real stream signatures have
(tests/trainer/test_inference.py checks it on an exported model).
"""

import types

import numpy as np
import pytest
import tensorflow as tf

from trainer import inference

W = 8  # the model's window_frames: the window, and the outputs averaged by default
CUT = 40  # the first frame of the second clip
AFTER_CUT = 30  # frames of the second clip (the video: 0 of 30 switched)
WARM_UP = 2 * W - 2  # frames before every output averages W windows of W frames
BOUND = 2 * W - 2  # W + K - 2, K = W: the documented delay of a change in smooth mode


def clip_frames(label: int, num_frames: int, phase: int, cycle: float = 1.0) -> list[np.ndarray]:
    """BGR uint8 frames of one clip of class `label` (0 or 1), 2x2 pixels each, whose
    look cycles with amplitude `cycle` (0: a steady look)."""
    t = np.arange(num_frames) + phase
    # Evidence for `label` minus the other's: 1 on average, down to 1 - 2 * cycle.
    margin = 1 - 2 * cycle * np.sin(2 * np.pi * t / (2 * W))
    ours, other = 0.5 + margin / 16, 0.5 - margin / 16
    frames = []
    for a, b in zip(ours, other, strict=True):
        red, green = (a, b) if label == 0 else (b, a)
        bgr = np.array([0.0, green, red]) * 255
        frames.append(np.tile(np.round(bgr).astype(np.uint8), (2, 2, 1)))
    return frames


def _frames_signature(frames):
    rgb = tf.reduce_mean(frames, axis=[1, 2, 3])  # [batch, 3]
    p0 = 0.5 + (rgb[:, 0] - rgb[:, 1])
    return {"probabilities": tf.stack([p0, 1 - p0], axis=-1)}


def _init_states(input_shape):
    del input_shape
    return {"state_sum": tf.zeros([1, 3]), "state_count": tf.zeros([1, 1])}


def _stream_step(image, state_sum, state_count):
    state_sum = state_sum + tf.reduce_mean(image, axis=[1, 2, 3])
    state_count = state_count + 1
    out = _frames_signature(tf.reshape(state_sum / state_count, [1, 1, 1, 1, 3]))
    return {**out, "state_sum": state_sum, "state_count": state_count}


STUB = inference.LoadedModel(
    path="stub",
    module=types.SimpleNamespace(
        signatures={
            "frames": _frames_signature,
            "init_states": _init_states,
            "stream_step": _stream_step,
        }
    ),
    labels=("SlideLeft", "Grow"),
    window_frames=W,
    resolution=2,
)


def labels_of(outputs) -> np.ndarray:
    return np.array([int(np.argmax(p)) for p in outputs])


def changes(labels: np.ndarray) -> int:
    return int(np.count_nonzero(labels[1:] != labels[:-1]))


PHASES = range(2 * W)  # every phase of the cycle at the cut


@pytest.mark.parametrize("phase", PHASES)
def test_smooth_mode_follows_a_change_of_action_within_the_bound_once(phase):
    video = clip_frames(0, CUT, phase) + clip_frames(1, AFTER_CUT, phase + CUT)
    labels = labels_of(inference.stream(STUB, video))  # the default mode: smooth
    assert inference.stream_mode(STUB) == "smooth"
    after = labels[CUT:]
    switched = int(np.argmax(after == 1))
    assert after[switched] == 1 and switched <= BOUND, (phase, labels.tolist())
    assert np.all(after[switched:] == 1)  # and it stays
    assert changes(labels[WARM_UP:]) == 1, labels.tolist()


@pytest.mark.parametrize("phase", PHASES)
def test_smooth_mode_holds_still_on_one_action_where_the_window_flickers(phase):
    video = clip_frames(1, 60, phase)
    smooth = labels_of(inference.stream(STUB, video, mode="smooth"))
    window = labels_of(inference.stream(STUB, video, mode="window"))
    assert changes(smooth[WARM_UP:]) == 0 and np.all(smooth[WARM_UP:] == 1), smooth.tolist()
    assert changes(window[WARM_UP:]) >= 4  # what smoothing is for


def test_states_mode_answers_the_whole_video_so_far_and_never_switches():
    # The reported behaviour, by design: after the cut the states still hold the first
    # clip's 40 frames, so 0 of the 30 frames after it show the new action (steady looks:
    # it would switch once the new action had lasted longer than the old).
    video = clip_frames(0, CUT, 0, cycle=0) + clip_frames(1, AFTER_CUT, CUT, cycle=0)
    streamed = list(inference.stream(STUB, video, mode="states"))
    assert np.count_nonzero(labels_of(streamed)[CUT:] == 1) == 0
    smooth = labels_of(inference.stream(STUB, video, mode="smooth"))
    assert np.all(smooth[CUT + W :] == 1)  # the same video, smoothed: switched
    whole = _frames_signature(tf.constant(np.stack(video)[None, ..., ::-1] / 255.0))
    np.testing.assert_allclose(streamed[-1], whole["probabilities"][0], atol=1e-5)


def test_window_mode_flickers_through_the_same_video():
    video = clip_frames(0, CUT, 0) + clip_frames(1, AFTER_CUT, CUT)
    labels = labels_of(inference.stream(STUB, video, mode="window"))
    assert changes(labels[WARM_UP:]) > 3  # where smooth changes once


def test_smooth_is_the_moving_average_of_window_outputs():
    video = clip_frames(0, 20, 3) + clip_frames(1, 20, 23)
    window = np.stack(list(inference.stream(STUB, video, mode="window", window=5)))
    smooth = np.stack(list(inference.stream(STUB, video, mode="smooth", window=5, smooth=3)))
    for t in range(len(video)):
        np.testing.assert_allclose(smooth[t], window[max(0, t - 2) : t + 1].mean(axis=0))


def test_bad_window_or_smooth_is_an_error():
    with pytest.raises(inference.InferenceError, match="window and smooth must be >= 0"):
        list(inference.stream(STUB, clip_frames(0, 3, 0), mode="smooth", smooth=-1))
