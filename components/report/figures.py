"""The report's figures as PNG bytes: confusion-matrix heatmap and training curves."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def confusion_heatmap(confusion: np.ndarray, labels: list[str], title: str) -> bytes:
    """A heatmap with counts in the cells and class names on both axes."""
    n = len(labels)
    size = max(4.0, 0.45 * n + 2.0)
    figure, axes = plt.subplots(figsize=(size + 1.0, size))
    image = axes.imshow(confusion, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    axes.set_xticks(ticks, labels, rotation=90 if n > 6 else 45, ha="right")
    axes.set_yticks(ticks, labels)
    axes.set_xlabel("Predicted action")
    axes.set_ylabel("Actual action")
    axes.set_title(title)
    if n <= 30:
        threshold = confusion.max() / 2 if confusion.size else 0
        for i in range(n):
            for j in range(n):
                color = "white" if confusion[i, j] > threshold else "black"
                axes.text(j, i, int(confusion[i, j]), ha="center", va="center", color=color)
    return _png(figure)


def training_curves(history: dict[str, list[float]]) -> bytes | None:
    """Loss and accuracy per epoch (train and validation); None without a history."""
    panels = [
        (metric, [k for k in (metric, "val_" + metric) if history.get(k)])
        for metric in ("loss", "accuracy")
    ]
    panels = [(metric, keys) for metric, keys in panels if keys]
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6))
    axes = np.atleast_1d(axes)
    for ax, (metric, keys) in zip(axes, panels, strict=False):
        for key in keys:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _png(figure)
