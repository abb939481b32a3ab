"""Kubeflow Pipelines: compile the pipeline, submit runs, schedule retraining.

`python -m kubeflow_runner --help` lists the commands (see `kubeflow_runner/cli.py`). Library
code: `kubeflow_runner.client` (kfp.Client wrappers), `kubeflow_runner.spec` (the compiled
spec's parameters), `kubeflow_runner.cron` (KFP's six-field cron).
"""
