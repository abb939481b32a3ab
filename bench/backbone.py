"""Backbone benchmark: MoViNet A0's forward pass on CPU, Model Garden's 3D path vs ours.

In one run, on the same random clips, under `tf.function`, after warm-up:
- 3d, Model Garden: the base architecture as Model Garden builds it (depthwise
  3D convolutions, XLA-compiled per layer by `nn_layers.Conv3D`);
- 3d, depthwise only: the same model, same weights, after
  `use_fast_depthwise_conv3d` (depthwise 3D convolutions as sums of 2D ones);
- 3d, fast convs: then `use_fast_conv3d` (also the 1x1x1 convolutions as matmuls
  and the stem as 2D convolutions, no per-layer XLA clusters);
- 3d, ours: then `use_folded_batch_norm` (inference BatchNorm folded into those
  convolutions, bias and swish fused into them), as the Trainer runs it; every
  output is checked against Model Garden's;
- 2plus1d stream: the stream architecture's forward over the whole clip, for
  reference (a different network, already 2D convolutions throughout: nothing
  to switch).
Reports the median seconds per clip, at 16 clips a call by default: the Trainer's
feature calls (batch_size 8 x train_views 2, trainer/config.py). Every path is traced
and warmed up first, then timed in turns (`interleaved_seconds`: each round one call
of Model Garden's path, then a few of each other path), so the ratios compare calls
made under the same load.

Usage: python -m bench.backbone [--model-id a0] [--frames 8] [--size 172] [--batch 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from bench import write_results

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning")


def warmed_up(fn, clip, calls: int = 2):
    """`fn` after `calls` calls on `clip`: traced, XLA clusters compiled."""
    for _ in range(calls):
        fn(clip)["head"].numpy()
    return fn


def interleaved_seconds(functions: dict, clip, rounds: int, reps: int) -> dict:
    """Wall seconds of each function's calls on `clip`, measured in turns.

    Each of `rounds` rounds calls the first function (the slow reference) once,
    then every other function `ceil(reps / rounds)` times, so every path is timed
    under the same load on a shared machine: timed one after the other, Model
    Garden's path took 0.87 to 1.06 s a clip in runs a few hours apart, and its
    42 s of calls and ours' 2.5 s saw different neighbours.

    Returns:
      {label: [seconds of each call]}, `.numpy()` included (it waits for the result).
    """
    slow_label = next(iter(functions))
    each = -(-reps // rounds)
    times = {label: [] for label in functions}
    for _ in range(rounds):
        for label, function in functions.items():
            for _ in range(1 if label == slow_label else each):
                start = time.perf_counter()
                function(clip)["head"].numpy()
                times[label].append(time.perf_counter() - start)
    return times


def randomize_non_kernel_weights(model, seed: int = 0) -> None:
    """Random BatchNorm statistics, biases and residual scales (Model Garden's init
    zeroes the residual scales, which would hide the depthwise branches' output)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for var in model.variables:
        name = var.name.split("/")[-1].split(":")[0]
        if name in ("gamma", "moving_variance"):
            var.assign(rng.uniform(0.5, 1.0, var.shape).astype("float32"))
        elif name == "scale":
            var.assign(rng.uniform(0.2, 0.6, var.shape).astype("float32"))
        elif name != "kernel":
            var.assign(rng.normal(0.0, 0.1, var.shape).astype("float32"))


def forward_fn(backbone):
    """The backbone's inference forward pass as a `tf.function`, endpoints only."""
    import tensorflow as tf

    @tf.function
    def forward(clip):
        endpoints, _ = backbone(clip, training=False)
        return endpoints

    return forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", default="a0")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=172)
    parser.add_argument("--batch", type=int, default=16, help="clips a call (the Trainer's)")
    parser.add_argument(
        "--reps-slow", type=int, default=3, help="rounds: calls of Model Garden's 3d"
    )
    parser.add_argument("--reps", type=int, default=10, help="calls of each other path (at least)")
    parser.add_argument("--out", default="bench_out/backbone.json")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from trainer.architecture import arch_for, build_backbone
    from trainer.fast_conv import use_fast_conv3d, use_fast_depthwise_conv3d
    from trainer.folded_batch_norm import use_folded_batch_norm

    shape = (args.batch, args.frames, args.size, args.size, 3)
    clip = tf.constant(np.random.default_rng(0).uniform(size=shape).astype("float32"))

    base = build_backbone(arch_for(args.model_id, "base"))
    randomize_non_kernel_weights(base)
    # Each path is traced (and its XLA clusters compiled) by a warm-up call made
    # at its switch: a function traced earlier keeps the ops of its time.
    slow_label, ours_label = "3d, Model Garden", "3d, ours"
    functions = {slow_label: forward_fn(base)}
    slow_head = functions[slow_label](clip)["head"].numpy()  # its warm-up (~15 s a call)
    switched = use_fast_depthwise_conv3d(base)
    functions["3d, depthwise only"] = warmed_up(forward_fn(base), clip)
    switched += use_fast_conv3d(base)
    functions["3d, fast convs"] = warmed_up(forward_fn(base), clip)
    folded = use_folded_batch_norm(base)
    functions[ours_label] = warmed_up(forward_fn(base), clip)
    stream = build_backbone(arch_for(args.model_id, "stream"), use_external_states=False)
    functions["2plus1d stream"] = warmed_up(forward_fn(stream), clip)
    diffs = {
        label: float(np.abs(functions[label](clip)["head"].numpy() - slow_head).max())
        for label in ("3d, depthwise only", "3d, fast convs", ours_label)
    }
    dw_diff, convs_diff, max_abs_diff = diffs.values()

    times = interleaved_seconds(functions, clip, args.reps_slow, args.reps)
    per_clip = {label: statistics.median(ts) / args.batch for label, ts in times.items()}
    slow_s, fast_s = per_clip[slow_label], per_clip[ours_label]
    results = {
        "model_id": args.model_id,
        "clip_shape": list(shape[1:]),
        "batch": args.batch,
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "depthwise_conv3d_switched": switched,
        "batch_norm_folded_blocks": folded,
        "seconds_per_clip": per_clip,
        "batch_seconds": times,
        "speedup_ours_vs_model_garden_3d": slow_s / fast_s,
        "head_max_abs_diff_ours_vs_model_garden": max_abs_diff,
        "head_max_abs_diff_depthwise_only_vs_model_garden": dw_diff,
        "head_max_abs_diff_fast_convs_vs_model_garden": convs_diff,
    }
    print(
        f"MoViNet {args.model_id.upper()} backbone forward, {args.frames} frames at "
        f"{args.size}x{args.size}, batch {args.batch}, {os.cpu_count()} cores, tf.function, "
        f"median of {len(times[slow_label])}/{len(times[ours_label])} calls, in turns"
    )
    print(f"{'':24}{'s per clip':>12}{'vs MG 3d':>10}")
    for label, s in per_clip.items():
        print(f"{label:24}{s:12.4f}{slow_s / s:9.1f}x")
    print(
        f"ours vs Model Garden 3d: {results['speedup_ours_vs_model_garden_3d']:.1f}x "
        f"(goal >= 60x); {switched} layers switched, BatchNorm folded in {folded} blocks; "
        f"head max abs diff {max_abs_diff:.2e} (fast convs {convs_diff:.2e}, depthwise only "
        f"{dw_diff:.2e})"
    )
    write_results(args.out, results)


if __name__ == "__main__":
    main()
