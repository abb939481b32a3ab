"""Pusher: TFX's Pusher (filesystem destination) that never pushes a served model twice.

Usage (as `tfx.components.Pusher`):

    pusher = Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(filesystem=...),
    )

ServedModel runs on every run, so the Evaluator and the Pusher do too, even when
the Trainer's model came from the cache. A blessed model whose files equal the
newest served version's (the same model, pushed by an earlier run) is not
pushed again as a new version: the `PushedModel` artifact says `pushed: 0` and
`already_served: <that version's path>`.
"""

from __future__ import annotations

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.pusher import executor


class Pusher(tfx.components.Pusher):
    """TFX's Pusher; a model already served is not pushed again."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
