"""Case study 3, neural style transfer: what is its own.

`generator` paints the embedded style image (a procedural brush-stroke texture);
`vgg` is the VGG19 feature network with named activations, `vgg_weights` reads
pretrained weights from local files (torchvision safetensors, Keras HDF5);
`transfer` optimises the pixels of the generated image (targets, the loss, one pure
step, coarse-to-fine scales, several images at once under vmap) and `inputs` loads
the content and style images of a run. The Gram, content, style and total-variation
losses are in `jaxdl.losses`.
"""
