"""ModelReport: the evaluation report component.

`results` (TFMA output as plain values, per-class metrics), `figures` (PNG
plots) and `render` (the HTML page) are plain functions; `executor` and
`component` wrap them in TFX.
"""
