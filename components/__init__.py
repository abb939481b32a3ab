"""Custom TFX components of the video action-recognition pipeline."""
