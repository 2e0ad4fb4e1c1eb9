"""The day'n'night scenes as a TFDS dataset, prepared once on disk.

Written as `array_record` and read with `tfds.data_source`: no TensorFlow needed.
Splits come from disjoint generator keys (`fold_in(key(seed), split index)`), never
from one shuffled pool, so nothing leaks between train, validation and test.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import tensorflow_datasets as tfds

from jaxdl.tasks.day_night.generator import LABEL_NAMES, SCENE_KINDS, render_scenes
from jaxdl.data.image_classification import LabelledImages
from jaxdl.data.generated import prepare_builder, split_key


@dataclasses.dataclass
class DayNightConfig(tfds.core.BuilderConfig):
    """Sizes of the generated splits, image size and the generator seed."""

    train_size: int = 8000
    validation_size: int = 1000
    test_size: int = 1000
    image_size: int = 64
    seed: int = 0


def builder_config(train_size: int, validation_size: int, test_size: int,
                   image_size: int, seed: int) -> DayNightConfig:
    """A named builder config; the name encodes every field, so each variant is
    prepared once in its own folder and reused."""
    name = f"{train_size}-{validation_size}-{test_size}-{image_size}px-seed{seed}"
    return DayNightConfig(name=name, train_size=train_size,
                          validation_size=validation_size, test_size=test_size,
                          image_size=image_size, seed=seed)


class DayNight(tfds.core.GeneratorBasedBuilder):
    """Generated day'n'night scenes: image uint8 [S, S, 3], label, scene kind."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [builder_config(8000, 1000, 1000, 64, 0)]

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description="Procedural day and night outdoor scenes (jaxdl.tasks.day_night.generator).",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(s, s, 3), dtype=np.uint8),
                "label": tfds.features.ClassLabel(names=list(LABEL_NAMES)),
                "kind": tfds.features.ClassLabel(names=list(SCENE_KINDS)),
            }),
            supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing is downloaded
        c = self.builder_config
        sizes = {"train": c.train_size, "validation": c.validation_size, "test": c.test_size}
        return {split: self._generate_examples(split, n) for split, n in sizes.items()}

    def _generate_examples(self, split: str, n: int):
        c = self.builder_config
        key = split_key(c.seed, split)
        chunk = 1000
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            out = jax.device_get(render_scenes(jax.random.fold_in(key, start // chunk), m,
                                               c.image_size))
            for i in range(m):
                yield start + i, {"image": out["image"][i], "label": int(out["label"][i]),
                                  "kind": int(out["kind"][i])}


def prepare(train_size: int = 8000, validation_size: int = 1000, test_size: int = 1000,
            image_size: int = 64, seed: int = 0, data_dir: str | None = None):
    """Generates the dataset on disk once (later calls reuse it); returns its builder."""
    return prepare_builder(
        DayNight, builder_config(train_size, validation_size, test_size, image_size, seed),
        data_dir)


def load_splits(data):
    """The prepared splits for config `data` (see configs/day_night.py)."""
    builder = prepare(data.train_size, data.validation_size, data.test_size,
                      data.image_size, data.generator_seed, data.data_dir)
    sources = builder.as_data_source()
    return LabelledImages(sources["train"], sources["validation"], sources["test"],
                          LABEL_NAMES, f"generated day'n'night scenes ({builder.data_dir})")
