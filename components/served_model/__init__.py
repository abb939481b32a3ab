"""ServedModel: the model production serves, as a `Model` artifact for the pipeline.

`versions` (serving-directory layout, plain functions over tf.io.gfile) is shared
with the trainer's warm start, the Evaluator's baseline and `predict`;
`component`/`executor` wrap it in TFX.
"""
