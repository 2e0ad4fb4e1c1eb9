"""The generated faces as a TFDS dataset, prepared once on disk (array_record).

Splits hold disjoint people: split s renders its identities from
`fold_in(key(seed), s)`, so no person of the test split was seen in training.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import tensorflow_datasets as tfds

from jaxdl.tasks.faces.generator import render_identities
from jaxdl.data.generated import prepare_builder, split_key


@dataclasses.dataclass
class FacesConfig(tfds.core.BuilderConfig):
    """Identities per split, images per identity, image size and seed."""

    train_identities: int = 2000
    validation_identities: int = 200
    test_identities: int = 500
    images_per_identity: int = 10
    image_size: int = 64
    seed: int = 0


def builder_config(train_identities: int, validation_identities: int,
                   test_identities: int, images_per_identity: int, image_size: int,
                   seed: int) -> FacesConfig:
    """A config whose name encodes every field (each variant prepared once)."""
    name = (f"{train_identities}-{validation_identities}-{test_identities}"
            f"x{images_per_identity}-{image_size}px-seed{seed}")
    return FacesConfig(name=name, train_identities=train_identities,
                       validation_identities=validation_identities,
                       test_identities=test_identities,
                       images_per_identity=images_per_identity, image_size=image_size,
                       seed=seed)


class Faces(tfds.core.GeneratorBasedBuilder):
    """Generated faces: image uint8 [S, S, 3] and identity (int, per split)."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {
        "1.0.0": "First release.",
        "1.1.0": "Faces fill more of the picture; softer lighting, exposure and "
                 "noise; fewer and smaller occluders (identity easier to see, raw "
                 "pixels still far apart).",
        "1.2.0": "Natural colours only (no dyed hair, hair in shades of natural "
                 "colours, plain frames, skin on its ramp); wider face, eye, brow, "
                 "nose, mouth, ear and hairline ranges, and new ones (neck and "
                 "shoulders, hair texture, receding temples, frame weight): identity "
                 "carried more by shape, so that it survives in greyscale.",
    }
    BUILDER_CONFIGS = [builder_config(2000, 200, 500, 10, 64, 0)]

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description="Procedural faces (jaxdl.tasks.faces.generator); identity-disjoint splits.",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(s, s, 3), dtype=np.uint8),
                "identity": tfds.features.Tensor(shape=(), dtype=np.int32),
            }),
            supervised_keys=("image", "identity"))

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing is downloaded
        c = self.builder_config
        sizes = {"train": c.train_identities, "validation": c.validation_identities,
                 "test": c.test_identities}
        return {split: self._generate_examples(split, n) for split, n in sizes.items()}

    def _generate_examples(self, split: str, num_identities: int):
        c = self.builder_config
        key = split_key(c.seed, split)
        out = jax.device_get(render_identities(key, num_identities,
                                               c.images_per_identity, c.image_size))
        for i in range(len(out["identity"])):
            yield i, {"image": out["image"][i], "identity": np.int32(out["identity"][i])}


def prepare(train_identities: int = 2000, validation_identities: int = 200,
            test_identities: int = 500, images_per_identity: int = 10,
            image_size: int = 64, seed: int = 0, data_dir: str | None = None):
    """Generates the dataset on disk once (later calls reuse it); returns its builder."""
    return prepare_builder(Faces, builder_config(
        train_identities, validation_identities, test_identities, images_per_identity,
        image_size, seed), data_dir)
