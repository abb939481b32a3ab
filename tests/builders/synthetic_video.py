"""Small synthetic videos for tests: a bright square sliding over a dark background."""

import cv2
import numpy as np

CODECS = {".avi": "XVID", ".mp4": "mp4v"}


def sliding_square_frames(num_frames: int, width: int = 160, height: int = 120):
    """BGR uint8 frames, one at a time (long videos never sit in memory)."""
    side = height // 3
    for i in range(num_frames):
        frame = np.full((height, width, 3), 30, np.uint8)
        x = int((width - side) * (i % 50) / 49)
        frame[height // 3 : height // 3 + side, x : x + side] = (60, 200, 240)
        yield frame


def write_video(path, num_frames: int, fps: float = 25.0, width: int = 160, height: int = 120):
    """Writes an AVI (XviD) or MP4 (mp4v) by `path`'s suffix; returns the path as str."""
    path = str(path)
    fourcc = CODECS[path[path.rindex(".") :].lower()]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} here"
    for frame in sliding_square_frames(num_frames, width, height):
        writer.write(frame)
    writer.release()
    return path


def write_action_sequence(path, motions, seconds_each: float = 4.0, seed: int = 0) -> str:
    """An AVI of the demo's motions one after another (e.g. SlideLeft, then Grow) in one
    scene, as `pipeline demo-data` renders them: a video whose action changes."""
    from pipeline import demo_data

    rng = np.random.default_rng(seed)
    scene = demo_data._group_look(rng)
    look = demo_data._clip_look(scene, rng)
    frames = [
        demo_data.render_clip(m, rng, look, round(seconds_each * demo_data.FPS)) for m in motions
    ]
    demo_data.write_avi(str(path), np.concatenate(frames))
    return str(path)
