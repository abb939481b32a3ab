"""SourceFingerprint: the data's fingerprint, taken at run time (Kubeflow)."""
