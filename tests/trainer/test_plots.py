"""Tests of trainer/plots.py on synthetic probabilities and frames (no model needed)."""

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.builders.synthetic_video import sliding_square_frames
from trainer import plots

LABELS = ("Jump", "Run", "Sit", "Wave")


def _probabilities(n: int) -> np.ndarray:
    logits = np.random.default_rng(0).normal(size=(n, len(LABELS)))
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def _frames(n: int):
    return sliding_square_frames(n, 64, 48)


def _mp4_frame_count(path) -> int:
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.grab():
        count += 1
    cap.release()
    return count


def test_top_classes_are_the_highest_peaks():
    probabilities = np.array([[0.1, 0.8, 0.1, 0.0], [0.5, 0.1, 0.0, 0.4]])
    assert plots.top_classes(probabilities, 2).tolist() == [1, 0]
    assert plots.top_classes(probabilities, 9).tolist() == [1, 0, 3, 2]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_animation_has_one_frame_per_prediction(tmp_path, suffix):
    path = tmp_path / f"stream{suffix}"
    ticks = []
    written = plots.write_animation(
        _frames(9),
        _probabilities(9),
        LABELS,
        5.0,
        str(path),
        shown=3,
        progress=lambda: ticks.append(1),
    )
    assert written == 9 and len(ticks) == 9
    if suffix == ".gif":
        with Image.open(path) as gif:
            assert gif.n_frames == 9
            assert gif.size == (400, 480)
            assert gif.info["duration"] == 200  # 5 frames/s
    else:
        assert _mp4_frame_count(path) == 9


def test_animation_stops_at_the_shorter_of_frames_and_predictions(tmp_path):
    path = tmp_path / "short.gif"
    assert plots.write_animation(_frames(20), _probabilities(6), LABELS, 5.0, str(path)) == 6
    assert plots.write_animation(_frames(4), _probabilities(6), LABELS, 5.0, str(path)) == 4
    with Image.open(path) as gif:
        assert gif.n_frames == 4


def test_curves_png(tmp_path):
    path = plots.plot_curves(_probabilities(30), LABELS, 5.0, str(tmp_path / "curves.png"))
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size[0] > 100


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda p: plots.write_animation(_frames(2), _probabilities(2), LABELS, 5, p + ".avi"),
            "suffix",
        ),
        (
            lambda p: plots.plot_curves(_probabilities(2), LABELS[:3], 5, p + ".png"),
            "4 classes but 3",
        ),
        (lambda p: plots.plot_curves(np.zeros((0, 4)), LABELS, 5, p + ".png"), "frames, classes"),
    ],
)
def test_bad_plot_input_is_a_clear_error(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(str(tmp_path / "x"))
