"""Case study 1, day'n'night image classification: what is its own.

`generator` renders outdoor scenes (day, night and their hard cases) as pure JAX
functions of a key; `dataset` stores them as a TFDS dataset (`array_record`) with
train / validation / test splits from disjoint keys; `model` is the course's shallow
CNN. The data sources (procedural, image folder, TFDS), normalisation, pipelines,
metrics and plots it uses are shared (`jaxdl.data`, `jaxdl.metrics`, `jaxdl.plots`);
the recipe and the `predict` verb are `experiments/day_night.py`.
"""
