"""The ingest's exception type: every message names the input and what to do."""


class IngestError(Exception):
    """Bad input or an unreachable source: the message says which and what to do."""


class SourceUnavailableError(IngestError):
    """A source that could not be fetched for a reason outside the input: the network,
    the server (5xx, timeouts) or TLS (a certificate that does not verify). The message
    names the host, the cause, the retries made and the fix."""
