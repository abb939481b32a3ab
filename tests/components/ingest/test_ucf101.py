"""Tests of components/ingest/ucf101.py: file names, classInd and the split lists."""

from __future__ import annotations

import os
import zipfile

import pytest

from components.ingest import ucf101
from components.ingest.errors import IngestError

CLASS_IND = "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n3 YoYo\r\n"
TRAIN_1 = (
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
    "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n"
    "YoYo/v_YoYo_g08_c01.avi 3\r\n"
)
TEST_1 = "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nYoYo/v_YoYo_g01_c01.avi\r\n"
TRAIN_2 = "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n"
TEST_2 = "YoYo/v_YoYo_g08_c01.avi\r\n"
LIST_TEXTS = {
    "classInd.txt": CLASS_IND,
    "trainlist01.txt": TRAIN_1,
    "testlist01.txt": TEST_1,
    "trainlist02.txt": TRAIN_2,
    "testlist02.txt": TEST_2,
}


def _write_lists_zip(path: str, texts: dict[str, str]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in texts.items():
            zf.writestr(f"{ucf101.SPLIT_LISTS_DIR}/{name}", text)
    return path


def _write_lists_folder(folder: str, texts: dict[str, str]) -> str:
    lists_dir = os.path.join(folder, ucf101.SPLIT_LISTS_DIR)
    os.makedirs(lists_dir)
    for name, text in texts.items():
        with open(os.path.join(lists_dir, name), "w", encoding="utf-8", newline="") as f:
            f.write(text)
    return folder


@pytest.mark.parametrize(
    "name, expected",
    [
        ("v_ApplyEyeMakeup_g08_c01.avi", ucf101.UcfName("ApplyEyeMakeup", 8, 1)),
        ("v_YoYo_g25_c07.mp4", ucf101.UcfName("YoYo", 25, 7)),
        ("v_HandStandPushups_g01_c04.avi", ucf101.UcfName("HandStandPushups", 1, 4)),
    ],
)
def test_parse_video_name_reads_class_group_and_clip(name, expected):
    assert ucf101.parse_video_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "ApplyEyeMakeup_g08_c01.avi",  # no v_ prefix
        "v_ApplyEyeMakeup_g08.avi",  # no clip
        "v_ApplyEyeMakeup_gXX_c01.avi",  # group not a number
        "v_Apply-Eye_g08_c01.avi",  # class with a dash
        "v_ApplyEyeMakeup_g08_c01",  # no extension
        "UCF101/v_ApplyEyeMakeup_g08_c01.avi",  # a path, not a base name
        "my_holiday.avi",
    ],
)
def test_parse_video_name_returns_none_off_scheme(name):
    assert ucf101.parse_video_name(name) is None


def test_parse_class_index_orders_by_index_not_by_line():
    text = "3 YoYo\r\n1 ApplyEyeMakeup\r\n\r\n2 HandstandPushups\r\n"
    assert ucf101.parse_class_index(text) == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]


def test_parse_class_index_rejects_gaps():
    with pytest.raises(IngestError, match="without gaps"):
        ucf101.parse_class_index("1 ApplyEyeMakeup\n3 YoYo\n")


@pytest.mark.parametrize("bad_line", ["ApplyEyeMakeup 2", "2", "2 Hand stand", "x2 YoYo"])
def test_parse_class_index_names_the_malformed_line(bad_line):
    text = f"1 ApplyEyeMakeup\r\n{bad_line}\r\n"
    with pytest.raises(IngestError, match="classInd.txt line 2") as info:
        ucf101.parse_class_index(text)
    assert repr(bad_line) in str(info.value)


def test_parse_split_list_reads_train_lines_with_index_and_crlf():
    pairs = ucf101.parse_split_list(TRAIN_1, "trainlist01.txt")
    assert pairs == [
        ("ApplyEyeMakeup", "v_ApplyEyeMakeup_g08_c01.avi"),
        ("HandstandPushups", "v_HandStandPushups_g08_c01.avi"),
        ("YoYo", "v_YoYo_g08_c01.avi"),
    ]
    assert all("\r" not in part for pair in pairs for part in pair)


def test_parse_split_list_reads_test_lines_and_skips_blank_lines():
    text = "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n\n  \nYoYo/v_YoYo_g01_c01.avi"
    assert ucf101.parse_split_list(text, "testlist01.txt") == [
        ("ApplyEyeMakeup", "v_ApplyEyeMakeup_g01_c01.avi"),
        ("YoYo", "v_YoYo_g01_c01.avi"),
    ]


@pytest.mark.parametrize(
    "bad_line",
    ["v_YoYo_g01_c01.avi 3", "YoYo/ 3", "UCF101/YoYo/v_YoYo_g01_c01.avi"],
)
def test_parse_split_list_names_list_and_line_of_a_malformed_entry(bad_line):
    text = f"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n{bad_line}\r\n"
    with pytest.raises(IngestError, match=r"trainlist02\.txt line 2"):
        ucf101.parse_split_list(text, "trainlist02.txt")


def _check_lists(lists: ucf101.SplitLists) -> None:
    assert lists.class_names == ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
    assert sorted(lists.train) == sorted(lists.test) == [1, 2]
    train, test = lists.split(1)
    assert train == tuple(ucf101.parse_split_list(TRAIN_1, "t"))
    assert test == (
        ("ApplyEyeMakeup", "v_ApplyEyeMakeup_g01_c01.avi"),
        ("YoYo", "v_YoYo_g01_c01.avi"),
    )
    assert lists.split(2) == (
        (("ApplyEyeMakeup", "v_ApplyEyeMakeup_g01_c01.avi"),),
        (("YoYo", "v_YoYo_g08_c01.avi"),),
    )


def test_read_split_lists_from_zip(tmp_path):
    _check_lists(ucf101.read_split_lists(_write_lists_zip(str(tmp_path / "lists.zip"), LIST_TEXTS)))


def test_read_split_lists_from_folder(tmp_path):
    _check_lists(ucf101.read_split_lists(_write_lists_folder(str(tmp_path), LIST_TEXTS)))


def test_read_split_lists_skips_a_split_without_both_lists(tmp_path):
    texts = dict(LIST_TEXTS, **{"trainlist03.txt": TRAIN_2})  # no testlist03.txt
    lists = ucf101.read_split_lists(_write_lists_zip(str(tmp_path / "lists.zip"), texts))
    assert sorted(lists.train) == [1, 2]


def test_handstand_pushups_spellings_share_a_video_key():
    # The lists and file names say HandStandPushups, classInd and the folder HandstandPushups.
    listed = ucf101.parse_split_list(TRAIN_1, "trainlist01.txt")[1][1]
    in_zip = "UCF101/v_HandstandPushups_g08_c01.avi"
    assert listed != os.path.basename(in_zip)
    assert ucf101.video_key(listed) == ucf101.video_key(in_zip) == "v_handstandpushups_g08_c01.avi"
    assert ucf101.video_key("UCF101/v_YoYo_g08_c01.avi") != ucf101.video_key(listed)


def test_read_split_lists_without_class_index_fails(tmp_path):
    texts = {k: v for k, v in LIST_TEXTS.items() if k != "classInd.txt"}
    path = _write_lists_zip(str(tmp_path / "lists.zip"), texts)
    with pytest.raises(IngestError, match="no classInd.txt") as info:
        ucf101.read_split_lists(path)
    assert "lists.zip" in str(info.value)


def test_read_split_lists_without_any_split_pair_fails(tmp_path):
    path = _write_lists_zip(str(tmp_path / "lists.zip"), {"classInd.txt": CLASS_IND})
    with pytest.raises(IngestError, match="no trainlist0N.txt/testlist0N.txt pair"):
        ucf101.read_split_lists(path)


def test_read_split_lists_missing_or_not_a_zip(tmp_path):
    with pytest.raises(IngestError, match="not found"):
        ucf101.read_split_lists(str(tmp_path / "absent.zip"))
    garbage = tmp_path / "lists.zip"
    garbage.write_bytes(b"this is not a zip")
    with pytest.raises(IngestError, match="not a zip"):
        ucf101.read_split_lists(str(garbage))


def test_split_with_unknown_number_names_the_available_ones(tmp_path):
    lists = ucf101.read_split_lists(_write_lists_zip(str(tmp_path / "lists.zip"), LIST_TEXTS))
    with pytest.raises(IngestError, match=r"no split 3: available \[1, 2\]"):
        lists.split(3)
