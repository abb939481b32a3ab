"""The data a model was trained and evaluated on, as the report shows it.

Read from the Examples artifact's `ingest_report.json` (written by
`components/ingest/beam_ingest.py`, `IngestReport.to_dict`): videos written per split
and class, the videos skipped and why, identical videos under different labels or in
both splits, and the ingest's warnings. Plain values and no TensorFlow: the executor
reads the file, `parse_ingest_report` turns its text into a `DataSummary`.
"""

from __future__ import annotations

import dataclasses
import json

# The ingest report's keys the data section needs (IngestReport's fields).
REQUIRED_KEYS = ("class_names", "written", "bad", "selected")


class DataReportError(Exception):
    """An ingest report that is missing or cannot be read; the message says which
    file, what is wrong and what to do."""


@dataclasses.dataclass(frozen=True)
class DataSummary:
    """Attributes:
    class_names: class names in label order.
    written: {split: {class name: videos written}} ('train', 'eval').
    skipped: videos left out as unusable, each {'video', 'split', 'reason'}.
    duplicates: groups of identical videos, each {'sha256', 'videos': [{'video',
      'split', 'label'}], 'labels', 'splits'} (`components/ingest/duplicates.py`).
    duplicates_policy: what the ingest did with them: 'warn', 'fail' or 'drop'.
    warnings: the ingest's warnings (selection, duplicates), one line each.
    video_warnings: what videos' headers got wrong, each {'video', 'warning'}.
    refused: source members refused (unsafe or unsupported names).
    selected: videos the ingest selected (written + skipped + dropped).
    """

    class_names: tuple[str, ...]
    written: dict[str, dict[str, int]]
    skipped: tuple[dict, ...]
    duplicates: tuple[dict, ...] = ()
    duplicates_policy: str = "warn"
    warnings: tuple[str, ...] = ()
    video_warnings: tuple[dict, ...] = ()
    refused: tuple[str, ...] = ()
    selected: int = 0

    def count(self, split: str, name: str | None = None) -> int:
        """Videos written to `split`, of class `name` or of all classes (None)."""
        per_class = self.written.get(split, {})
        return int(per_class.get(name, 0)) if name is not None else sum(per_class.values())


def parse_ingest_report(text: str, path: str) -> DataSummary:
    """The DataSummary of an ingest report's JSON text.

    Args:
      text: the content of `ingest_report.json`.
      path: where it was read, for the error message.

    Raises:
      DataReportError: not JSON, or without the fields the ingest writes.
    """
    try:
        report = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataReportError(
            f"{path} is not valid JSON ({e}); it is written by VideoIngest: re-run the ingest"
        ) from e
    missing = [k for k in REQUIRED_KEYS if not isinstance(report, dict) or k not in report]
    if missing:
        raise DataReportError(
            f"{path} lacks {missing}: it is not an ingest report VideoIngest wrote "
            "(components/ingest/beam_ingest.py); re-run the ingest"
        )
    written = {
        split: {str(name): int(n) for name, n in per_class.items()}
        for split, per_class in report["written"].items()
    }
    return DataSummary(
        class_names=tuple(report["class_names"]),
        written=written,
        skipped=tuple(report["bad"]),
        duplicates=tuple(report.get("duplicates", ())),
        duplicates_policy=str(report.get("duplicates_policy", "warn")),
        warnings=tuple(report.get("warnings", ())),
        video_warnings=tuple(report.get("video_warnings", ())),
        refused=tuple(report.get("refused", ())),
        selected=int(report["selected"]),
    )
