"""Config keys renamed in this release, still read for one release with a warning.

`num_frames` meant two things: the frames the ingest stores per video and the
model's temporal window. They are now `ingest.frames.frames_per_video` and
`trainer.window_frames`. A config (or stored JSON: a compiled spec, an older
run's exec properties) that still says `num_frames` is read as before, with a
one-line warning naming the new key.
"""

from __future__ import annotations

from absl import logging

# Old key -> new key, per config section.
FRAMES = {"num_frames": "frames_per_video"}
TRAINER = {"num_frames": "window_frames"}


def take_renamed(data: dict, renames: dict[str, str], where: str) -> dict:
    """A copy of `data` with each old key moved to its new name (one warning line each).

    Raises:
      ValueError: both the old and the new key are given.
    """
    out = dict(data)
    for old, new in renames.items():
        if old not in out:
            continue
        if new in out:
            raise ValueError(
                f"{where}.{old} and {where}.{new} are the same setting: give {where}.{new} only"
            )
        logging.warning(
            "config key %s.%s is deprecated, read as %s.%s (rename it: the old key goes "
            "in the next release)",
            where,
            old,
            where,
            new,
        )
        out[new] = out.pop(old)
    return out
