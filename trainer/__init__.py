"""The TFX Trainer's `run_fn` and what it needs: MoViNet model, input, checkpoint, export."""
