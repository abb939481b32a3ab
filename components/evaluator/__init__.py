"""Evaluator: TFX's Evaluator whose baseline may be ServedModel's empty first-run output."""
