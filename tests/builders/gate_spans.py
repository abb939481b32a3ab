"""Generated spans for the scheduled runs over spans (tests/builders/span_runs.py).

One pool of demo videos (3 classes x 4 groups x 6 clips) is cut into span zips of the
real layout: a normal span, one missing a class, one whose first class has six times
the clips of each other, and a span of 0.2-second clips with unreadable videos among
them. A reference set of other videos of the same classes (other scenes, seed 5) is
written as a folder of `<class>/<video>`.
"""

import os
import zipfile

from pipeline.demo_data import MOTIONS, DemoSpec, write_demo_dataset

CLASSES = MOTIONS[:3]
POOL = DemoSpec(num_classes=3, groups_per_class=4, clips_per_group=6, seconds=1.6, seed=3)
SHORT = DemoSpec(num_classes=3, groups_per_class=4, clips_per_group=2, seconds=0.2, seed=4)
REFERENCE = DemoSpec(num_classes=3, groups_per_class=3, clips_per_group=1, seconds=1.6, seed=5)
VIDEOS = "UCF101_videos.zip"


def _clip_of(member: str) -> tuple[str, int]:
    """('SlideLeft', 3) of 'UCF101/v_SlideLeft_g02_c03.avi'."""
    _, class_name, _, clip = os.path.basename(member)[:-4].split("_")
    return class_name, int(clip[1:])


def write_span(pool_zip: str, spans_dir: str, folder: str, keep) -> str:
    """`spans_dir/<folder>/UCF101_videos.zip` (folder: 'span-1', 'span-0005') with the
    pool's videos for which keep(class_name, clip_number) holds."""
    folder = os.path.join(spans_dir, folder)
    os.makedirs(folder)
    path = os.path.join(folder, VIDEOS)
    with zipfile.ZipFile(pool_zip) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if keep(*_clip_of(info.filename)):
                dst.writestr(info, src.read(info))
    return path


def add_unreadable(span_zip: str, per_class: int) -> int:
    """Adds `per_class` videos per class that are not videos (random bytes named .avi,
    in group 1, so the group split is unchanged) to the span's zip; returns how many."""
    with zipfile.ZipFile(span_zip, "a") as zf:
        for class_name in CLASSES:
            for clip in range(1, per_class + 1):
                name = f"UCF101/v_{class_name}_g01_c{20 + clip:02d}.avi"
                zf.writestr(name, os.urandom(4096))
    return per_class * len(CLASSES)


def write_reference(root: str) -> str:
    """A folder `<root>/reference/<class>/<video>.avi` of REFERENCE's videos."""
    videos = write_demo_dataset(os.path.join(root, "reference_zip"), REFERENCE).videos_zip
    folder = os.path.join(root, "reference")
    with zipfile.ZipFile(videos) as src:
        for info in src.infolist():
            class_name, _ = _clip_of(info.filename)
            os.makedirs(os.path.join(folder, class_name), exist_ok=True)
            with open(os.path.join(folder, class_name, os.path.basename(info.filename)), "wb") as f:
                f.write(src.read(info))
    return folder


def write_pools(root: str) -> tuple[str, str]:
    """(videos zip of POOL, videos zip of SHORT)."""
    pool = write_demo_dataset(os.path.join(root, "pool"), POOL).videos_zip
    short = write_demo_dataset(os.path.join(root, "short"), SHORT).videos_zip
    return pool, short


def normal(first_clip: int):
    """Two clips per group of every class, from `first_clip` on."""
    return lambda class_name, clip: first_clip <= clip < first_clip + 2


def missing_class(class_name, clip):
    return class_name != CLASSES[2] and clip <= 2


def short_skewed(class_name, clip):
    """Of SHORT (2 clips per group): the first class whole, the others one clip per
    group; train shares 1/2, 1/4, 1/4 (L-infinity 0.167 from a normal span)."""
    return class_name == CLASSES[0] or clip == 1


def skewed(class_name, clip):
    """The first class with all 6 clips per group, the others with 1."""
    return class_name == CLASSES[0] or clip == 1
