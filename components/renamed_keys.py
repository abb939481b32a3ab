"""Config keys renamed in this release, still read for one release with a warning.

`num_frames` meant two things: the frames the ingest stores per video and the
model's temporal window. They are now `ingest.frames.frames_per_video` and
`trainer.window_frames`. `top_k` meant three: the labels the serving signatures
return (`trainer.serving_top_k`), the k of the top-k accuracy the Evaluator reports
(`evaluation.accuracy_top_k`), and the labels `predict` prints (`--show`, formerly
`--top-k`). A config (or stored JSON: a compiled spec, an older
run's exec properties) that still says an old key is read as before, with a
one-line warning naming the new key: the configs list these tables as their
`RENAMED_KEYS`, and components/config_loader.py reads them.
"""

from __future__ import annotations

# Old key -> new key, per config section.
FRAMES = {"num_frames": "frames_per_video"}
TRAINER = {"num_frames": "window_frames", "top_k": "serving_top_k"}
EVALUATION = {"top_k": "accuracy_top_k"}
