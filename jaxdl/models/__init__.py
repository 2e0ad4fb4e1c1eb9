"""Layers every case study's model is built from.

`layers` holds the CPU-friendly convolution (`conv`: lax's convolution with a
chunked kernel gradient on CPU), 2x2 pooling without select-and-scatter
(`pool_2x2`) and per-example dropout (`ExampleDropout`). Each case study's own
model lives in its package: `jaxdl.tasks.day_night.model.ShallowCNN`,
`jaxdl.tasks.faces.model.ResNetEncoder`, `jaxdl.tasks.style.vgg.VGG19`,
`jaxdl.tasks.trigger_word.model.TriggerWordModel`.
"""

from jaxdl.models.layers import ExampleDropout, conv, pool_2x2

__all__ = ["ExampleDropout", "conv", "pool_2x2"]
