"""The project's custom TFX artifact types, importable by their Kubeflow schema titles.

On Kubeflow V2 a custom artifact type travels as its schema title, which TFX's
compiler requires to be `<namespace>.<Name>` with a lower-case namespace of 3 to
21 characters (tfx/orchestration/kubeflow/v2/compiler_utils.py,
`_SCHEMA_TITLE_RE`), and which TFX's step entry point imports as a class path to
rebuild the artifact (kubeflow_v2_entrypoint_utils.py, `_retrieve_class_path`).
So the title `video_action.HtmlReport` must be this package's attribute: a type
defined anywhere else compiles but fails in the cluster with "Could not import".
"""

from __future__ import annotations

from tfx import types

from components.report import constants as report_constants


class HtmlReport(types.Artifact):
    """A folder holding report.html and its figures (ModelReport's output)."""

    TYPE_NAME = report_constants.ARTIFACT_TYPE  # "video_action.HtmlReport"
