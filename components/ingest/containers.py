"""What a video file's container says about its own length, read from its bytes.

Truncation is judged here, not by the frame count a header announces: headers lie
(stream-copy trims announce frames they do not hold, webcams write counts of -9.2e18),
while a container's structure sizes its own data. A file shorter than the size its
structure declares has lost its end. Read: RIFF (AVI) and ISO base media (MP4, MOV,
3GP) top-level boxes; other containers (Matroska/WebM, GIF, ...) answer None.
"""

from __future__ import annotations

import os
import struct


def declared_size(path: str) -> int | None:
    """Bytes the container's structure declares (the end of its last top-level chunk
    or box), or None for a container read here that is not AVI or MP4/MOV.

    Raises:
      OSError: the file cannot be read.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            return None
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            return 8 + struct.unpack("<I", head[4:8])[0]
        if head[4:8] not in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
            return None
        return _iso_boxes_end(f, size)


def _iso_boxes_end(f, size: int) -> int:
    """The offset where the last top-level ISO box ends (past `size` when cut)."""
    offset = 0
    while offset < size:
        f.seek(offset)
        head = f.read(16)
        if len(head) < 8:
            return offset + 8  # a box header cut in the middle
        box_size = struct.unpack(">I", head[:4])[0]
        if box_size == 1:
            if len(head) < 16:
                return offset + 16
            box_size = struct.unpack(">Q", head[8:16])[0]
        elif box_size == 0:  # 'to the end of the file'
            return size
        if box_size < 8:
            return size  # not a box structure we can follow: say nothing
        offset += box_size
    return offset


def is_truncated(path: str) -> tuple[bool, str]:
    """(True, why) when `path` is shorter than its container declares."""
    declared = declared_size(path)
    actual = os.path.getsize(path)
    if declared is not None and declared > actual:
        return True, f"the file ends at byte {actual}, its container declares {declared}"
    return False, ""
