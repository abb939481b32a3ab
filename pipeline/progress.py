"""Progress of a local run on stderr: one line as each component starts and ends.

TFX's LocalDagRunner logs "Component X is running." and "... is finished." at
INFO; this shows those lines (with times) while the rest of INFO stays quiet.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time

_EVENT = re.compile(r"Component (\S+) is (running|finished)\.")


class _ComponentLines(logging.Handler):
    def __init__(self, stream):
        super().__init__(level=logging.INFO)
        self._stream = stream
        self._started: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = _EVENT.fullmatch(record.getMessage())
        if not match:
            return
        name, event = match.groups()
        if event == "running":
            self._started[name] = time.monotonic()
            print(f"  {name} ...", file=self._stream, flush=True)
        else:
            took = time.monotonic() - self._started.pop(name, time.monotonic())
            print(f"  {name} done ({took:.0f}s)", file=self._stream, flush=True)


@contextlib.contextmanager
def component_progress(stream=None, verbose: bool = False):
    """Within the block, prints component start/finish lines.

    Unless `verbose`, the other INFO lines stay hidden: TFX and Beam install
    handlers on the root logger, so those are raised to WARNING for the block.
    """
    from absl import logging as absl_logging

    logger = absl_logging.get_absl_logger()
    handler = _ComponentLines(stream or sys.stderr)
    quieted = [] if verbose else [h for h in logging.root.handlers if h.level < logging.WARNING]
    saved_levels = [h.level for h in quieted]
    saved_logger_level = logger.level
    for h in quieted:
        h.setLevel(logging.WARNING)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_logger_level)
        for h, level in zip(quieted, saved_levels, strict=False):
            h.setLevel(level)
