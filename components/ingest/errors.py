"""The ingest's exception type: every message names the input and what to do."""


class IngestError(Exception):
    """Bad input or an unreachable source: the message says which and what to do."""
