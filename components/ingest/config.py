"""IngestConfig: everything the ingest needs, validated at load, serialisable as JSON."""

from __future__ import annotations

import dataclasses
import os

from components.config_loader import ConfigError, SectionConfig, require
from components.fetch import HttpOptions
from components.ingest.duplicates import POLICIES
from components.ingest.selection import SelectionSpec
from components.ingest.video import FrameSpec

DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "video-action-pipeline")


@dataclasses.dataclass(frozen=True)
class IngestConfig(SectionConfig):
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

    SECTION = "ingest"

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
            raise ConfigError("must be set (URL, zip file or folder)", "source")
        require(1 <= self.jpeg_quality <= 100, "jpeg_quality", "in 1..100", self.jpeg_quality)
        require(self.num_shards >= 0, "num_shards", ">= 0", self.num_shards)
        require(
            0.0 <= self.max_bad_fraction <= 1.0,
            "max_bad_fraction",
            "in [0, 1]",
            self.max_bad_fraction,
        )
        require(self.duplicates in POLICIES, "duplicates", f"one of {POLICIES}", self.duplicates)
