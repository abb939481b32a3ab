"""The one exception type of the Kubeflow tools."""


class KubeflowError(Exception):
    """A Kubeflow Pipelines operation failed; the message names the input and what to do."""
