"""Benchmarks run by `make bench`: figures measured side by side in one run."""

import json
import os


def write_results(path: str, results: dict) -> None:
    """Writes a benchmark's figures as JSON (bench_out/ by default) and says where."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"written {path}")
