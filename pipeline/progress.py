"""What a local run prints while it runs, and the full log it always writes.

The console gets the pipeline's own progress: a line as each component starts and
finishes (with its time), and for the Trainer's epochs a tqdm bar in a terminal or,
in a non-interactive log, a line per 10% of them. Everything else that Python's
logging carries (TFX, Beam and its workers, absl, TFMA, Keras, Python warnings)
goes to the run's log file only, unless `verbose`. Errors are not hidden: they end
the run as exceptions, which the CLI prints (pipeline/exits.py).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time

_COMPONENT = re.compile(r"Component (\S+) is (running|finished)\.")
_EPOCH = re.compile(r"epoch (\d+)/(\d+): (.*)")
_QUIET = logging.CRITICAL + 1
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Counter:
    """Progress over `total` items: a tqdm bar on a terminal, else a line per 10%.

    Args:
      total: items expected (> 0), or None when unknown (a bar without an end on a
        terminal; no progress lines in a log, where the caller's own lines show it).
      label: what is counted, e.g. 'videos'.
      stream: where to write (stderr by default).
      lines_in_log: print the per-10% lines when `stream` is not a terminal.
    """

    def __init__(
        self,
        total: int | None,
        label: str,
        stream=None,
        prefix: str = "  ",
        lines_in_log: bool = True,
    ):
        self._stream = stream or sys.stderr
        self._lines_in_log = lines_in_log and bool(total)
        self._total, self._label, self._prefix = max(1, total or 1), label, prefix
        self._done, self._shown_tenth = 0, 0
        self._bar = None
        if getattr(self._stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total or None, desc=f"{prefix}{label}", file=self._stream, leave=False
            )

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, done: int, note: str = "") -> None:
        """`done` items so far (absolute); `note` is shown with the line or the bar."""
        if self._bar is not None:
            self._bar.update(done - self._done)
            if note:
                self._bar.set_postfix_str(note)
        else:
            tenth = 10 * done // self._total
            if self._lines_in_log and tenth > self._shown_tenth:
                self._shown_tenth = tenth
                text = f"{self._prefix}{self._label} {done}/{self._total}"
                print(f"{text}  {note}" if note else text, file=self._stream, flush=True)
        self._done = done

    def step(self) -> None:
        """One more item done."""
        self.update(self._done + 1)

    def write(self, text: str, file=None) -> None:
        """A line of output (to `file`, stdout by default) that does not break the bar."""
        file = file or sys.stdout
        if self._bar is not None:
            self._bar.write(text, file=file)
        else:
            print(text, file=file, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _ProgressLines(logging.Handler):
    """Turns the component and epoch log records into console progress."""

    def __init__(self, stream):
        super().__init__(level=logging.INFO)
        self._stream = stream
        self._started: dict[str, float] = {}
        self._epochs: Counter | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        match = _COMPONENT.fullmatch(message)
        if match:
            self._component(*match.groups())
            return
        match = _EPOCH.fullmatch(message)
        if match:
            done, total = int(match.group(1)), int(match.group(2))
            if self._epochs is None or done == 1:
                self._epochs = Counter(total, "epoch", self._stream, prefix="    ")
            self._epochs.update(done, match.group(3))
            if done == total:
                self._epochs.close()
                self._epochs = None

    def _component(self, name: str, event: str) -> None:
        if event == "running":
            self._started[name] = time.monotonic()
            print(f"  {name} ...", file=self._stream, flush=True)
        else:
            took = time.monotonic() - self._started.pop(name, time.monotonic())
            print(f"  {name} done ({took:.0f}s)", file=self._stream, flush=True)


@contextlib.contextmanager
def component_progress(
    stream=None, verbose: bool = False, log_path: str | None = None, keras: bool = True
):
    """Within the block: progress lines on `stream`, every log record in `log_path`.

    Unless `verbose`, the console handlers that TFX, Beam and absl installed on the
    root logger are silenced for the block (the log file still gets all they carry;
    the block's own handler on the root logger stops `logging.basicConfig` adding
    another); with `verbose` and none on the root logger (the commands other than
    `run`), the block adds one on `stream`. Python warnings, and with `keras` Keras'
    fit lines, go to logging.
    """
    from absl import logging as absl_logging

    root, absl_logger = logging.getLogger(), absl_logging.get_absl_logger()
    ours: list[logging.Handler] = [_ProgressLines(stream or sys.stderr)]
    if log_path:
        file_handler = logging.FileHandler(log_path)
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        ours.append(file_handler)
    silenced = [] if verbose else _console_handlers()
    if verbose and not set(root.handlers) & set(_console_handlers()):
        console = logging.StreamHandler(stream or sys.stderr)
        console.setLevel(logging.INFO)
        console.setFormatter(logging.Formatter(LOG_FORMAT))
        ours.append(console)
    saved = [h.level for h in silenced], root.level, absl_logger.level
    for h in silenced:
        h.setLevel(_QUIET)
    root.setLevel(logging.INFO)
    absl_logger.setLevel(logging.INFO)
    for h in ours:
        root.addHandler(h)
    for logger in (root, absl_logger):
        _keep_info(logger)
    logging.captureWarnings(True)
    if keras:
        _keras_lines_to_logging()
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for logger in (root, absl_logger):
            logger.__dict__.pop("setLevel", None)
        for h in ours:
            root.removeHandler(h)
            h.close()
        for h, level in zip(silenced, saved[0], strict=True):
            h.setLevel(level)
        root.setLevel(saved[1])
        absl_logger.setLevel(saved[2])


def _keep_info(logger: logging.Logger) -> None:
    """Makes `logger.setLevel` keep INFO records flowing (until the attribute is removed).

    Some library of the run parses absl's flags after the Trainer, which sets absl's
    verbosity back to its default (WARNING): the later components' lines, and their
    INFO records in the log file, were lost. Levels at or below INFO are kept as asked.
    """
    set_level = type(logger).setLevel.__get__(logger)

    def at_most_info(level):
        number = level if isinstance(level, int) else logging.getLevelName(level)
        set_level(min(number, logging.INFO) if isinstance(number, int) else level)

    logger.setLevel = at_most_info


def _console_handlers() -> list[logging.Handler]:
    """The handlers writing to a console: the root logger's (TFX, Beam, absl) and those
    a library put on its own logger (TensorFlow's 'tensorflow' logger has one)."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return [
        h
        for logger in loggers
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def _keras_lines_to_logging() -> None:
    """Keras prints fit's lines to stdout; with interactive logging off it logs them."""
    import tf_keras

    tf_keras.utils.disable_interactive_logging()
