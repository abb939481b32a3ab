"""`python -m pipeline <command>`: see `pipeline/cli.py`."""

import os
import sys

# Before TensorFlow or Beam load (and inherited by Beam's worker processes): keep
# the console for what the user asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")

import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)

from pipeline.cli import main  # noqa: E402

sys.exit(main())
