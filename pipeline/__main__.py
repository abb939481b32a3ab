"""`python -m pipeline <command>`: see `pipeline/cli.py`."""

import os
import sys

# Before TensorFlow or Beam load (and inherited by Beam's worker processes): keep
# the console for what the user asked for.
# TensorFlow's C++ runtime logs (e.g. "Unable to register cuDNN factory", level E)
# print at import, before Python logging exists: only fatal ones unless -v/--verbose.
_VERBOSE = bool(os.environ.get("VERBOSE")) or any(a in ("-v", "--verbose") for a in sys.argv)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if _VERBOSE else "3")
# FFmpeg's own lines about a damaged video (e.g. "[mov,mp4,...] moov atom not found",
# av_log level ERROR, which OpenCV leaves on) print on stderr whatever we report; the
# ingest and the predict commands already name the video and the problem in one line.
# OpenCV reads OPENCV_FFMPEG_LOGLEVEL each time it opens an FFmpeg capture
# (modules/videoio/src/cap_ffmpeg_impl.hpp, InternalFFMpegRegister::initLogger_);
# -8 is AV_LOG_QUIET (libavutil/log.h). -v/--verbose leaves FFmpeg's default.
if not _VERBOSE:
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")

import warnings  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)

from pipeline.cli import main  # noqa: E402

sys.exit(main())
