"""DataGate: stops a run before training when a span's data looks wrong.

Usage:

    gate = DataGate(
        examples=ingest.outputs["examples"],
        statistics=statistics_gen.outputs["statistics"],
        config=config.data,
        reference_dir=reference.reference_dir(config.pipeline_root, config.name),
    )
    trainer = Trainer(..., schema=gate.outputs["schema"])

It writes our schema (components/data_gate/schema.py: the label's class list, frame
counts, sample times, source rate and frame size, not inferred from the span), has
TFDV validate both splits' statistics against it, with the L-infinity drift comparator
on the train split's labels against the last accepted span's statistics
(components/data_gate/reference.py), and makes the checks of
components/data_gate/checks.py. A check whose policy is 'fail' refuses the span: the
step fails with one message naming every finding, its value, its threshold and the
`--set data.<check>=warn` that overrides it, so the Trainer, which takes its schema
from this step, never runs, and nothing is pushed. Otherwise it records the span as
the last accepted one.

Outputs: `schema` (Schema, `schema.pbtxt`) and `anomalies` (ExampleAnomalies, in
ExampleValidator's layout `Split-<split>/SchemaDiff.pb`, with custom properties
`data_gate`, the verdict, and `data_gate_findings`, JSON lines).

Why not SchemaGen and ExampleValidator: SchemaGen re-infers the schema from each span
(a span missing a class infers a schema without it), and ExampleValidator compares with
a previous span's statistics only through a resolver, which open-source Kubeflow cannot
run; neither stops the run. This step calls the same `tfdv.validate_statistics`.
Cached like any step: the same statistics under the same config get the same verdict.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.data_gate import executor
from components.data_gate.config import DataGateConfig


class DataGateSpec(types.ComponentSpec):
    """Inputs: the ingest's Examples and their statistics; outputs: schema, anomalies."""

    PARAMETERS = {
        "config": ExecutionParameter(type=str),
        "reference_dir": ExecutionParameter(type=str),
    }
    INPUTS = {
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
    }
    OUTPUTS = {
        "schema": ChannelParameter(type=standard_artifacts.Schema),
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }


class DataGate(base_component.BaseComponent):
    """Refuses a span whose data fails the configured checks."""

    SPEC_CLASS = DataGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, examples, statistics, config: DataGateConfig, reference_dir: str):
        """Args:
        examples: the ingest's Examples channel (its report and frame contract).
        statistics: StatisticsGen's statistics of those examples.
        config: checks, thresholds and policies.
        reference_dir: where the last accepted span is kept (reference.reference_dir).
        """
        spec = DataGateSpec(
            config=config.to_json(),
            reference_dir=reference_dir,
            examples=examples,
            statistics=statistics,
            schema=types.Channel(type=standard_artifacts.Schema),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
        )
        super().__init__(spec=spec)
