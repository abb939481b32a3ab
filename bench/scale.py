"""Scale benchmark: the frozen fine-tune path end to end at three dataset sizes.

Synthetic UCF101-like data (demo motions, 320x240 XviD, 25 fps, `--seconds` long,
10 classes, groups of 2 clips: sizes are multiples of 20, at least 60) at each
size; for each, in a fresh process of its own: the ingest (Beam DirectRunner, 2
workers), the Trainer's frozen path
(`train_and_export`: model build, features once per view, head fit, export).
Reports wall seconds per phase, clips per second, peak resident memory of that
process (VmHWM; Beam's 2 workers are threads of it, so their decoding counts)
and disk used (videos, records, exported model). Not in
`make bench` (minutes per size): run `python -m bench.scale`.

The issue asks for 300 / 1,200 / 4,800 clips of 7 s; on the 2 shared cores here
the default is 60 / 240 / 960 (same growth factors, x4 each).

Usage: python -m bench.scale [--sizes 60,240,960] [--seconds 7] [--epochs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bench import write_results

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")

CLASSES = 10
CLIPS_PER_GROUP = 2
UCF101_CLIPS = 13_320


def disk_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs) / 1e6


def _child(clips: int, seconds: float, epochs: int, work: str) -> None:
    """One size, in this process: writes the videos, runs ingest and the Trainer,
    prints the phases (JSON)."""
    from bench.finetune import ours_finetune
    from pipeline.demo_data import DemoSpec, write_videos

    groups = max(3, clips // (CLASSES * CLIPS_PER_GROUP))
    folder = os.path.join(work, "videos")
    start = time.perf_counter()
    write_videos(folder, DemoSpec(CLASSES, groups, CLIPS_PER_GROUP, seconds, 7))
    write_s = time.perf_counter() - start
    args = argparse.Namespace(
        frames=8, resolution=172, epochs=epochs, batch=8, seed=42, checkpoint=""
    )
    run = ours_finetune(folder, os.path.join(work, "run"), args, 1, 1)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(
        json.dumps(
            {
                "clips": CLASSES * groups * CLIPS_PER_GROUP,
                "write_videos_s": write_s,
                **{k: run[k] for k in ("ingest_s", "build_s", "features_s", "fit_s", "export_s")},
                "peak_rss_mb": hwm / 1024,
                "disk_mb": {
                    "videos": disk_mb(folder),
                    "records": disk_mb(os.path.join(work, "run", "examples")),
                    "model": disk_mb(os.path.join(work, "run", "serving")),
                },
                "eval_accuracy": run["eval_accuracy"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60,240,960", help="clips per run")
    parser.add_argument("--seconds", type=float, default=7.0, help="length of each clip")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", default="bench_out/scale.json")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(int(args.child[0]), float(args.child[1]), int(args.child[2]), args.child[3])
        return

    rows = []
    for clips in [int(n) for n in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as work:
            out = subprocess.run(
                [sys.executable, "-m", "bench.scale", "--child", str(clips)]
                + [str(args.seconds), str(args.epochs), work],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        phases = ("ingest_s", "build_s", "features_s", "fit_s", "export_s")
        row["pipeline_s"] = sum(row[k] for k in phases)
        row["clips_per_s"] = row["clips"] / row["pipeline_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(
        f"\nfrozen fine-tune end to end, {args.seconds:g} s 320x240 XviD clips, "
        f"{os.cpu_count()} cores"
    )
    head = (
        "clips",
        "ingest",
        "build",
        "features",
        "fit",
        "export",
        "total",
        "clips/s",
        "RSS MB",
        "disk MB",
    )
    print("".join(f"{h:>10}" for h in head))
    for r in rows:
        disk = sum(r["disk_mb"].values())
        cells = [r["clips"], r["ingest_s"], r["build_s"], r["features_s"], r["fit_s"]]
        cells += [r["export_s"], r["pipeline_s"], r["clips_per_s"], r["peak_rss_mb"], disk]
        print(f"{cells[0]:>10}" + "".join(f"{c:10.1f}" for c in cells[1:]))
    first, last = rows[0], rows[-1]
    growth = (last["pipeline_s"] / first["pipeline_s"]) / (last["clips"] / first["clips"])
    per_clip = last["pipeline_s"] / last["clips"]
    print(
        f"time grows {growth:.2f}x linear from {first['clips']} to {last['clips']} clips; "
        f"UCF101 ({UCF101_CLIPS:,} clips) at the largest size's rate: "
        f"{per_clip * UCF101_CLIPS / 3600:.1f} h"
    )
    write_results(args.out, {"args": vars(args), "runs": rows, "growth_vs_linear": growth})


if __name__ == "__main__":
    main()
