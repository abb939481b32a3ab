"""Which videos to ingest and in which split: classes, clips per class, train/eval.

Splits never put one group (UCF101: same actor, same scene) in both train and
eval: either the official split lists decide (they respect groups), or a seeded
split assigns whole groups.
"""

from __future__ import annotations

import collections
import dataclasses
import random

from absl import logging

from components.config_loader import ConfigError, require
from components.ingest import ucf101
from components.ingest.constants import EVAL, TRAIN
from components.ingest.errors import IngestError
from components.ingest.sources import VideoEntry


@dataclasses.dataclass(frozen=True)
class SelectionSpec:
    """What to select.

    Attributes:
      classes: a count (first N classes in classInd order, or sorted names without
        lists), or a tuple of class names; 0 or () takes every class.
      clips_per_class: cap per class, taken round-robin over groups; 0 = no cap.
      split: official split number 1-3 (needs split lists), or 0 for the seeded
        group split.
      eval_fraction: share of each class's groups that go to eval (group split).
      seed: seeds the group split and the clip order.
      allow_missing_listed: tolerate list entries the source lacks (warn with a
        count) instead of failing.
      eval_only: every selected video goes to eval and none to train: a fixed
        reference set that models are evaluated on, never trained on (the pipeline's
        `evaluation.reference_source`); needs split 0 and makes eval_fraction moot.
    """

    classes: int | tuple[str, ...] = 0
    clips_per_class: int = 0
    split: int = 0
    eval_fraction: float = 0.3
    seed: int = 42
    allow_missing_listed: bool = False
    eval_only: bool = False

    def __post_init__(self):
        if isinstance(self.classes, int):
            require(self.classes >= 0, "classes", ">= 0 or a list of names", self.classes)
        require(self.clips_per_class >= 0, "clips_per_class", ">= 0", self.clips_per_class)
        require(
            self.split in (0, 1, 2, 3),
            "split",
            "1, 2 or 3 (official) or 0 (group split)",
            self.split,
        )
        require(0.0 < self.eval_fraction < 1.0, "eval_fraction", "in (0, 1)", self.eval_fraction)
        if self.eval_only and self.split:
            raise ConfigError(
                f"puts every video in eval; it takes split 0, got split {self.split}", "eval_only"
            )


@dataclasses.dataclass(frozen=True)
class PlannedVideo:
    """A selected video with its label index and split."""

    entry: VideoEntry
    label: int
    split: str


@dataclasses.dataclass(frozen=True)
class Selection:
    class_names: tuple[str, ...]
    videos: tuple[PlannedVideo, ...]
    warnings: tuple[str, ...]

    def count(self, split: str) -> int:
        return sum(v.split == split for v in self.videos)


def select_videos(
    entries: list[VideoEntry], spec: SelectionSpec, lists: ucf101.SplitLists | None = None
) -> Selection:
    """Picks classes and clips and assigns splits. Pure: same inputs, same result."""
    warnings: list[str] = []
    universe = list(lists.class_names) if lists else sorted({e.class_name for e in entries})
    canonical = {name.lower(): name for name in universe}
    by_class: dict[str, list[VideoEntry]] = collections.defaultdict(list)
    unknown = collections.Counter()
    for entry in entries:
        name = canonical.get(entry.class_name.lower())
        if name is None:
            unknown[entry.class_name] += 1
        else:
            by_class[name].append(entry)
    if unknown:
        warnings.append(
            f"{sum(unknown.values())} videos of classes not in classInd.txt ignored: "
            f"{sorted(unknown)[:5]}"
        )
    chosen = _choose_classes(spec.classes, universe, canonical)
    empty = [c for c in chosen if not by_class.get(c)]
    if empty:
        raise IngestError(f"the source holds no video of classes {empty[:10]}")

    if spec.eval_only:
        split_of = {e.member: EVAL for name in chosen for e in by_class[name]}
    elif spec.split:
        if lists is None:
            raise IngestError(
                f"split {spec.split} needs the official split lists (--split-lists); "
                "without them use --split 0 for a group split"
            )
        split_of = _official_splits(by_class, chosen, lists, spec, warnings)
    else:
        split_of = _group_splits(by_class, chosen, spec)

    planned = []
    for label, name in enumerate(chosen):
        candidates = [e for e in by_class[name] if e.member in split_of]
        ordered = _round_robin_by_group(candidates, split_of, spec.seed)
        for entry in ordered[: spec.clips_per_class or None]:
            planned.append(PlannedVideo(entry, label, split_of[entry.member]))
    selection = Selection(tuple(chosen), tuple(planned), tuple(warnings))
    for split in (EVAL,) if spec.eval_only else (TRAIN, EVAL):
        if selection.count(split) == 0:
            raise IngestError(
                f"the selection has no {split} video ({len(planned)} selected): "
                "raise --clips-per-class or pick other classes"
            )
    for message in warnings:
        logging.warning(message)
    return selection


def _choose_classes(
    classes: int | tuple[str, ...], universe: list[str], canonical: dict[str, str]
) -> list[str]:
    if isinstance(classes, int):
        if classes > len(universe):
            raise IngestError(f"asked for {classes} classes but only {len(universe)} exist")
        return universe[: classes or None]
    if not classes:
        return list(universe)
    unknown = [c for c in classes if c.lower() not in canonical]
    if unknown:
        raise IngestError(
            f"unknown class names {unknown}; known classes: {universe[:20]}"
            + (" ..." if len(universe) > 20 else "")
        )
    chosen = [canonical[c.lower()] for c in classes]
    if len(set(chosen)) != len(chosen):
        raise IngestError(f"class names repeat in {list(classes)}")
    return chosen


def _official_splits(by_class, chosen, lists, spec, warnings) -> dict[str, str]:
    train, test = lists.split(spec.split)
    chosen_lower = {c.lower() for c in chosen}
    listed: dict[str, str] = {}
    for split, pairs in ((TRAIN, train), (EVAL, test)):
        for class_dir, file_name in pairs:
            if class_dir.lower() in chosen_lower:
                listed[ucf101.video_key(file_name)] = split
    split_of, unlisted = {}, 0
    for name in chosen:
        for entry in by_class[name]:
            split = listed.pop(ucf101.video_key(entry.file_name), None)
            if split is None:
                unlisted += 1
            else:
                split_of[entry.member] = split
    if unlisted:
        warnings.append(
            f"{unlisted} videos of the chosen classes are in no list of split {spec.split}; skipped"
        )
    if listed:
        message = (
            f"split {spec.split} lists {len(listed)} videos of the chosen classes that the "
            f"source does not have, e.g. {sorted(listed)[:3]}"
        )
        if not spec.allow_missing_listed:
            raise IngestError(message + "; pass --allow-missing to skip them")
        warnings.append(message + "; skipped")
    return split_of


def _group_splits(by_class, chosen, spec) -> dict[str, str]:
    rng = random.Random(spec.seed)
    split_of = {}
    for name in chosen:
        groups = sorted({e.group for e in by_class[name]})
        if len(groups) < 2:
            raise IngestError(
                f"class {name!r} has a single group ({groups[0]}): a group split needs at "
                "least two groups per class; give split lists or more videos"
            )
        rng.shuffle(groups)
        n_eval = min(len(groups) - 1, max(1, round(spec.eval_fraction * len(groups))))
        eval_groups = set(groups[:n_eval])
        for entry in by_class[name]:
            split_of[entry.member] = EVAL if entry.group in eval_groups else TRAIN
    return split_of


def _round_robin_by_group(
    entries: list[VideoEntry], split_of: dict[str, str], seed: int
) -> list[VideoEntry]:
    """Entries ordered one per group at a time, groups in a seeded order, so a cap
    keeps as many groups (and both splits) as it can."""
    by_group: dict[str, list[VideoEntry]] = collections.defaultdict(list)
    for entry in sorted(entries, key=lambda e: e.member):
        by_group[entry.group].append(entry)
    groups = sorted(by_group)
    random.Random(seed).shuffle(groups)
    # Interleave the splits' groups in proportion (each split's first group leads),
    # else a cap below the group count can drop a class's eval groups entirely.
    split_groups: dict[str, list[str]] = collections.defaultdict(list)
    for g in groups:
        split_groups[split_of[by_group[g][0].member]].append(g)
    rank = {g: i / len(gs) for gs in split_groups.values() for i, g in enumerate(gs)}
    groups.sort(key=rank.__getitem__)
    ordered = []
    for i in range(max((len(v) for v in by_group.values()), default=0)):
        ordered.extend(by_group[g][i] for g in groups if i < len(by_group[g]))
    return ordered
