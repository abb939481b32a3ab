"""`python -m kubeflow_runner <command>`: see `kubeflow_runner/cli.py`."""

import os
import sys

# Before TensorFlow loads (compile builds the TFX pipeline): keep the console quiet.
# TensorFlow's C++ runtime logs (e.g. "Unable to register cuDNN factory", level E)
# print at import, before Python logging exists: only fatal ones unless -v/--verbose.
_VERBOSE = bool(os.environ.get("VERBOSE")) or any(a in ("-v", "--verbose") for a in sys.argv)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _VERBOSE else "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)

from kubeflow_runner.cli import main  # noqa: E402

sys.exit(main())
