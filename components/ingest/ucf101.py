"""UCF101 naming and official split lists, with the real dataset's quirks.

Layout of the real data (as TensorFlow Datasets' `ucf101` builder reads it):
- the videos zip holds `UCF101/v_<Class>_g<GG>_c<CC>.avi`, flat;
- the split-lists zip holds `ucfTrainTestlist/classInd.txt` (`<index> <Class>`,
  1-based), `trainlist0N.txt` (`<Class>/<file> <index>`) and `testlist0N.txt`
  (`<Class>/<file>`), CRLF line ends;
- the lists spell one class `HandStandPushups` in file names while its folder and
  the zip say `HandstandPushups`: names are matched case-insensitively.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import zipfile

from components.ingest.errors import IngestError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".gif")
SPLIT_LISTS_DIR = "ucfTrainTestlist"
_UCF_NAME = re.compile(r"^v_(?P<cls>[A-Za-z0-9]+)_g(?P<group>\d+)_c(?P<clip>\d+)\.[A-Za-z0-9]+$")


@dataclasses.dataclass(frozen=True)
class UcfName:
    """The parts of a `v_<Class>_g<GG>_c<CC>.<ext>` file name."""

    class_name: str
    group: int
    clip: int


def parse_video_name(file_name: str) -> UcfName | None:
    """Parses a UCF101 file name (base name only); None when it does not follow the scheme."""
    match = _UCF_NAME.match(file_name)
    if not match:
        return None
    return UcfName(match["cls"], int(match["group"]), int(match["clip"]))


def video_key(file_name: str) -> str:
    """The case-insensitive key that matches list entries to zip members."""
    return os.path.basename(file_name).lower()


def parse_class_index(text: str) -> list[str]:
    """Parses `classInd.txt` into class names ordered by their 1-based index."""
    entries: dict[int, str] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise IngestError(
                f"classInd.txt line {line_no}: expected '<index> <ClassName>', got {line!r}"
            )
        entries[int(parts[0])] = parts[1]
    if sorted(entries) != list(range(1, len(entries) + 1)):
        raise IngestError(
            f"classInd.txt: indices must run 1..N without gaps, got {sorted(entries)[:10]}..."
        )
    return [entries[i] for i in range(1, len(entries) + 1)]


def parse_split_list(text: str, list_name: str) -> list[tuple[str, str]]:
    """Parses a train/test list into (class folder, file name) pairs."""
    pairs = []
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        path = line.split()[0]
        class_dir, sep, file_name = path.partition("/")
        if not sep or not file_name or "/" in file_name:
            raise IngestError(
                f"{list_name} line {line_no}: expected '<Class>/<video file>[ <index>]', "
                f"got {line!r}"
            )
        pairs.append((class_dir, file_name))
    return pairs


@dataclasses.dataclass(frozen=True)
class SplitLists:
    """The official lists: class order and, per split number, train and test files."""

    class_names: tuple[str, ...]
    train: dict[int, tuple[tuple[str, str], ...]]
    test: dict[int, tuple[tuple[str, str], ...]]

    def split(self, number: int) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        """(train, test) entries of official split `number`."""
        if number not in self.train or number not in self.test:
            raise IngestError(
                f"split lists have no split {number}: available {sorted(self.train)}; "
                "use --split with one of those"
            )
        return self.train[number], self.test[number]


def read_split_lists(path: str) -> SplitLists:
    """Reads the official split lists from their zip or an extracted folder."""
    texts = _read_list_texts(path)
    if "classInd.txt" not in texts:
        raise IngestError(
            f"split lists {path!r} have no classInd.txt (expected {SPLIT_LISTS_DIR}/classInd.txt)"
        )
    class_names = tuple(parse_class_index(texts["classInd.txt"]))
    train, test = {}, {}
    for number in (1, 2, 3):
        train_name, test_name = f"trainlist0{number}.txt", f"testlist0{number}.txt"
        if train_name in texts and test_name in texts:
            train[number] = tuple(parse_split_list(texts[train_name], train_name))
            test[number] = tuple(parse_split_list(texts[test_name], test_name))
    if not train:
        raise IngestError(f"split lists {path!r} hold no trainlist0N.txt/testlist0N.txt pair")
    return SplitLists(class_names, train, test)


def _read_list_texts(path: str) -> dict[str, str]:
    """Base name -> text of every .txt in the lists zip (or folder)."""
    texts = {}
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for name in files:
                if name.endswith(".txt"):
                    with open(os.path.join(root, name), encoding="utf-8") as f:
                        texts[name] = f.read()
        return texts
    try:
        with open(path, "rb") as f:
            data = f.read()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                if info.filename.endswith(".txt"):
                    texts[os.path.basename(info.filename)] = zf.read(info).decode("utf-8")
    except FileNotFoundError as e:
        raise IngestError(f"split lists {path!r} not found") from e
    except zipfile.BadZipFile as e:
        raise IngestError(f"split lists {path!r} is not a zip file nor a folder") from e
    return texts
