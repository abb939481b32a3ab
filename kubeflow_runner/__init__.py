"""Kubeflow Pipelines: compile the pipeline, submit runs, schedule retraining.

`python -m kubeflow --help` lists the commands (see `kubeflow/cli.py`). Library
code: `kubeflow.client` (kfp.Client wrappers), `kubeflow.spec` (the compiled
spec's parameters), `kubeflow.cron` (KFP's six-field cron).
"""
