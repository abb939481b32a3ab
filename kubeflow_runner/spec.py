"""The compiled pipeline spec as the KFP server will read it: loading and its parameters.

A package is what `python -m kubeflow_runner compile` writes: KFP's PipelineSpec as YAML
(what KFP 2 accepts on upload) or TFX's PipelineJob JSON (the spec under
`pipelineSpec`). It is parsed with the kfp SDK's own protobuf message, so a file
the server would refuse is refused here first, naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow_runner.errors import KubeflowError

# Both the current `parameterType` and the legacy `type` (TFX's schema 2.0 output).
_KINDS = {
    "NUMBER_INTEGER": "int",
    "INT": "int",
    "NUMBER_DOUBLE": "float",
    "DOUBLE": "float",
    "STRING": "str",
    "BOOLEAN": "bool",
    "LIST": "json",
    "STRUCT": "json",
}


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One runtime parameter of the pipeline: its kind (int, float, str, bool, json)."""

    name: str
    kind: str
    default: Any = None
    has_default: bool = False


def load_pipeline_spec(path: str) -> dict[str, Any]:
    """The PipelineSpec of a package file, as a dict, validated against KFP's proto.

    Raises:
      KubeflowError: the file is missing, unreadable, or not a pipeline spec.
    """
    if not os.path.isfile(path):
        raise KubeflowError(
            f"pipeline package {path!r} does not exist: compile it first "
            "(python -m kubeflow_runner compile --output FILE)"
        )
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise KubeflowError(f"pipeline package {path!r} is not YAML or JSON: {e}") from e
    spec = docs[0] if docs else None
    if isinstance(spec, dict) and isinstance(spec.get("pipelineSpec"), dict):
        spec = spec["pipelineSpec"]  # TFX's PipelineJob JSON wraps the spec
    if not isinstance(spec, dict):
        raise KubeflowError(f"pipeline package {path!r} holds no pipeline spec (empty or a list)")
    try:
        message = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as e:
        raise KubeflowError(f"pipeline package {path!r} is not a KFP pipeline spec: {e}") from e
    if not message.pipeline_info.name or not message.root.dag.tasks:
        raise KubeflowError(
            f"pipeline package {path!r} lacks pipelineInfo.name or root tasks: "
            "not a compiled pipeline"
        )
    return spec


def pipeline_name(spec: dict[str, Any]) -> str:
    """The pipeline's name as compiled (pipelineInfo.name)."""
    return spec["pipelineInfo"]["name"]


def pipeline_parameters(spec: dict[str, Any]) -> dict[str, Parameter]:
    """The runtime parameters the pipeline's root declares, by name."""
    declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    result = {}
    for name, body in declared.items():
        kind = _KINDS.get(body.get("parameterType") or body.get("type") or "STRING", "str")
        result[name] = Parameter(name, kind, body.get("defaultValue"), "defaultValue" in body)
    return result


def parse_param_assignments(assignments: list[str]) -> dict[str, str]:
    """`["k=v", ...]` (the command line's --param) as a dict; the value may contain '='."""
    result = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise KubeflowError(f"--param {item!r}: expected NAME=VALUE")
        result[name.strip()] = value
    return result


def coerce_params(values: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Run parameters converted to the types the spec declares (strings from a CLI included).

    Raises:
      KubeflowError: a name the pipeline does not declare, or a value of the wrong type.
    """
    declared = pipeline_parameters(spec)
    result = {}
    for name, value in values.items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise KubeflowError(
                f"parameter {name!r} is not a runtime parameter of pipeline "
                f"{pipeline_name(spec)!r} (it declares: {known})"
            )
        result[name] = _coerce(name, value, declared[name].kind)
    return result


def _coerce(name: str, value: Any, kind: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError("expected true or false")
            return lowered in ("true", "1")
        if kind == "json":
            return json.loads(value)
    except ValueError as e:
        raise KubeflowError(f"parameter {name!r}={value!r} is not a valid {kind}: {e}") from e
    return value
