"""Tests of pipeline/demo_data.py: the synthetic UCF101-like zips."""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import subprocess
import zipfile

import cv2
import numpy as np
import pytest

from components.ingest import ucf101
from pipeline import demo_data

SPEC = demo_data.DemoSpec(num_classes=3, groups_per_class=4, clips_per_group=2, seconds=1.0)
CLASSES = demo_data.MOTIONS[:3]
NUM_VIDEOS = 3 * 4 * 2


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> demo_data.DemoPaths:
    return demo_data.write_demo_dataset(str(tmp_path_factory.mktemp("demo")), SPEC)


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _list_texts(lists_zip: str) -> dict[str, str]:
    with zipfile.ZipFile(lists_zip) as zf:
        return {n: zf.read(n).decode("utf-8") for n in zf.namelist()}


def test_same_seed_gives_identical_zips(dataset, tmp_path):
    again = demo_data.write_demo_dataset(str(tmp_path), SPEC)
    assert _read_bytes(again.videos_zip) == _read_bytes(dataset.videos_zip)
    assert _read_bytes(again.lists_zip) == _read_bytes(dataset.lists_zip)


def test_other_seed_gives_other_videos(dataset, tmp_path):
    spec = dataclasses.replace(SPEC, num_classes=1, groups_per_class=3, clips_per_group=1, seed=1)
    other = demo_data.write_demo_dataset(str(tmp_path), spec)
    with zipfile.ZipFile(dataset.videos_zip) as a, zipfile.ZipFile(other.videos_zip) as b:
        name = "UCF101/" + demo_data.video_name(CLASSES[0], 1, 1)
        assert a.read(name) != b.read(name)


def test_videos_zip_is_flat_like_ucf101(dataset):
    with zipfile.ZipFile(dataset.videos_zip) as zf:
        names = zf.namelist()
    assert len(names) == NUM_VIDEOS
    for name in names:
        folder, file_name = name.split("/")
        assert folder == "UCF101"
        parsed = ucf101.parse_video_name(file_name)
        assert parsed is not None and parsed.class_name in CLASSES
        assert 1 <= parsed.group <= 4 and 1 <= parsed.clip <= 2


def test_lists_zip_follows_the_official_format(dataset):
    texts = _list_texts(dataset.lists_zip)
    expected = {"classInd.txt"} | {f"{k}list0{n}.txt" for k in ("train", "test") for n in (1, 2, 3)}
    assert set(texts) == {f"ucfTrainTestlist/{name}" for name in expected}
    for name, text in texts.items():
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", ""), name
    class_index = {c: i for i, c in enumerate(CLASSES, 1)}
    assert texts["ucfTrainTestlist/classInd.txt"] == "".join(
        f"{i} {c}\r\n" for c, i in class_index.items()
    )
    for n in (1, 2, 3):
        for line in texts[f"ucfTrainTestlist/trainlist0{n}.txt"].splitlines():
            match = re.fullmatch(r"(\w+)/v_\1_g\d\d_c\d\d\.avi (\d+)", line)
            assert match, line
            assert int(match[2]) == class_index[match[1]]
        for line in texts[f"ucfTrainTestlist/testlist0{n}.txt"].splitlines():
            assert re.fullmatch(r"(\w+)/v_\1_g\d\d_c\d\d\.avi", line), line
    lists = ucf101.read_split_lists(dataset.lists_zip)
    assert lists.class_names == CLASSES


def _groups(pairs) -> set[tuple[str, int]]:
    return {(c, ucf101.parse_video_name(f).group) for c, f in pairs}


def test_each_split_lists_every_video_once_and_keeps_groups_whole(dataset):
    lists = ucf101.read_split_lists(dataset.lists_zip)
    with zipfile.ZipFile(dataset.videos_zip) as zf:
        videos = {ucf101.video_key(n) for n in zf.namelist()}
    for n in (1, 2, 3):
        train, test = lists.split(n)
        listed = collections.Counter(ucf101.video_key(f) for _, f in train + test)
        assert set(listed) == videos and set(listed.values()) == {1}
        assert not _groups(train) & _groups(test)
        assert {c for c, _ in _groups(test)} == set(CLASSES)  # every class is evaluated


def test_the_three_splits_hold_out_disjoint_groups(dataset):
    lists = ucf101.read_split_lists(dataset.lists_zip)
    held_out = [_groups(lists.split(n)[1]) for n in (1, 2, 3)]
    for a in range(3):
        for b in range(a + 1, 3):
            assert not held_out[a] & held_out[b], (a + 1, b + 1)


def test_videos_are_320x240_at_25_fps_and_decode(dataset, tmp_path):
    with zipfile.ZipFile(dataset.videos_zip) as zf:
        names = zf.namelist()
        for name in (names[0], names[-1]):
            path = tmp_path / name.split("/")[1]
            path.write_bytes(zf.read(name))
            cap = cv2.VideoCapture(str(path))
            assert cap.isOpened()
            assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
            frames = []
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(frame)
            cap.release()
            assert len(frames) == 25  # 1 s at 25 fps
            assert frames[0].shape == (240, 320, 3)
            assert np.std(frames[0]) > 5  # a picture, not a blank frame


def _object_x(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The object's centre column in each frame (pixels that differ from the background)."""
    diff = np.abs(frames.astype(int) - background.astype(int)).max(axis=-1) > 60
    return np.array([np.nonzero(mask)[1].mean() for mask in diff])


def test_one_frame_cannot_tell_slides_apart_but_the_motion_can():
    background = np.full((demo_data.HEIGHT, demo_data.WIDTH, 3), 100, np.uint8)
    look = {"background": background, "color": (250, 250, 250), "shape": "square"}
    ranges = collections.defaultdict(list)
    for seed in range(4):
        for motion in ("SlideLeft", "SlideRight"):
            rng = np.random.default_rng(seed)
            x = _object_x(demo_data.render_clip(motion, rng, look, num_frames=25), background)
            ranges[motion].append((x.min(), x.max()))
            if motion == "SlideRight":
                assert x[-1] - x[0] > 0.4 * demo_data.WIDTH
            else:
                assert x[0] - x[-1] > 0.4 * demo_data.WIDTH
    # Every SlideLeft clip's positions overlap every SlideRight clip's.
    for left_lo, left_hi in ranges["SlideLeft"]:
        for right_lo, right_hi in ranges["SlideRight"]:
            assert min(left_hi, right_hi) - max(left_lo, right_lo) > 0.15 * demo_data.WIDTH


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 0},
        {"num_classes": 11},
        {"groups_per_class": 2},
        {"clips_per_group": 0},
        {"seconds": 0.0},
    ],
)
def test_demo_spec_rejects_invalid_values(kwargs):
    with pytest.raises(ValueError):
        demo_data.DemoSpec(**kwargs)


@pytest.mark.parametrize("stale", [True, False])
def test_make_writes_the_demo_data_again_when_its_definition_is_newer(tmp_path, stale):
    """`make demo-data` rewrites a zip older than pipeline/demo_data.py (a checkout whose
    demo data changed) and keeps a newer one; `make -n` shows what it would run."""
    from tests import REPO as repo

    videos_zip = tmp_path / demo_data.VIDEOS_ZIP
    videos_zip.write_bytes(b"")
    definition = os.path.getmtime(os.path.join(repo, "pipeline", "demo_data.py"))
    os.utime(videos_zip, (definition, definition + (-60 if stale else 60)))
    shown = subprocess.run(
        ["make", "-n", "demo-data", f"DEMO_DIR={tmp_path}"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (f"-m pipeline demo-data --out {tmp_path}" in shown) == stale, shown
