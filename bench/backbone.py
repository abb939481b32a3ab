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
Reports the median seconds per clip over a few repetitions, at 16 clips a call by
default: the Trainer's feature calls (batch_size 8 x train_views 2, trainer/config.py).

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


def median_seconds(fn, clip, reps: int, warmup: int = 2) -> tuple[float, list[float]]:
    """Median wall seconds of `fn(clip)` over `reps` calls, after `warmup` calls."""
    for _ in range(warmup):
        fn(clip)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn(clip)["head"].numpy()  # .numpy() waits for the result
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


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
    parser.add_argument("--reps-slow", type=int, default=3, help="repetitions of Model Garden's 3d")
    parser.add_argument("--reps", type=int, default=10, help="repetitions of the fast paths")
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
    slow_fn = forward_fn(base)
    slow_s, slow_times = median_seconds(slow_fn, clip, args.reps_slow, warmup=1)
    slow_head = slow_fn(clip)["head"].numpy()

    switched = use_fast_depthwise_conv3d(base)
    dw_fn = forward_fn(base)  # a new function: the old one's trace keeps the slow ops
    dw_s, dw_times = median_seconds(dw_fn, clip, args.reps)
    dw_diff = float(np.abs(dw_fn(clip)["head"].numpy() - slow_head).max())

    switched += use_fast_conv3d(base)
    convs_fn = forward_fn(base)
    convs_s, convs_times = median_seconds(convs_fn, clip, args.reps)
    convs_diff = float(np.abs(convs_fn(clip)["head"].numpy() - slow_head).max())

    folded = use_folded_batch_norm(base)
    fast_fn = forward_fn(base)
    fast_s, fast_times = median_seconds(fast_fn, clip, args.reps)
    max_abs_diff = float(np.abs(fast_fn(clip)["head"].numpy() - slow_head).max())

    stream = build_backbone(arch_for(args.model_id, "stream"), use_external_states=False)
    stream_fn = forward_fn(stream)
    stream_s, stream_times = median_seconds(stream_fn, clip, args.reps)

    per_clip = {
        "3d, Model Garden": slow_s / args.batch,
        "3d, depthwise only": dw_s / args.batch,
        "3d, fast convs": convs_s / args.batch,
        "3d, ours": fast_s / args.batch,
        "2plus1d stream": stream_s / args.batch,
    }
    results = {
        "model_id": args.model_id,
        "clip_shape": list(shape[1:]),
        "batch": args.batch,
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "depthwise_conv3d_switched": switched,
        "batch_norm_folded_blocks": folded,
        "seconds_per_clip": per_clip,
        "batch_seconds": {
            "3d, Model Garden": slow_times,
            "3d, depthwise only": dw_times,
            "3d, fast convs": convs_times,
            "3d, ours": fast_times,
            "2plus1d stream": stream_times,
        },
        "speedup_ours_vs_model_garden_3d": slow_s / fast_s,
        "head_max_abs_diff_ours_vs_model_garden": max_abs_diff,
        "head_max_abs_diff_depthwise_only_vs_model_garden": dw_diff,
        "head_max_abs_diff_fast_convs_vs_model_garden": convs_diff,
    }
    print(
        f"MoViNet {args.model_id.upper()} backbone forward, {args.frames} frames at "
        f"{args.size}x{args.size}, batch {args.batch}, {os.cpu_count()} cores, tf.function, "
        f"median of {args.reps_slow}/{args.reps} reps"
    )
    print(f"{'':24}{'s per clip':>12}{'vs MG 3d':>10}")
    for label, s in per_clip.items():
        print(f"{label:24}{s:12.4f}{slow_s / args.batch / s:9.1f}x")
    print(
        f"ours vs Model Garden 3d: {results['speedup_ours_vs_model_garden_3d']:.1f}x "
        f"(goal >= 60x); {switched} layers switched, BatchNorm folded in {folded} blocks; "
        f"head max abs diff {max_abs_diff:.2e} (fast convs {convs_diff:.2e}, depthwise only "
        f"{dw_diff:.2e})"
    )
    write_results(args.out, results)


if __name__ == "__main__":
    main()
