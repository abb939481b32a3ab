"""ModelReport: a human report for every evaluated model, recorded as an artifact.

Usage:

    report = ModelReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model_run=trainer.outputs["model_run"],
        examples=ingest.outputs["examples"],
        model=trainer.outputs["model"],
        metric_names=pipeline.evaluation.report_metric_names(accuracy_top_k=5),
        accuracy_top_k=5,
        gallery_size=12,
        data_gate=data_gate.outputs["anomalies"],  # optional
        reference_evaluation=reference_evaluator.outputs["evaluation"],  # optional,
        reference_blessing=reference_evaluator.outputs["blessing"],  # both or neither
    )

The output `HtmlReport` artifact holds `report.html` (one self-contained page:
headline metrics, confusion-matrix heatmap, per-class table, the misclassified eval
clips (a strip of frames each, true and predicted class; the candidate `model` is run
on the eval split of `examples`), the data (videos per class and split, skipped
videos and why, duplicates, the ingest's warnings: `examples`' ingest_report.json; with `data_gate`,
the data gate's verdict, findings and label drift against the last accepted span),
training curves and the comparison with the served model; with `reference_evaluation`,
the fixed reference set's figures beside the span's), `confusion_matrix.png` and
`metrics.json`. Its custom properties carry the headline figures and the verdict
(blessed only when blessed on the eval split and, with one, on the reference set), so
`python -m pipeline history` and Kubeflow's UI can show them.
"""

from __future__ import annotations

import json

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.report import executor, gallery
from video_action import HtmlReport


class ModelReportSpec(types.ComponentSpec):
    """Inputs: the Evaluator's outputs, the Trainer's run and model, the ingest's
    examples; output: the report. `gallery_size`: most misclassified clips shown (0: off).
    `metric_names`: JSON object, the TFMA metric behind each headline figure (keys
    `constants.METRIC_NAMES`), so the report reads what the Evaluator computed."""

    PARAMETERS = {
        "metric_names": ExecutionParameter(type=str),
        "accuracy_top_k": ExecutionParameter(type=int, optional=True),
        "gallery_size": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "model_run": ChannelParameter(type=standard_artifacts.ModelRun),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "model": ChannelParameter(type=standard_artifacts.Model),
        "data_gate": ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
        "reference_evaluation": ChannelParameter(
            type=standard_artifacts.ModelEvaluation, optional=True
        ),
        "reference_blessing": ChannelParameter(
            type=standard_artifacts.ModelBlessing, optional=True
        ),
    }
    OUTPUTS = {"report": ChannelParameter(type=HtmlReport)}


class ModelReport(base_component.BaseComponent):
    """Writes the evaluation report of the candidate model."""

    SPEC_CLASS = ModelReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        evaluation,
        blessing,
        model_run,
        examples,
        model,
        metric_names: dict[str, str],
        accuracy_top_k: int = 5,
        gallery_size: int = gallery.DEFAULT_SIZE,
        data_gate=None,
        reference_evaluation=None,
        reference_blessing=None,
    ):
        if (reference_evaluation is None) != (reference_blessing is None):
            raise ValueError("give reference_evaluation and reference_blessing together")
        spec = ModelReportSpec(
            evaluation=evaluation,
            blessing=blessing,
            model_run=model_run,
            examples=examples,
            model=model,
            metric_names=json.dumps(metric_names, sort_keys=True),
            data_gate=data_gate,
            reference_evaluation=reference_evaluation,
            reference_blessing=reference_blessing,
            accuracy_top_k=accuracy_top_k,
            gallery_size=gallery_size,
            report=types.Channel(type=HtmlReport),
        )
        super().__init__(spec=spec)
