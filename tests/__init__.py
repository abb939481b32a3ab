"""The project's tests, in folders that mirror its packages (components/, trainer/,
pipeline/, kubeflow_runner/); the repository as a whole is tested at the top. What
tests share lives in fakes/ (servers and backends that stand in for real ones) and
builders/ (data, models, pipelines and processes the tests make)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository root
