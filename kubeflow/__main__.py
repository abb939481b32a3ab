"""`python -m kubeflow <command>`: see `kubeflow/cli.py`."""

import os
import sys

# Before TensorFlow loads (compile builds the TFX pipeline): keep the console quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)

from kubeflow.cli import main  # noqa: E402

sys.exit(main())
