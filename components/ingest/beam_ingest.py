"""The ingest as one Beam pipeline: list -> select -> fetch -> decode and sample ->
resize -> JPEG -> TFRecord shards per split.

Listing and selection read only the source's directory (for a remote zip, its
central directory) and run where the pipeline is built; the per-video work runs
in DoFns that hold no local-only state, so any Beam runner can execute them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile

import apache_beam as beam
from absl import logging

from components import fetch
from components.ingest import contract, duplicates, records, sources, ucf101
from components.ingest.config import IngestConfig
from components.ingest.constants import (
    EVAL,
    LABELS_FILE,
    NOTES_PREFIX,
    RECORD_PREFIX,
    REPORT_FILE,
    SPLITS,
    TRAIN,
    split_dir,
)
from components.ingest.errors import IngestError
from components.ingest.selection import PlannedVideo, Selection, select_videos
from components.ingest.video import Clip, VideoDecodeError, decode_clip, encode_jpeg

_BAD, _WARN, _CONTENT = "bad", "warn", "content"
_NOTE_KINDS = (_BAD, _WARN, _CONTENT)


def plan_ingest(config: IngestConfig) -> tuple[Selection, list[str]]:
    """Lists the source and selects videos. Returns (selection, refused member names)."""
    lists = None
    if config.split_lists:
        path = config.split_lists
        if fetch.is_remote(path):
            dest = os.path.join(
                fetch.cache_folder(config.cache_dir, path), os.path.basename(path) or "lists.zip"
            )
            path = sources.download_file(path, dest, config.http)
        lists = ucf101.read_split_lists(path)
    entries, refused = sources.list_videos(config.source, config.http)
    if not entries:
        raise IngestError(
            f"source {config.source!r} holds no video (looked for {ucf101.VIDEO_EXTENSIONS} "
            "named v_<Class>_gNN_cNN or in <class>/ folders)"
        )
    selection = select_videos(entries, config.selection, lists)
    logging.info(
        "selected %d videos of %d classes (%d train, %d eval) from %d listed",
        len(selection.videos),
        len(selection.class_names),
        selection.count(TRAIN),
        selection.count(EVAL),
        len(entries),
    )
    return selection, refused


def clip_record(
    clip: Clip, config: IngestConfig, label: int, label_text: str, media_id: str, group: str
) -> records.VideoRecord:
    """The record of one decoded clip: its frames as JPEG plus what the trainer needs."""
    return records.VideoRecord(
        jpeg_frames=tuple(encode_jpeg(f, config.jpeg_quality) for f in clip.frames),
        label=label,
        label_text=label_text,
        media_id=media_id,
        group=group,
        num_real_frames=clip.num_real,
        timestamps_us=records.timestamps_us(clip.timestamps),
        sample_fps=clip.sample_fps,
        source_fps=float(clip.source_fps or 0.0),
        height=config.frames.height,
        width=config.frames.width,
    )


class _EncodeVideo(beam.DoFn):
    """Fetches, decodes once, samples, resizes and JPEG-encodes one video.

    Emits (split, sha256, serialized tf.train.Example); videos that cannot be used go
    to the 'bad' output with the reason, so one broken file never fails the run; what a
    header got wrong goes to 'warn', and each video's content hash to 'content'.
    """

    def __init__(self, config: IngestConfig, class_names: tuple[str, ...]):
        self._config = config
        self._class_names = class_names
        self._fetcher = None
        self._ok = beam.metrics.Metrics.counter("ingest", "videos_written")
        self._bad = beam.metrics.Metrics.counter("ingest", "videos_bad")

    def setup(self):
        c = self._config
        self._fetcher = sources.VideoFetcher(c.source, c.cache_dir, c.http)
        self._fetcher.open()

    def teardown(self):
        if self._fetcher is not None:
            self._fetcher.close()

    def process(self, video: PlannedVideo):
        entry = video.entry
        try:
            with self._fetcher.local_path(entry) as path:
                clip = decode_clip(path, self._config.frames)
                sha = duplicates.content_hash(path)
        except (VideoDecodeError, IngestError, zipfile.BadZipFile, OSError) as e:
            self._bad.inc()
            logging.warning("skipping %s: %s", entry.member, e)
            yield beam.pvalue.TaggedOutput(
                _BAD, {"video": entry.member, "split": video.split, "reason": str(e)}
            )
            return
        label_text = self._class_names[video.label]
        for warning in clip.warnings:
            logging.warning("%s: %s", entry.member, warning)
            yield beam.pvalue.TaggedOutput(_WARN, {"video": entry.member, "warning": warning})
        yield beam.pvalue.TaggedOutput(
            _CONTENT,
            {"video": entry.member, "split": video.split, "label": label_text, "sha256": sha},
        )
        record = clip_record(
            clip,
            self._config,
            video.label,
            label_text,
            entry.file_name,
            f"{label_text}/{entry.group}",
        )
        self._ok.inc()
        logging.info(
            "ingested %s -> %s (%d frames decoded)", entry.member, video.split, clip.num_decoded
        )
        yield video.split, sha, records.to_example_bytes(record)


def build_ingest(
    pipeline: beam.Pipeline, selection: Selection, config: IngestConfig, output_dir: str
) -> None:
    """Adds the per-video work and the writes to `pipeline`."""
    results = (
        pipeline
        | "Plan" >> beam.Create(list(selection.videos))
        # Spread videos over workers: Create alone keeps them in one bundle.
        | "Spread" >> beam.Reshuffle()
        | "Encode"
        >> beam.ParDo(_EncodeVideo(config, selection.class_names)).with_outputs(
            _BAD, _WARN, _CONTENT, main="ok"
        )
    )
    written = results.ok
    if config.duplicates == "drop":
        conflicting = (
            results[_CONTENT]
            | "AllContents" >> beam.combiners.ToList()
            | "Conflicts"
            >> beam.FlatMap(lambda cs: [g["sha256"] for g in duplicates.find_conflicts(cs)])
        )
        written = written | "DropDuplicates" >> beam.Filter(
            lambda kv, bad: kv[1] not in set(bad), bad=beam.pvalue.AsList(conflicting)
        )
    for split in SPLITS:
        _ = (
            written
            | f"Only{split}" >> beam.Filter(lambda kv, s=split: kv[0] == s)
            | f"Bytes{split}" >> beam.Map(lambda kv: kv[2])
            | f"Write{split}"
            >> beam.io.WriteToTFRecord(
                os.path.join(split_dir(output_dir, split), RECORD_PREFIX),
                num_shards=config.num_shards,
            )
        )
    # One file for the three kinds of notes: each Beam sink is a chain of stages that
    # cost the DirectRunner ~0.25 s however little they write (2 threads, 2026-12-07).
    _ = (
        [
            results[kind] | f"Note{kind}" >> beam.Map(lambda item, k=kind: {"kind": k, **item})
            for kind in _NOTE_KINDS
        ]
        | "Notes" >> beam.Flatten()
        | "NotesJson" >> beam.Map(lambda note: json.dumps(note, sort_keys=True))
        | "WriteNotes"
        >> beam.io.WriteToText(
            os.path.join(output_dir, NOTES_PREFIX),
            file_name_suffix=".jsonl",
            num_shards=1,
            shard_name_template="",
        )
    )


@dataclasses.dataclass(frozen=True)
class IngestReport:
    """What a run wrote: counts per split and class, bad videos, refused members,
    warnings of the selection, what the videos' headers got wrong (`video_warnings`:
    {'video', 'warning'}) and identical videos that disagree on label or split
    (`duplicates`: groups as `duplicates.find_conflicts` gives them)."""

    class_names: tuple[str, ...]
    written: dict
    bad: tuple[dict, ...]
    refused: tuple[str, ...]
    warnings: tuple[str, ...]
    selected: int
    video_warnings: tuple[dict, ...] = ()
    duplicates: tuple[dict, ...] = ()
    duplicates_policy: str = "warn"

    @property
    def bad_fraction(self) -> float:
        return len(self.bad) / self.selected if self.selected else 0.0

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "bad_fraction": self.bad_fraction}


def _read_notes(output_dir: str) -> dict[str, list[dict]]:
    """The pipeline's notes by kind (`_NOTE_KINDS`), each without its "kind"."""
    notes = {kind: [] for kind in _NOTE_KINDS}
    path = os.path.join(output_dir, NOTES_PREFIX + ".jsonl")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    note = json.loads(line)
                    notes[note.pop("kind")].append(note)
    return notes


def finish_ingest(
    selection: Selection, refused: list[str], config: IngestConfig, output_dir: str
) -> IngestReport:
    """Writes labels and the report next to the shards; fails if too many videos were
    bad, or on duplicates under the 'fail' policy.

    Runs after the Beam pipeline, so the shards already written are kept either way.
    """
    notes = _read_notes(output_dir)
    bad = notes[_BAD]
    conflicts = duplicates.find_conflicts(notes[_CONTENT])
    left_out = {b["video"] for b in bad}
    if config.duplicates == "drop":
        left_out |= {v["video"] for g in conflicts for v in g["videos"]}
    written = {split: {name: 0 for name in selection.class_names} for split in SPLITS}
    for video in selection.videos:
        if video.entry.member not in left_out:
            written[video.split][selection.class_names[video.label]] += 1
    report = IngestReport(
        class_names=selection.class_names,
        written=written,
        bad=tuple(sorted(bad, key=lambda b: b["video"])),
        refused=tuple(refused),
        warnings=selection.warnings + tuple(duplicates.describe(g) for g in conflicts),
        selected=len(selection.videos),
        video_warnings=tuple(sorted(notes[_WARN], key=lambda w: w["video"])),
        duplicates=tuple(conflicts),
        duplicates_policy=config.duplicates,
    )
    with open(os.path.join(output_dir, LABELS_FILE), "w", encoding="utf-8") as f:
        f.write("\n".join(selection.class_names) + "\n")
    with open(os.path.join(output_dir, contract.CONTRACT_FILE), "w", encoding="utf-8") as f:
        f.write(contract.FrameContract.of_ingest(config).to_json())
    with open(os.path.join(output_dir, REPORT_FILE), "w", encoding="utf-8") as f:
        json.dump(report.to_dict(), f, indent=2, sort_keys=True)
    if report.bad_fraction > config.max_bad_fraction:
        listed = "; ".join(f"{b['video']}: {b['reason']}" for b in report.bad[:10])
        raise IngestError(
            f"{len(bad)} of {report.selected} videos could not be used "
            f"({report.bad_fraction:.0%} > max_bad_fraction {config.max_bad_fraction:.0%}): "
            f"{listed}. The {report.selected - len(bad)} good ones are written in {output_dir}; "
            f"see {REPORT_FILE}"
        )
    if conflicts and config.duplicates == "fail":
        raise IngestError(
            f"{len(conflicts)} group(s) of identical videos under different labels or in "
            f"both splits: {duplicates.describe(conflicts[0])}. Remove the copies, or set "
            f"ingest.duplicates to 'drop' or 'warn'; see {REPORT_FILE} in {output_dir}"
        )
    return report


def run_ingest(
    config: IngestConfig, output_dir: str, beam_args: list[str] | None = None
) -> IngestReport:
    """Plans, runs the Beam pipeline and writes the report: the ingest without TFX."""
    from apache_beam.options.pipeline_options import PipelineOptions

    selection, refused = plan_ingest(config)
    os.makedirs(output_dir, exist_ok=True)
    with beam.Pipeline(options=PipelineOptions(beam_args or [])) as pipeline:
        build_ingest(pipeline, selection, config, output_dir)
    return finish_ingest(selection, refused, config, output_dir)
