"""One package per case study of the course, each holding everything that is its own.

- `day_night`: day'n'night image classification (scene generator, TFDS builder,
  shallow CNN).
- `faces`: face verification, identification (k-NN) and clustering (k-means) with a
  triplet loss (face generator, TFDS builder, identity sources, the pairs protocol,
  embedding evaluation, ResNet encoder, face plots, the deployment verbs' helpers).
- `style`: neural style transfer (painted textures, VGG19 and its weight loaders,
  the pixel-optimisation driver).
- `trigger_word`: trigger-word detection (eSpeak voices, clip synthesis, TFDS
  builder, word sources, events and the chime rule, detection in long audio,
  Conv1D + GRU model, trigger-word plots).

What two or more case studies use (training, data pipelines and splits, losses,
metrics, generic plots, config, the command line) is in the rest of `jaxdl`; the
experiment modules in `experiments/` wire one task package to it.
"""
