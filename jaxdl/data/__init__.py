"""Data that any case study reuses: sources, grain pipelines, splits, transforms, files.

`sources` (random-access sources, TFDS data sources, a clear error for a dataset
that is not prepared), `pipeline` (grain: shuffle, map, batch, shard per process,
P x K identity batches, prefetch; its position goes into checkpoints), `splits`
(hold-out, K-fold, iterated K-fold, stratified), `transforms` (normalisation
statistics, augmentation), `images` (image files and class folders),
`image_classification` (labelled images from a generator, a folder or TFDS),
`audio_files` (wav files, resampling), `generated` (preparing a generator as a TFDS
dataset) and `procedural` (the hash and noise primitives the image generators share).
What only one case study uses lives in its package under `jaxdl.tasks`.
"""
