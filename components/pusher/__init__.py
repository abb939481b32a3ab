"""Pusher: TFX's Pusher that does not push again the model already served."""
