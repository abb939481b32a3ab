"""Every CLI error is one line with an exit status; `--verbose` adds the traceback
(pipeline/exits.py), for the errors nobody foresaw too."""

import pytest

from pipeline import exits
from tests.builders.cli_process import run_module


class InputError(ValueError):
    pass


def fail(error):
    def command():
        raise error

    return command


def test_listed_errors_end_with_their_status_in_one_line(capsys):
    errors = [((ConnectionError,), 1), (ValueError, 2)]
    assert exits.run_command(fail(InputError("bad --x")), errors, verbose=False) == 2
    assert capsys.readouterr().err == "error: bad --x\n"
    assert exits.run_command(fail(ConnectionError("down")), errors, verbose=False) == 1
    assert exits.run_command(lambda: 0, errors, verbose=False) == 0


def test_an_unforeseen_error_is_named_in_one_line_with_the_way_to_see_more(capsys):
    assert exits.run_command(fail(RuntimeError("x\ny")), [(ValueError, 2)], verbose=False) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: RuntimeError: x y ")
    assert "--verbose" in err


def test_verbose_raises_for_the_traceback():
    with pytest.raises(InputError):
        exits.run_command(fail(InputError("bad")), [(ValueError, 2)], verbose=True)


def run_cli(*argv):
    return run_module(*argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["pipeline", "history", "--metadata", "{db}"],
        ["kubeflow_runner", "compile", "--output", "{missing}/pipeline.yaml"],
    ],
    ids=["history-on-a-file-that-is-not-a-store", "compile-into-a-missing-folder"],
)
def test_clis_end_an_unforeseen_error_in_one_line_unless_verbose(tmp_path, argv):
    db = tmp_path / "metadata.db"
    db.write_text("not a database")
    argv = [a.format(db=db, missing=tmp_path / "missing") for a in argv]
    quiet = run_cli(*argv)
    errors = [line for line in quiet.stderr.splitlines() if line.startswith("error: ")]
    assert quiet.returncode == 1 and len(errors) == 1, quiet.stderr
    assert "Traceback" not in quiet.stderr and "--verbose" in errors[0]
    verbose = run_cli(argv[0], "-v", *argv[1:])
    assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr
    after = run_cli(*argv[:2], "--verbose", *argv[2:])
    assert "Traceback (most recent call last)" in after.stderr
