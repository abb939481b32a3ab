"""Pipeline configuration, definition, local runner and the `python -m pipeline` CLI."""
