"""GPU check: fine-tune and stream on whatever accelerator TensorFlow sees, mixed
precision off and on. Never run in CI (no accelerator there); run it by hand on a
GPU machine: `python -m bench.gpu`.

- fine-tune: `bench.finetune`'s "ours" path (ingest, frozen A0 base features,
  head, export) on the same synthetic clips, `trainer.mixed_precision` false then
  true (float16 compute only applies on a GPU: `trainer/run.py`);
- stream: A0-Stream's exported `stream_step`, one 172x172 frame per step,
  median and p90 ms per frame, float32 then under the mixed_float16 policy.
Prints one table; JSON in bench_out/gpu.json.

Usage: python -m bench.gpu [--classes 10] [--clips 30] [--steps 100] [--allow-cpu]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from bench import write_results

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")


def stream_latency(mixed: bool, steps: int, size: int = 172) -> dict:
    """Median and p90 ms per frame of our exported A0-Stream `stream_step`."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    from bench.stream import time_steps
    from trainer import architecture
    from trainer.config import TrainerConfig
    from trainer.export import export_model
    from trainer.model import VideoClassifier, build_head, feature_dim

    tf_keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        arch = architecture.arch_for("a0", "stream")
        backbone = architecture.build_backbone(arch)
        head = build_head(arch, feature_dim(backbone), backbone.head_filters, 600, 0.0, 0)
        config = TrainerConfig(random_init=True, variant="stream", resolution=size, tflite="none")
        with tempfile.TemporaryDirectory() as folder:
            labels = [f"class{i:03d}" for i in range(600)]
            export_model(VideoClassifier(backbone, head, arch), labels, config, arch, folder)
            model = tf.saved_model.load(folder)
            rng = np.random.default_rng(0)
            frames = [
                tf.constant(rng.uniform(size=(1, 1, size, size, 3)).astype("float32"))
                for _ in range(steps)
            ]
            sig = model.signatures
            times = time_steps(sig["stream_step"], sig["init_states"], frames, "probabilities")
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    return {
        "ms_median": 1000 * statistics.median(times),
        "ms_p90": 1000 * float(np.percentile(times, 90)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--allow-cpu", action="store_true", help="run without an accelerator")
    parser.add_argument("--out", default="bench_out/gpu.json")
    args = parser.parse_args()

    import tensorflow as tf

    from bench.finetune import ours_finetune
    from pipeline.demo_data import DemoSpec, write_videos

    devices = tf.config.list_physical_devices("GPU")
    if not devices and not args.allow_cpu:
        raise SystemExit("bench.gpu: no GPU visible to TensorFlow (pass --allow-cpu to try anyway)")
    names = [
        tf.config.experimental.get_device_details(d).get("device_name", d.name) for d in devices
    ]
    print(f"accelerators: {names or ['none (CPU)']}", flush=True)
    # bench.finetune's arguments, at its defaults.
    ft = argparse.Namespace(
        frames=8, resolution=172, epochs=args.epochs, batch=8, seed=42, checkpoint=""
    )
    results = {"devices": names, "finetune": {}, "stream": {}}
    with tempfile.TemporaryDirectory() as work:
        folder = os.path.join(work, "videos")
        write_videos(folder, DemoSpec(args.classes, 6, max(1, args.clips // 6), 5.0, 42))
        for mixed in (False, True):
            start = time.perf_counter()
            run = ours_finetune(
                folder,
                os.path.join(work, f"mixed{mixed}"),
                ft,
                args.epochs,
                1,
                mixed_precision=mixed,
            )
            run["wall_s"] = time.perf_counter() - start
            results["finetune"][f"mixed_precision={mixed}"] = run
    for mixed in (False, True):
        results["stream"][f"mixed_precision={mixed}"] = stream_latency(mixed, args.steps)
    print(f"{'':26}{'fine-tune s':>12}{'features s':>11}{'eval acc':>9}{'stream ms':>10}{'p90':>7}")
    for key in results["finetune"]:
        run, stream = results["finetune"][key], results["stream"][key]
        print(
            f"{key:26}{run['seconds']:12.1f}{run['features_s']:11.1f}{run['eval_accuracy']:9.3f}"
            f"{stream['ms_median']:10.1f}{stream['ms_p90']:7.1f}"
        )
    write_results(args.out, results)


if __name__ == "__main__":
    main()
