"""What a run prints (pipeline/progress.py): the pipeline's own lines on the console,
every log record in the run's log file, a line per 10% of a long step in a log."""

import io
import logging
import warnings

from absl import logging as absl_logging

from pipeline import progress


def test_counter_in_a_log_prints_a_line_per_tenth():
    stream = io.StringIO()
    counter = progress.Counter(216, "videos", stream)
    for done in range(1, 217):
        counter.update(done)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0] == "  videos 22/216" and lines[-1] == "  videos 216/216"


def test_counter_without_total_in_a_log_leaves_the_lines_to_the_caller():
    stream, out = io.StringIO(), io.StringIO()
    with progress.Counter(None, "frames", stream) as counter:
        for index in range(25):
            counter.step()
            counter.write(f"frame {index}", file=out)
    assert stream.getvalue() == ""
    assert out.getvalue().splitlines() == [f"frame {i}" for i in range(25)]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_counter_on_a_terminal_keeps_written_lines_whole():
    terminal = _Terminal()
    with progress.Counter(None, "frames", terminal) as counter:
        for index in range(3):
            counter.step()
            counter.write(f"frame {index}", file=terminal)
    # tqdm clears its bar before each written line: every line arrives whole.
    lines = [line.split("\r")[-1] for line in terminal.getvalue().split("\n")]
    assert [line for line in lines if line.startswith("frame")] == [f"frame {i}" for i in range(3)]


def test_console_shows_progress_and_the_log_file_everything(tmp_path):
    console, log = io.StringIO(), tmp_path / "run.log"
    noisy = logging.StreamHandler(console)  # as TFX/Beam install on the root logger
    logging.getLogger().addHandler(noisy)
    try:
        with progress.component_progress(console, verbose=False, log_path=str(log)):
            absl_logging.info("Component Trainer is running.")
            logging.getLogger("apache_beam.runners").warning("Worker: severity: WARN ...")
            absl_logging.warning("ArtifactQuery.property_predicate is not supported.")
            warnings.warn("SavedModel saved prior to TF 2.5", UserWarning, stacklevel=1)
            for epoch in range(1, 21):
                absl_logging.info("epoch %d/20: loss %.3f (%d s)", epoch, 1.0 / epoch, epoch)
            absl_logging.set_verbosity(absl_logging.WARNING)  # as a library did mid-run
            absl_logging.info("Component Trainer is finished.")
    finally:
        logging.getLogger().removeHandler(noisy)
    shown = console.getvalue().splitlines()
    assert shown[0] == "  Trainer ..." and shown[-1].startswith("  Trainer done (")
    epochs = [line for line in shown if line.startswith("    epoch ")]
    assert len(epochs) == 10 and epochs[-1] == "    epoch 20/20  loss 0.050 (20 s)"
    assert len(shown) == 12  # nothing from Beam, absl or warnings
    text = log.read_text()
    for logged in ("Worker: severity: WARN", "ArtifactQuery", "prior to TF 2.5", "epoch 7/20"):
        assert logged in text


def test_verbose_keeps_the_library_lines_on_the_console(tmp_path):
    console = io.StringIO()
    noisy = logging.StreamHandler(console)
    logging.getLogger().addHandler(noisy)
    try:
        with progress.component_progress(io.StringIO(), verbose=True, log_path=str(tmp_path / "l")):
            logging.getLogger("apache_beam.runners").warning("Worker: severity: WARN ...")
    finally:
        logging.getLogger().removeHandler(noisy)
    assert "Worker: severity: WARN" in console.getvalue()
