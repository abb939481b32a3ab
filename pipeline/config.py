"""PipelineConfig: the one description of a pipeline run, from a YAML/JSON file and --set.

Every runner (local, Kubeflow) builds the same pipeline from this object; runners
differ only in the values (paths, Beam args, image, resources). The ingest and
trainer parts are the components' own configs, nested as they are serialised.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import unicodedata
from typing import Any

import yaml

from components import renamed_keys
from components.config_loader import ConfigError, load, require
from components.data_gate.config import DataGateConfig
from components.ingest import spans
from components.ingest.config import IngestConfig
from components.report import gallery
from trainer.config import TrainerConfig

# The documented configurations are files (configs/*.yaml, quoted in the README and
# run end to end by tests/pipeline/test_documented_configs.py); `make run` and every command
# without --config use the demo's.
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
DEMO_CONFIG = os.path.join(CONFIGS_DIR, "demo.yaml")


__all__ = ["ConfigError", "PipelineConfig", "load_config"]  # ConfigError: config_loader's

# One rule for every runner, the strictest one's: TFX's Kubeflow V2 builder takes
# `[a-z0-9][a-z0-9-]{0,127}` (tfx/orchestration/kubeflow/v2/pipeline_builder.py) and
# Kubernetes names end at 63 characters. A name the local runner took and
# `python -m kubeflow_runner compile` refused would surface only when moving to Kubeflow.
NAME_RULE = "lower-case letters, digits and '-', starting with a letter or digit, 1-63 characters"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
DEFAULT_NAME = "video-action"


def check_pipeline_name(name: str) -> None:
    """Raises ConfigError naming the field, the rule and a valid name unless `name` fits."""
    if _NAME.fullmatch(name):
        return
    raise ConfigError(
        f"name must be {NAME_RULE} (the rule of Kubeflow, and so of every runner), "
        f"got {name!r}{f' ({len(name)} characters)' if len(name) > 63 else ''}; "
        f"e.g. name: {suggest_pipeline_name(name)}"
    )


def suggest_pipeline_name(name: str) -> str:
    """A valid pipeline name close to `name`: 'UCF101_Actions' -> 'ucf101-actions'."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return words[:63].rstrip("-") or DEFAULT_NAME


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How models are judged.

    Attributes:
      min_accuracy: absolute bar on eval accuracy (multi-clip) for a model to be blessed.
      max_regression: how much accuracy may drop against the served model
        (0 = must not be worse).
      accuracy_top_k: the k of the top-k accuracy reported (TFMA's
        SparseTopKCategoricalAccuracy; only with at least k classes; formerly `top_k`).
      gallery_size: how many misclassified eval clips the report shows, the most
        confidently wrong first (0: no gallery; components/report/gallery.py).
      reference_source: a fixed evaluation set ('' : none): a zip or folder of videos,
        laid out as ingest.source is, that does not change with the spans. All of it is
        ingested as eval with the span's classes and frames; the candidate and the
        served model are evaluated on it too, and a model is blessed only when it
        passes the bars on the span's eval split and on this set.
    """

    min_accuracy: float = 0.5
    max_regression: float = 0.0
    accuracy_top_k: int = 5
    gallery_size: int = gallery.DEFAULT_SIZE
    reference_source: str = ""

    RENAMED_KEYS = renamed_keys.EVALUATION  # not a field: read by components/config_loader.py

    def __post_init__(self):
        require(0.0 <= self.min_accuracy <= 1.0, "min_accuracy", "in [0, 1]", self.min_accuracy)
        require(
            0.0 <= self.max_regression <= 1.0, "max_regression", "in [0, 1]", self.max_regression
        )
        require(self.accuracy_top_k >= 2, "accuracy_top_k", ">= 2", self.accuracy_top_k)
        require(
            self.gallery_size >= 0,
            "gallery_size",
            ">= 0 (0 turns the gallery off)",
            self.gallery_size,
        )
        if spans.has_span_placeholder(self.reference_source):
            raise ConfigError(
                f"must not change with the span, got {self.reference_source!r}: drop "
                f"{spans.SPAN_PLACEHOLDER}, point it at a fixed zip or folder",
                "reference_source",
            )


@dataclasses.dataclass(frozen=True)
class KubeflowConfig:
    """What only the Kubeflow runner uses (the local runner ignores it).

    Attributes:
      image: container image every step runs in.
      gpu_type: accelerator the Trainer requests ('' for none).
      gpu_count: how many.
      trainer_cpu, trainer_memory: the Trainer's CPU and memory limits (e.g. '8', '32G').
    """

    image: str = "video-action-pipeline:latest"
    gpu_type: str = "nvidia.com/gpu"
    gpu_count: int = 1
    trainer_cpu: str = "8"
    trainer_memory: str = "32G"

    def __post_init__(self):
        if not self.image:
            raise ConfigError("must be set", "image")
        require(self.gpu_count >= 0, "gpu_count", ">= 0", self.gpu_count)


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """A pipeline run.

    Attributes:
      name: pipeline name (MLMD context; Kubeflow pipeline name): lower-case letters,
        digits and '-', starting with a letter or digit, 1-63 characters (NAME_RULE).
      pipeline_root: where every component's artifacts go.
      metadata_path: SQLite ML Metadata file for local runs ('' = <pipeline_root>/metadata.db).
      serving_dir: base directory blessed models are pushed to (<serving_dir>/<version>/).
      span: the data span this run ingests (recorded on the Examples artifact): a
        number, or -1 ('latest' in a file) for the highest span matching the
        `{SPAN}` placeholder in ingest.source, resolved when the ingest runs.
      ingest: IngestConfig fields.
      trainer: TrainerConfig fields.
      evaluation: EvalConfig fields.
      data: DataGateConfig fields: the checks that refuse a span before training
        (components/data_gate/config.py); `--set data.<check>=warn` makes one a warning.
      beam_args: Beam pipeline arguments (runner and its flags); the local runner adds
        DirectRunner workers when none is given.
      workers: DirectRunner worker threads for local runs (pipeline/beam.py).
      enable_cache: reuse the outputs of unchanged components.
      kubeflow: KubeflowConfig fields.
    """

    ingest: IngestConfig
    trainer: TrainerConfig
    name: str = DEFAULT_NAME
    pipeline_root: str = "runs/pipeline"
    metadata_path: str = ""
    serving_dir: str = "runs/serving_model"
    span: int = 0
    evaluation: EvalConfig = EvalConfig()
    data: DataGateConfig = DataGateConfig()
    beam_args: tuple[str, ...] = ()
    workers: int = 2
    enable_cache: bool = True
    kubeflow: KubeflowConfig = KubeflowConfig()

    def __post_init__(self):
        check_pipeline_name(self.name)
        for field in ("pipeline_root", "serving_dir"):
            if not getattr(self, field):
                raise ConfigError(f"{field} must be set")
        if self.span < spans.LATEST_SPAN:
            raise ConfigError(f"span must be >= 0 or 'latest' (-1), got {self.span}")
        if self.span == spans.LATEST_SPAN and not spans.has_span_placeholder(self.ingest.source):
            raise ConfigError(
                f"span 'latest' needs a {spans.SPAN_PLACEHOLDER} placeholder in ingest.source "
                f"(got {self.ingest.source!r}), e.g. gs://bucket/ucf/span-{{SPAN}}/videos.zip"
            )
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")

    @property
    def cache_enabled(self) -> bool:
        """Caching, span 'latest' included: the ingest's cache key holds the data's
        fingerprint, taken with the span resolved (components/ingest/fingerprint.py),
        so a new span or changed files re-ingest while unchanged data is reused."""
        return self.enable_cache

    @property
    def metadata_db(self) -> str:
        return self.metadata_path or os.path.join(self.pipeline_root, "metadata.db")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["beam_args"] = list(self.beam_args)
        return json.loads(json.dumps(data))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        """The config from plain values (YAML, JSON, `to_dict`'s output).

        Raises:
          ConfigError: naming the field's dotted path (components/config_loader.py).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"a pipeline config must be a mapping, got {type(data).__name__}")
        data = dict(data)
        if "span" in data:
            try:
                data["span"] = spans.parse_span(data["span"])
            except ValueError as e:
                raise ConfigError(str(e)) from None
        if data.get("ingest") is None:
            raise ConfigError("must be set (at least ingest.source)", "ingest")
        return load(cls, data)


def read_config_file(path: str) -> dict[str, Any]:
    """A YAML or JSON file as a dict (JSON is YAML)."""
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        problem = _yaml_problem(e)
        raise ConfigError(f"config file {path} is not valid YAML/JSON: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one line: the problem and where it is."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{problem}{where}"


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`key.sub=value` overrides; values are parsed as YAML (numbers, bools, lists)."""
    data = json.loads(json.dumps(data))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. trainer.epochs=5")
        value = _parse_value(text)
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return data


def _parse_value(text: str):
    """A --set value parsed as YAML: numbers, booleans, lists; text otherwise."""
    if not text:
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def load_config(path: str | None = None, overrides: list[str] = ()) -> PipelineConfig:
    """The config from a file (the demo, configs/demo.yaml, when None) with --set overrides."""
    if path is None and not os.path.isfile(DEMO_CONFIG):
        raise ConfigError(
            f"no config given and the demo's {DEMO_CONFIG} is not here (it comes with the "
            "repository, not with the installed package): pass --config FILE"
        )
    shown = path or _relative(DEMO_CONFIG)
    data = read_config_file(path or DEMO_CONFIG)
    try:
        return PipelineConfig.from_dict(apply_overrides(data, list(overrides)))
    except ConfigError as e:
        raise ConfigError(f"{shown}: {e}") from None


def _relative(path: str) -> str:
    """`path` relative to the working directory when it is under it (shorter errors)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative
