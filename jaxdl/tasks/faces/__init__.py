"""Case study 2, face verification, identification and clustering: what is its own.

`generator` draws people as parameter vectors and renders their pictures;
`dataset` stores them as an identity-disjoint TFDS dataset; `sources` loads the
people of any source (generated, an image folder of one sub-folder per person, TFDS
`lfw`) split by identity; `pairs` makes the LFW-style verification pairs and the
gallery / probe split; `evaluation` scores any embeddings on verification,
identification and clustering; `model` is the ResNet encoder to unit vectors;
`training` makes the P x K batches and the training step with photometric
augmentation (greyscale, hue, saturation, contrast, gamma, blur) inside it;
`plots` draws distance histograms, embedding scatters and a run's plots;
`inference` embeds images (any format Pillow opens) with a trained encoder and
answers the `verify`, `identify` and `cluster` verbs. The triplet loss is in `jaxdl.losses`, k-means in `jaxdl.clustering`.
"""
