"""Tests of components/ingest/selection.py: classes, caps and group-respecting splits."""

from __future__ import annotations

import collections

import pytest

from components.ingest import ucf101
from components.ingest.constants import EVAL, TRAIN
from components.ingest.errors import IngestError
from components.ingest.selection import SelectionSpec, select_videos
from components.ingest.sources import VideoEntry
from pipeline import demo_data

# classInd order (SlideLeft, SlideRight, SlideUp, SlideDown, Grow) differs from sorted order.
DEMO = demo_data.DemoSpec(num_classes=5, groups_per_class=4, clips_per_group=2)
CLASSES = demo_data.MOTIONS[:5]


def _entry(class_name: str, group: int, clip: int, file_class: str | None = None) -> VideoEntry:
    file_name = demo_data.video_name(file_class or class_name, group, clip)
    return VideoEntry(f"UCF101/{file_name}", class_name, f"g{group:02d}", 1000)


def _entries(classes=CLASSES, groups: int = 4, clips: int = 2) -> list[VideoEntry]:
    return [
        _entry(c, g, k) for c in classes for g in range(1, groups + 1) for k in range(1, clips + 1)
    ]


def _lists(spec: demo_data.DemoSpec = DEMO) -> ucf101.SplitLists:
    texts = demo_data.split_list_texts(spec)
    train, test = {}, {}
    for n in (1, 2, 3):
        train[n] = tuple(ucf101.parse_split_list(texts[f"trainlist0{n}.txt"], "train"))
        test[n] = tuple(ucf101.parse_split_list(texts[f"testlist0{n}.txt"], "test"))
    return ucf101.SplitLists(tuple(ucf101.parse_class_index(texts["classInd.txt"])), train, test)


def _groups_by_split(selection) -> dict[str, set[tuple[str, str]]]:
    groups = collections.defaultdict(set)
    for v in selection.videos:
        groups[v.split].add((v.entry.class_name, v.entry.group))
    return groups


def test_classes_by_count_follow_class_index_order():
    selection = select_videos(_entries(), SelectionSpec(classes=2, split=1), _lists())
    assert selection.class_names == ("SlideLeft", "SlideRight")
    labels = {v.entry.class_name: v.label for v in selection.videos}
    assert labels == {"SlideLeft": 0, "SlideRight": 1}


def test_classes_by_count_without_lists_follow_sorted_names():
    selection = select_videos(_entries(), SelectionSpec(classes=2))
    assert selection.class_names == ("Grow", "SlideDown")


def test_all_classes_when_count_is_zero():
    selection = select_videos(_entries(), SelectionSpec(classes=0, split=1), _lists())
    assert selection.class_names == CLASSES
    assert len(selection.videos) == len(_entries())


def test_classes_by_names_are_case_insensitive_and_keep_the_given_order():
    spec = SelectionSpec(classes=("slideup", "GROW"), split=1)
    selection = select_videos(_entries(), spec, _lists())
    assert selection.class_names == ("SlideUp", "Grow")
    labels = {v.entry.class_name: v.label for v in selection.videos}
    assert labels == {"SlideUp": 0, "Grow": 1}


def test_unknown_class_name_is_named_in_the_error():
    with pytest.raises(IngestError, match="unknown class names.*'Juggle'"):
        select_videos(_entries(), SelectionSpec(classes=("SlideUp", "Juggle"), split=1), _lists())


def test_repeated_class_name_fails():
    with pytest.raises(IngestError, match="repeat"):
        select_videos(_entries(), SelectionSpec(classes=("SlideUp", "slideup"), split=1), _lists())


def test_too_many_classes_fails():
    with pytest.raises(IngestError, match="asked for 6 classes but only 5 exist"):
        select_videos(_entries(), SelectionSpec(classes=6, split=1), _lists())


def test_chosen_class_without_videos_fails():
    entries = [e for e in _entries() if e.class_name != "SlideRight"]
    with pytest.raises(IngestError, match="no video of classes.*SlideRight"):
        select_videos(entries, SelectionSpec(classes=2, split=1), _lists())


@pytest.mark.parametrize("split", [1, 2, 3])
def test_official_split_is_honoured_exactly(split):
    lists = _lists()
    train, test = lists.split(split)
    expected = {ucf101.video_key(f): TRAIN for _, f in train}
    expected.update({ucf101.video_key(f): EVAL for _, f in test})
    selection = select_videos(_entries(), SelectionSpec(split=split), lists)
    assert len(selection.videos) == len(expected) == len(_entries())
    for v in selection.videos:
        assert v.split == expected[ucf101.video_key(v.entry.file_name)], v.entry.member
    held_out = demo_data.held_out_groups(DEMO.groups_per_class, split)
    assert {g for _, g in _groups_by_split(selection)[EVAL]} == {f"g{g:02d}" for g in held_out}


def test_official_split_matches_handstand_pushups_spellings():
    texts = {
        "classInd.txt": "1 HandstandPushups\r\n2 YoYo\r\n",
        "train": (
            "HandstandPushups/v_HandStandPushups_g02_c01.avi 1\r\nYoYo/v_YoYo_g02_c01.avi 2\r\n"
        ),
        "test": "HandstandPushups/v_HandStandPushups_g01_c01.avi\r\nYoYo/v_YoYo_g01_c01.avi\r\n",
    }
    lists = ucf101.SplitLists(
        tuple(ucf101.parse_class_index(texts["classInd.txt"])),
        {1: tuple(ucf101.parse_split_list(texts["train"], "train"))},
        {1: tuple(ucf101.parse_split_list(texts["test"], "test"))},
    )
    # The zip spells the file name HandstandPushups; its parsed class follows the file name.
    entries = [_entry(c, g, 1) for c in ("HandstandPushups", "YoYo") for g in (1, 2)]
    selection = select_videos(entries, SelectionSpec(split=1), lists)
    assert selection.class_names == ("HandstandPushups", "YoYo")
    splits = {v.entry.member: v.split for v in selection.videos}
    assert splits["UCF101/v_HandstandPushups_g01_c01.avi"] == EVAL
    assert splits["UCF101/v_HandstandPushups_g02_c01.avi"] == TRAIN
    assert selection.warnings == ()


def test_official_split_without_lists_fails():
    with pytest.raises(IngestError, match="needs the official split lists"):
        select_videos(_entries(), SelectionSpec(split=1))


def test_group_split_never_puts_a_group_in_both_splits():
    selection = select_videos(_entries(groups=6), SelectionSpec(split=0, eval_fraction=0.3))
    groups = _groups_by_split(selection)
    assert groups[TRAIN] and groups[EVAL]
    assert not groups[TRAIN] & groups[EVAL]
    eval_per_class = collections.Counter(c for c, _ in groups[EVAL])
    assert eval_per_class == {c: 2 for c in CLASSES}  # round(0.3 * 6) groups each


def _eval_groups(seed: int) -> set[tuple[str, str]]:
    return _groups_by_split(select_videos(_entries(groups=6), SelectionSpec(seed=seed)))[EVAL]


def test_group_split_is_deterministic_for_a_seed():
    assert select_videos(_entries(), SelectionSpec(seed=7)) == select_videos(
        _entries(), SelectionSpec(seed=7)
    )
    assert _eval_groups(7) == _eval_groups(7)


def test_group_split_changes_with_the_seed():
    assert any(_eval_groups(seed) != _eval_groups(0) for seed in (1, 2, 3))


def test_group_split_of_a_single_group_class_fails():
    entries = _entries(classes=("SlideLeft",)) + [_entry("SlideRight", 1, k) for k in (1, 2, 3)]
    with pytest.raises(IngestError, match="'SlideRight' has a single group"):
        select_videos(entries, SelectionSpec(split=0))


@pytest.mark.parametrize("seed", range(8))
def test_cap_takes_groups_round_robin_and_keeps_both_splits_in_every_class(seed):
    spec = SelectionSpec(clips_per_class=3, seed=seed)
    selection = select_videos(_entries(groups=4, clips=3), spec)
    for label, name in enumerate(selection.class_names):
        videos = [v for v in selection.videos if v.label == label]
        assert len(videos) == 3
        assert len({v.entry.group for v in videos}) == 3, name  # one clip from each of 3 groups
        assert {v.split for v in videos} == {TRAIN, EVAL}, name


@pytest.mark.parametrize("split", [1, 2, 3])
def test_cap_with_official_split_keeps_both_splits_in_every_class(split):
    spec = demo_data.DemoSpec(num_classes=5, groups_per_class=12, clips_per_group=2)
    entries = _entries(groups=12)
    selection = select_videos(entries, SelectionSpec(clips_per_class=2, split=split), _lists(spec))
    for label in range(len(CLASSES)):
        assert {v.split for v in selection.videos if v.label == label} == {TRAIN, EVAL}


def test_cap_larger_than_groups_takes_second_clips_after_all_groups():
    selection = select_videos(_entries(groups=4, clips=3), SelectionSpec(clips_per_class=6))
    for label in range(len(CLASSES)):
        groups = collections.Counter(v.entry.group for v in selection.videos if v.label == label)
        assert sorted(groups.values()) == [1, 1, 2, 2]


def test_listed_videos_missing_from_the_source_fail():
    entries = [e for e in _entries() if not e.member.endswith("_g02_c01.avi")]
    with pytest.raises(IngestError, match="lists 5 videos .* does not have") as info:
        select_videos(entries, SelectionSpec(split=1), _lists())
    assert "--allow-missing" in str(info.value)


def test_listed_videos_missing_from_the_source_warn_when_allowed():
    entries = [e for e in _entries() if not e.member.endswith("_g02_c01.avi")]
    spec = SelectionSpec(split=1, allow_missing_listed=True)
    selection = select_videos(entries, spec, _lists())
    assert len(selection.videos) == len(entries)
    assert any("lists 5 videos" in w and "skipped" in w for w in selection.warnings)


def test_missing_videos_of_classes_not_chosen_are_ignored():
    entries = [e for e in _entries() if e.class_name != "Grow" or e.group != 2]
    selection = select_videos(entries, SelectionSpec(classes=2, split=1), _lists())
    assert selection.warnings == ()


def test_videos_in_no_list_are_counted_in_a_warning():
    extra = [_entry("SlideLeft", 9, 1), _entry("SlideLeft", 9, 2), _entry("SlideUp", 9, 1)]
    selection = select_videos(_entries() + extra, SelectionSpec(split=1), _lists())
    members = {v.entry.member for v in selection.videos}
    assert not members & {e.member for e in extra}
    message = "3 videos of the chosen classes are in no list of split 1"
    assert any(w.startswith(message) for w in selection.warnings)


def test_videos_of_classes_not_in_class_index_are_counted_in_a_warning():
    extra = [_entry("Juggle", 1, 1), _entry("Juggle", 1, 2)]
    selection = select_videos(_entries() + extra, SelectionSpec(split=1), _lists())
    assert any(w.startswith("2 videos of classes not in classInd.txt") for w in selection.warnings)


def test_empty_split_fails():
    # Every test-list video is missing: tolerated, but nothing is left to evaluate on.
    held_out = demo_data.held_out_groups(DEMO.groups_per_class, 1)
    entries = [e for e in _entries() if int(e.group[1:]) not in held_out]
    spec = SelectionSpec(split=1, allow_missing_listed=True)
    with pytest.raises(IngestError, match="no eval video"):
        select_videos(entries, spec, _lists())


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"classes": -1}, "classes"),
        ({"clips_per_class": -2}, "clips_per_class"),
        ({"split": 4}, "split"),
        ({"eval_fraction": 0.0}, "eval_fraction"),
        ({"eval_fraction": 1.0}, "eval_fraction"),
    ],
)
def test_selection_spec_rejects_invalid_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SelectionSpec(**kwargs)


def test_eval_only_takes_every_video_of_the_given_classes_in_their_order():
    """A reference set: one group per class is enough, nothing goes to train, and a
    class the model does not know (Grow) is left out."""
    entries = _entries(classes=("SlideLeft", "SlideRight", "Grow"), groups=1, clips=3)
    selection = select_videos(
        entries, SelectionSpec(classes=("slideright", "SlideLeft"), eval_only=True)
    )
    assert selection.class_names == ("SlideRight", "SlideLeft")
    assert selection.count(TRAIN) == 0 and selection.count(EVAL) == 6
    assert {(v.entry.class_name, v.label) for v in selection.videos} == {
        ("SlideRight", 0),
        ("SlideLeft", 1),
    }


def test_eval_only_refuses_a_class_the_reference_lacks():
    entries = _entries(classes=("SlideLeft", "SlideRight"))
    with pytest.raises(IngestError, match=r"unknown class names \['SlideUp'\]"):
        select_videos(entries, SelectionSpec(classes=("SlideLeft", "SlideUp"), eval_only=True))


def test_eval_only_refuses_an_official_split():
    with pytest.raises(ValueError, match="eval_only puts every .* takes split 0, got split 1"):
        SelectionSpec(split=1, eval_only=True)
