"""`python -m pipeline predict` and `stream` as a user runs them, on the session's
tiny exported stream model."""

import csv
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from tests.builders.synthetic_video import write_action_sequence, write_video

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dir(stream_model):
    return stream_model[0].serving_model_dir


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "a.avi", num_frames=40)
    (folder / "sub").mkdir()
    write_video(folder / "sub" / "b.mp4", num_frames=60)
    (folder / "broken.avi").write_bytes(b"RIFF not really")
    (folder / "notes.txt").write_text("not a video")
    return folder


def test_predict_files_prints_the_labels_shown(model_dir, videos, capsys):
    code = main(["predict", "--model", model_dir, str(videos / "a.avi"), "--show", "2"])
    out = capsys.readouterr()
    assert code == 0
    line = out.out.strip()
    assert line.startswith(f"{videos / 'a.avi'}: ")
    assert len(line.split(": ", 1)[1].split(", ")) == 2
    assert "1 of 1 videos classified, 0 unreadable" in out.err


def test_the_old_top_k_flag_reads_as_show_with_a_warning(model_dir, videos, capsys):
    code = main(["predict", "--model", model_dir, str(videos / "a.avi"), "--top-k", "2"])
    out = capsys.readouterr()
    assert code == 0
    assert len(out.out.strip().split(": ", 1)[1].split(", ")) == 2
    assert "warning: --top-k is deprecated, read as --show" in out.err


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_predict_folder_writes_a_file_and_reports_unreadable_videos(
    model_dir, videos, tmp_path, capsys, suffix
):
    output = tmp_path / f"predictions{suffix}"
    code = main(["predict", "--model", model_dir, str(videos), "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 0
    assert "2 of 3 videos classified, 1 unreadable" in err
    assert f"{videos / 'broken.avi'}: unreadable: cannot open" in err
    if suffix == ".csv":
        with open(output) as f:
            rows = list(csv.DictReader(f))
        assert [r["path"] for r in rows] == [
            str(videos / n) for n in ("a.avi", "broken.avi", "sub/b.mp4")
        ]
        assert rows[1]["error"] and not rows[1]["label_1"]
        assert rows[0]["label_1"] in ("SlideLeft", "SlideRight", "SlideUp")
        assert float(rows[0]["probability_1"]) >= float(rows[0]["probability_2"])
    else:
        rows = [json.loads(line) for line in output.read_text().splitlines()]
        assert [r["error"] is None for r in rows] == [True, False, True]
        assert sum(rows[2]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert len(rows[0]["top_k"]) == 3


def test_predict_errors_name_the_input(videos, tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path), str(videos / "a.avi")]) == 2
    assert f"no model found under '{tmp_path}'" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), str(videos), "--output", "p.xlsx"]) == 2
    assert "--output 'p.xlsx': the suffix must be one of" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_stream_prints_frames_and_writes_csv_and_plots(model_dir, videos, tmp_path, capsys, suffix):
    table, plot = tmp_path / "frames.csv", tmp_path / f"stream{suffix}"
    video = str(videos / "sub" / "b.mp4")  # 60 frames at 25 fps: 12 at 5 fps
    code = main(["stream", "--model", model_dir, video, "--csv", str(table), "--plot", str(plot)])
    out = capsys.readouterr()
    assert code == 0
    lines = out.out.strip().splitlines()
    assert len(lines) == 12 and lines[-1].split()[:2] == ["11", "2.20s"]
    with open(table) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["frame", "time_s", "SlideLeft", "SlideRight", "SlideUp"]
    assert len(rows) == 13
    assert sum(float(p) for p in rows[-1][2:]) == pytest.approx(1.0, abs=1e-4)
    if suffix == ".gif":
        with Image.open(plot) as gif:
            assert gif.n_frames == 12
    else:
        cap = cv2.VideoCapture(str(plot))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
        cap.release()
    with Image.open(tmp_path / "stream.png") as png:
        assert png.format == "PNG"
    assert "(12 frames)" in out.err


def test_stream_errors_name_the_input(model_dir, videos, tmp_path, capsys):
    assert main(["stream", "--model", model_dir, str(videos / "broken.avi")]) == 2
    assert f"{videos / 'broken.avi'}: cannot open" in capsys.readouterr().err
    assert main(["stream", "--model", model_dir, str(videos / "a.avi"), "--plot", "x.png"]) == 2
    assert "--plot 'x.png': the suffix must be one of" in capsys.readouterr().err


def test_stream_default_mode_smooths_the_window_mode_on_a_video_whose_action_changes(
    model_dir, tmp_path, capsys
):
    # The CLI wiring on a real exported model (4-frame windows): the default mode is
    # smooth, and its probabilities are the mean of the window mode's last 4 outputs.
    # (Whether the labels follow the cut is tests/trainer/test_stream_modes.py's, on a model
    # whose outputs are known: this tiny one sits near chance.)
    video = write_action_sequence(tmp_path / "two.avi", ["SlideLeft", "Grow"], 3.0)
    tables = {mode: tmp_path / f"{mode}.csv" for mode in ("default", "window", "states")}
    for mode, table in tables.items():
        extra = [] if mode == "default" else ["--mode", mode]
        argv = ["stream", "--model", model_dir, video, "--csv", str(table), "--print-every", "0"]
        assert main([*argv, *extra]) == 0
        err = capsys.readouterr().err
        if mode == "default":
            assert "smooth: mean of the last 4 outputs of 4-frame windows" in err
            assert "(a change shows within 6 frames)" in err
    rows = {m: np.loadtxt(t, delimiter=",", skiprows=1)[:, 2:] for m, t in tables.items()}
    assert all(len(r) == 30 for r in rows.values())  # 2 x 3 s at 5 fps
    smooth, window = rows["default"], rows["window"]
    for t in range(30):
        np.testing.assert_allclose(smooth[t], window[max(0, t - 3) : t + 1].mean(axis=0), atol=2e-6)
    assert not np.allclose(rows["states"], smooth, atol=1e-3)  # another question, another answer


def test_predict_and_stream_show_the_decoders_header_warnings(model_dir, tmp_path, capsys):
    """A header that lies (1000 fps, 70 frames announced for 50) is said in one line
    each, as the ingest report says it; an honest file gives no warning line."""
    from tests.components.ingest.test_video import _marker_video
    from tests.components.ingest.test_video_timing import _patch_avi

    honest = _marker_video(tmp_path / "honest.avi", num_frames=50)
    lying = _patch_avi(honest, tmp_path / "lying.avi", fps=1000, frames=70)
    assert main(["predict", "--model", model_dir, lying, honest]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if ": warning: " in line]
    assert len(warnings) == 2 and all(w.startswith(f"{lying}: warning: ") for w in warnings)
    assert any("1000 fps is not plausible" in w for w in warnings)
    assert any("announces 70 frames" in w for w in warnings)
    assert main(["stream", "--model", model_dir, lying, "--print-every", "0"]) == 0
    err = capsys.readouterr().err
    streamed = [line for line in err.splitlines() if ": warning: " in line]
    assert any("1000 fps is not plausible" in w for w in streamed)
    assert all(w.startswith(f"{lying}: warning: ") for w in streamed)
    assert main(["stream", "--model", model_dir, honest, "--print-every", "0"]) == 0
    assert ": warning: " not in capsys.readouterr().err
