"""IngestConfig: everything the ingest needs, validated at load, serialisable as JSON."""

from __future__ import annotations

import dataclasses
import json
import os

from components.ingest.duplicates import POLICIES
from components.ingest.selection import SelectionSpec
from components.ingest.sources import HttpOptions
from components.ingest.video import FrameSpec
from components.renamed_keys import FRAMES, take_renamed

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "video-action-pipeline")


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """The ingest's configuration.

    Attributes:
      source: http(s) URL of a zip (read partially), a local zip, or a folder of
        `<class>/<video>` files.
      split_lists: the official split lists (URL, zip or folder); '' for none.
      selection, frames, http: see SelectionSpec, FrameSpec, HttpOptions.
      jpeg_quality: JPEG quality of stored frames.
      num_shards: TFRecord shards per split; 0 lets the runner choose.
      max_bad_fraction: the run fails when more than this share of the selected
        videos cannot be decoded (the rest is still written first).
      cache_dir: where fetched remote members and lists are kept between runs.
      duplicates: byte-identical videos under different labels or in both splits
        are reported; 'warn' (default) writes them, 'fail' stops the run after
        writing the report, 'drop' leaves every video of such a group out.
    """

    source: str
    split_lists: str = ""
    selection: SelectionSpec = SelectionSpec()
    frames: FrameSpec = FrameSpec()
    http: HttpOptions = HttpOptions()
    jpeg_quality: int = 90
    num_shards: int = 0
    max_bad_fraction: float = 0.05
    cache_dir: str = DEFAULT_CACHE
    duplicates: str = "warn"

    def __post_init__(self):
        if not self.source:
            raise ValueError("source must be set (URL, zip file or folder)")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        if self.num_shards < 0:
            raise ValueError(f"num_shards must be >= 0, got {self.num_shards}")
        if not 0.0 <= self.max_bad_fraction <= 1.0:
            raise ValueError(f"max_bad_fraction must be in [0, 1], got {self.max_bad_fraction}")
        if self.duplicates not in POLICIES:
            raise ValueError(f"duplicates must be one of {POLICIES}, got {self.duplicates!r}")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> IngestConfig:
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        extra = set(data) - known
        if extra:
            raise ValueError(
                f"unknown ingest config fields {sorted(extra)}; known: {sorted(known)}"
            )
        sel = dict(data.pop("selection", {}))
        if isinstance(sel.get("classes"), list):
            sel["classes"] = tuple(sel["classes"])
        parts = {}
        for name, part_cls, values in (
            ("selection", SelectionSpec, sel),
            ("frames", FrameSpec, take_renamed(data.pop("frames", {}), FRAMES, "ingest.frames")),
            ("http", HttpOptions, data.pop("http", {})),
        ):
            fields = {f.name for f in dataclasses.fields(part_cls)}
            if set(values) - fields:
                raise ValueError(
                    f"unknown ingest config fields {sorted(set(values) - fields)} in {name!r}; "
                    f"known: {sorted(fields)}"
                )
            parts[name] = part_cls(**values)
        return cls(**parts, **data)

    @classmethod
    def from_json(cls, text: str) -> IngestConfig:
        return cls.from_dict(json.loads(text))
