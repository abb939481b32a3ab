"""Ingest: videos (UCF101 remote zip, local zip or class folders) to TFRecord Examples.

The pure modules (`ucf101`, `sources`, `selection`, `video`, `records`, `config`)
are plain functions on plain values; `beam_ingest` wraps them in Beam and
`component`/`executor` in TFX.
"""
