"""Synthetic UCF101-like demo data: real XviD AVI files in the real zip layout.

Each class is a motion (a shape sliding one way, growing, shrinking, circling,
bouncing, shaking, pulsing), so one frame
cannot tell the classes apart: the object's position and size range over the same
values in every class, only their change over time differs. Groups play UCF101's
role (same actor, same scene): a group fixes the background texture and the
object's shape in every class, each clip its colours; the official-format split
lists keep each group in train or test.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import zipfile

import cv2
import numpy as np

from components.config_loader import require

MOTIONS = (
    "SlideLeft",
    "SlideRight",
    "SlideUp",
    "SlideDown",
    "Grow",
    "Shrink",
    "Orbit",
    "Bounce",
    "Shake",
    "Pulse",
)
WIDTH, HEIGHT, FPS = 320, 240, 25
VIDEOS_ZIP = "UCF101_videos.zip"
LISTS_ZIP = "UCF101TrainTestSplits-RecognitionTask.zip"
_ZIP_DATE = (2012, 11, 1, 0, 0, 0)  # fixed timestamps: same seed, same bytes


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    """Size of the demo dataset.

    By default 16 groups of 3 clips per class (288 videos; split 1 holds out 4
    groups, 72 videos). Scenes, not clips, are what the demo's network, trained from
    random weights, lacked: with seed 8 its trainer reached 0.889 multi-clip accuracy
    on 16 x 3 and 0.792 on 12 x 4 (12 epochs), 0.806 on the former 6 x 6 (16 epochs;
    README, "Reproducible and reliable"). UCF101 has 25 groups of 4-7 clips.
    """

    num_classes: int = 6
    groups_per_class: int = 16
    clips_per_group: int = 3
    seconds: float = 2.0
    seed: int = 0

    def __post_init__(self):
        require(
            1 <= self.num_classes <= len(MOTIONS),
            "num_classes",
            f"in 1..{len(MOTIONS)}",
            self.num_classes,
        )
        require(
            self.groups_per_class >= 3,
            "groups_per_class",
            ">= 3 (three official splits)",
            self.groups_per_class,
        )
        require(self.clips_per_group >= 1, "clips_per_group", ">= 1", self.clips_per_group)
        require(self.seconds > 0, "seconds", "> 0", self.seconds)


@dataclasses.dataclass(frozen=True)
class DemoPaths:
    videos_zip: str
    lists_zip: str


def video_name(class_name: str, group: int, clip: int) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}.avi"


def render_clip(motion: str, rng: np.random.Generator, look: dict, num_frames: int) -> np.ndarray:
    """Frames [n, 240, 320, 3] BGR uint8 of one clip of `motion`."""
    t = np.linspace(0.0, 1.0, num_frames)
    size0 = rng.uniform(48, 72)
    travel = rng.uniform(0.45, 0.7)
    if motion in ("SlideLeft", "SlideRight", "SlideUp", "SlideDown"):
        axis_len = WIDTH if motion in ("SlideLeft", "SlideRight") else HEIGHT
        start = rng.uniform(0.15, 0.85 - travel)
        pos = start + travel * t
        if motion in ("SlideLeft", "SlideUp"):
            pos = 1.0 - pos
        other = rng.uniform(0.25, 0.75)
        if motion in ("SlideLeft", "SlideRight"):
            cx, cy = pos * axis_len, np.full_like(t, other * HEIGHT)
        else:
            cx, cy = np.full_like(t, other * WIDTH), pos * axis_len
        size = np.full_like(t, size0)
    elif motion in ("Grow", "Shrink"):
        small, large = rng.uniform(24, 36), rng.uniform(90, 120)
        size = small + (large - small) * t
        if motion == "Shrink":
            size = size[::-1]
        cx = np.full_like(t, rng.uniform(0.3, 0.7) * WIDTH)
        cy = np.full_like(t, rng.uniform(0.3, 0.7) * HEIGHT)
    else:
        cx, cy, size = _periodic_motion(motion, rng, t, size0)
    frames = np.empty((num_frames, HEIGHT, WIDTH, 3), np.uint8)
    for i in range(num_frames):
        frame = look["background"].copy()
        _draw_object(frame, look, float(cx[i]), float(cy[i]), float(size[i]))
        noise = rng.integers(-6, 7, frame.shape, dtype=np.int16)
        frames[i] = np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return frames


def _periodic_motion(motion: str, rng: np.random.Generator, t: np.ndarray, size0: float):
    """(cx, cy, size) over time of the periodic motions: a circle, a vertical or
    horizontal oscillation, a size oscillation; each starts at a random phase."""
    phase = rng.uniform(0, 2 * np.pi)
    cycles = rng.uniform(1.5, 2.5)
    wave = np.sin(phase + 2 * np.pi * cycles * t)
    cx0, cy0 = rng.uniform(0.35, 0.65) * WIDTH, rng.uniform(0.35, 0.65) * HEIGHT
    cx, cy, size = np.full_like(t, cx0), np.full_like(t, cy0), np.full_like(t, size0)
    if motion == "Orbit":
        radius = rng.uniform(40, 70)
        angle = phase + 2 * np.pi * rng.uniform(0.8, 1.2) * t
        cx, cy = cx0 + radius * np.cos(angle), cy0 + radius * np.sin(angle)
    elif motion == "Bounce":
        cy = cy0 + rng.uniform(40, 70) * wave
    elif motion == "Shake":
        cx = cx0 + rng.uniform(50, 90) * wave
    elif motion == "Pulse":
        size = 64 + rng.uniform(20, 30) * wave
    else:
        raise ValueError(f"unknown motion {motion!r}")
    return cx, cy, size


def _draw_object(frame: np.ndarray, look: dict, cx: float, cy: float, size: float) -> None:
    center, half = (round(cx), round(cy)), max(2, round(size / 2))
    if look["shape"] == "circle":
        cv2.circle(frame, center, half, look["color"], -1, cv2.LINE_AA)
    else:
        cv2.rectangle(
            frame,
            (center[0] - half, center[1] - half),
            (center[0] + half, center[1] + half),
            look["color"],
            -1,
            cv2.LINE_AA,
        )


def _group_look(rng: np.random.Generator) -> dict:
    """A group's scene: a background texture and the object's shape."""
    texture = rng.integers(-12, 13, (HEIGHT // 8, WIDTH // 8, 3))
    return {
        "texture": np.kron(texture, np.ones((8, 8, 1))),
        "shape": rng.choice(["circle", "square"]),
    }


def _clip_look(group_look: dict, rng: np.random.Generator) -> dict:
    """One clip's colours over its group's scene (as lighting changes between takes)."""
    base = rng.integers(30, 200, 3)
    gradient = np.linspace(-25, 25, WIDTH)[None, :, None]
    background = np.clip(base + gradient + group_look["texture"], 0, 255).astype(np.uint8)
    color = tuple(int(c) for c in (255 - base + rng.integers(-40, 41, 3)).clip(0, 255))
    return {"background": background, "color": color, "shape": group_look["shape"]}


def write_avi(path: str, frames: np.ndarray, fps: int = FPS) -> None:
    """Writes BGR frames as an XviD AVI (the codec of UCF101)."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"XVID"), fps, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write XviD AVI to {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()


def held_out_groups(num_groups: int, split: int) -> set[int]:
    """Groups in the test list of official split 1-3; like UCF101 (7 of 25 per split)."""
    fold = max(1, round(num_groups * 7 / 25))
    return set(range((split - 1) * fold + 1, split * fold + 1))


def write_videos(folder: str, spec: DemoSpec, progress=None) -> list[str]:
    """Writes the demo videos as `<folder>/<Class>/<video>.avi`; returns relative paths."""
    rng = np.random.default_rng(spec.seed)
    # Group g has the same scene in every class (as if one actor performed every
    # action there): the scene says nothing about the class, so a model trained
    # from scratch on a few groups cannot shortcut motion by memorising scenes.
    looks = [_group_look(rng) for _ in range(spec.groups_per_class)]
    num_frames = max(2, round(spec.seconds * FPS))
    written = []
    # Each clip is encoded in a thread (OpenCV releases the GIL) while the next one
    # renders: the same bytes in less time. Rendering stays in this thread, in order,
    # as the clips draw from one random stream; one clip at most waits for the encoder.
    with concurrent.futures.ThreadPoolExecutor(1) as encoder:
        encoding = None
        for class_name in MOTIONS[: spec.num_classes]:
            os.makedirs(os.path.join(folder, class_name), exist_ok=True)
            for group in range(1, spec.groups_per_class + 1):
                for clip in range(1, spec.clips_per_group + 1):
                    look = _clip_look(looks[group - 1], rng)
                    rel = f"{class_name}/{video_name(class_name, group, clip)}"
                    frames = render_clip(class_name, rng, look, num_frames)
                    if encoding is not None:
                        _report(encoding.result(), written, progress)
                    encoding = encoder.submit(_write_clip, folder, rel, frames)
        if encoding is not None:
            _report(encoding.result(), written, progress)
    return written


def _write_clip(folder: str, rel: str, frames: np.ndarray) -> str:
    write_avi(os.path.join(folder, rel), frames)
    return rel


def _report(rel: str, written: list[str], progress) -> None:
    written.append(rel)
    if progress:
        progress(rel)


def split_list_texts(spec: DemoSpec) -> dict[str, str]:
    """The official split-list files (name -> text, CRLF as the real ones)."""
    classes = MOTIONS[: spec.num_classes]
    texts = {"classInd.txt": "".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1))}
    for split in (1, 2, 3):
        held_out = held_out_groups(spec.groups_per_class, split)
        train, test = [], []
        for index, class_name in enumerate(classes, 1):
            for group in range(1, spec.groups_per_class + 1):
                for clip in range(1, spec.clips_per_group + 1):
                    path = f"{class_name}/{video_name(class_name, group, clip)}"
                    if group in held_out:
                        test.append(f"{path}\r\n")
                    else:
                        train.append(f"{path} {index}\r\n")
        texts[f"trainlist0{split}.txt"] = "".join(train)
        texts[f"testlist0{split}.txt"] = "".join(test)
    return texts


def write_demo_dataset(out_dir: str, spec: DemoSpec = DemoSpec(), progress=None) -> DemoPaths:
    """Writes the videos zip (`UCF101/v_*.avi`, flat, as the real one) and the lists zip."""
    import tempfile

    os.makedirs(out_dir, exist_ok=True)
    paths = DemoPaths(os.path.join(out_dir, VIDEOS_ZIP), os.path.join(out_dir, LISTS_ZIP))
    with tempfile.TemporaryDirectory() as tmp:
        rels = write_videos(tmp, spec, progress)
        with zipfile.ZipFile(paths.videos_zip + ".part", "w", zipfile.ZIP_STORED) as zf:
            for rel in rels:
                info = zipfile.ZipInfo("UCF101/" + rel.split("/")[1], date_time=_ZIP_DATE)
                with open(os.path.join(tmp, rel), "rb") as f:
                    zf.writestr(info, f.read())
    with zipfile.ZipFile(paths.lists_zip + ".part", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in split_list_texts(spec).items():
            zf.writestr(zipfile.ZipInfo(f"ucfTrainTestlist/{name}", date_time=_ZIP_DATE), text)
    os.replace(paths.videos_zip + ".part", paths.videos_zip)
    os.replace(paths.lists_zip + ".part", paths.lists_zip)
    return paths
