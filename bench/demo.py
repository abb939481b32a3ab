"""Demo benchmark: the demo's trainer (configs/demo.yaml) over several seeds.

Ingests the demo data once (demo_data/, written when missing) as the pipeline
does, then trains the demo's Trainer config with seeds 0..N-1 (everything else
unchanged) and prints, per seed, the multi-clip eval accuracy, the loss after the
first epochs and the wall time, then min/median/max. Not a test: it measures
how reliably the demo learns (issue 13 asks >= 0.9 in at least 9 of 10 seeds).

`--determinism-cost` instead trains the first seed with TensorFlow's op
determinism on and off, alternately (`--repeats` times each), and prints the wall
time of each and their ratio, and whether the weights came out the same.

Usage: python -m bench.demo [--seeds 10] [--set trainer.FIELD=VALUE ...] [--out FILE]
       python -m bench.demo --determinism-cost [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore")

import warnings  # noqa: E402

from bench import write_results  # noqa: E402


def ingest_demo(config, work: str) -> str:
    """The demo's Examples (ingested once into `work`); returns their folder."""
    from components.ingest import beam_ingest
    from pipeline.beam import direct_runner_args
    from pipeline.demo_data import write_demo_dataset

    if not os.path.isfile(config.ingest.source):
        write_demo_dataset(os.path.dirname(config.ingest.source) or ".")
    examples = os.path.join(work, "examples")
    if not os.path.isdir(examples):
        beam_ingest.run_ingest(config.ingest, examples, direct_runner_args(1))
    return examples


def train_seed(trainer_config, examples: str, seed: int, work: str) -> dict:
    from components.ingest import constants
    from trainer.determinism import weights_hash
    from trainer.run import labels_of, train

    config = dataclasses.replace(trainer_config, seed=seed)
    files = {s: [os.path.join(constants.split_dir(examples, s), "*")] for s in ("train", "eval")}
    start = time.monotonic()
    classifier, _, summary = train(
        config, files["train"], files["eval"], labels_of(files["train"]), work
    )
    losses = summary["history"]["loss"]
    return {
        "seed": seed,
        "multi_clip_accuracy": summary["eval_multi_clip_accuracy"],
        "loss_epochs_1_3": [round(x, 3) for x in losses[:3]],
        "final_loss": losses[-1],
        "seconds": time.monotonic() - start,
        "weights_hash": weights_hash(classifier.variables)[:16],
        "history": summary["history"],
    }


def determinism_cost(trainer_config, examples: str, seed: int, repeats: int, work: str) -> dict:
    """Trains `seed` with op determinism on and off, alternately; wall times and hashes."""
    runs = {True: [], False: []}
    for repeat in range(repeats):
        for on in (True, False):
            config = dataclasses.replace(trainer_config, deterministic=on)
            row = train_seed(config, examples, seed, os.path.join(work, f"det{on}{repeat}"))
            runs[on].append(row)
            print(
                f"op determinism {'on ' if on else 'off'}: {row['seconds']:.0f} s, accuracy "
                f"{row['multi_clip_accuracy']:.3f}, weights {row['weights_hash']}",
                flush=True,
            )
    on_s = statistics.median(r["seconds"] for r in runs[True])
    off_s = statistics.median(r["seconds"] for r in runs[False])
    hashes = {r["weights_hash"] for r in runs[True] + runs[False]}
    print(
        f"op determinism costs {on_s / off_s:.2f}x the wall time (median {on_s:.0f} s on, "
        f"{off_s:.0f} s off); weights {'identical' if len(hashes) == 1 else 'differ'} "
        f"across the {2 * repeats} trainings"
    )
    return {"on": runs[True], "off": runs[False], "ratio": on_s / off_s}


def print_table(rows: list[dict]) -> None:
    print(f"{'seed':>4}  {'multi-clip acc':>14}  {'loss ep1-3':<22}  {'wall s':>6}")
    for r in rows:
        losses = " ".join(f"{x:.2f}" for x in r["loss_epochs_1_3"])
        print(
            f"{r['seed']:>4}  {r['multi_clip_accuracy']:>14.3f}  {losses:<22}  {r['seconds']:>6.0f}"
        )
    accs, secs = [r["multi_clip_accuracy"] for r in rows], [r["seconds"] for r in rows]
    print(
        f"accuracy min/median/max {min(accs):.3f} / {statistics.median(accs):.3f} / "
        f"{max(accs):.3f}; >= 0.9 in {sum(a >= 0.9 for a in accs)} of {len(accs)} seeds; "
        f"wall s per seed min/median/max {min(secs):.0f} / {statistics.median(secs):.0f} / "
        f"{max(secs):.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], help="config override")
    parser.add_argument("--work", default="", help="folder for the ingested demo (kept)")
    parser.add_argument("--out", default="bench_out/demo.json")
    parser.add_argument(
        "--determinism-cost", action="store_true", help="time op determinism on vs off"
    )
    parser.add_argument("--repeats", type=int, default=2, help="with --determinism-cost")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every epoch")
    args = parser.parse_args()

    import logging as py_logging

    from absl import logging

    from pipeline.config import load_config

    logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)
    if not args.verbose:  # the table is the output; library warnings only with -v
        warnings.filterwarnings("ignore")
        py_logging.getLogger("apache_beam").setLevel(py_logging.ERROR)
    config = load_config(args.config, args.set)
    work = args.work or tempfile.mkdtemp(prefix="bench-demo-")
    examples = ingest_demo(config, work)
    if args.determinism_cost:
        cost = determinism_cost(config.trainer, examples, args.first_seed, args.repeats, work)
        write_results(args.out, {"trainer": dataclasses.asdict(config.trainer), **cost})
        return
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        rows.append(train_seed(config.trainer, examples, seed, os.path.join(work, f"run{seed}")))
        r = rows[-1]
        print(
            f"seed {seed}: multi-clip accuracy {r['multi_clip_accuracy']:.3f} "
            f"({r['seconds']:.0f} s)",
            flush=True,
        )
    print_table(rows)
    write_results(args.out, {"trainer": dataclasses.asdict(config.trainer), "seeds": rows})


if __name__ == "__main__":
    main()
