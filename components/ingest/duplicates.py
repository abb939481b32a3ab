"""Duplicate videos: byte-identical files under different labels or in both splits.

Plain functions on the per-video content records the ingest emits
({'video', 'split', 'label', 'sha256'}); light (no TensorFlow, no Beam), so the report
and its readers share them.
"""

from __future__ import annotations

import collections
import hashlib

POLICIES = ("warn", "fail", "drop")


def content_hash(path: str, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, hex.

    Raises:
      OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def find_conflicts(contents: list[dict]) -> list[dict]:
    """Groups of identical videos that disagree on label or split, sorted by hash.

    Each group: {'sha256', 'videos': [{'video', 'split', 'label'}, ...] (sorted),
    'labels': sorted distinct labels, 'splits': sorted distinct splits}. Identical
    videos with one label in one split are not a conflict (they only weigh double).
    """
    by_hash = collections.defaultdict(list)
    for c in contents:
        by_hash[c["sha256"]].append(c)
    groups = []
    for sha, members in sorted(by_hash.items()):
        labels = sorted({m["label"] for m in members})
        splits = sorted({m["split"] for m in members})
        if len(labels) > 1 or len(splits) > 1:
            videos = sorted(
                ({"video": m["video"], "split": m["split"], "label": m["label"]} for m in members),
                key=lambda v: v["video"],
            )
            groups.append({"sha256": sha, "videos": videos, "labels": labels, "splits": splits})
    return groups


def describe(group: dict) -> str:
    """One line for a conflict group."""
    names = ", ".join(f"{v['video']} ({v['label']}, {v['split']})" for v in group["videos"])
    return f"identical videos (sha256 {group['sha256'][:12]}): {names}"
