"""Preparing the project's generated TFDS datasets on disk, once."""

from __future__ import annotations

import jax

from jaxdl.workdir import barrier

# Each split of a generated dataset draws from its own key, folded from the seed.
SPLIT_INDEX = {"train": 0, "validation": 1, "test": 2}


def split_key(seed: int, split: str) -> jax.Array:
    """The PRNG key of `split` ("train", "validation", "test") for generator `seed`;
    disjoint splits never share a key."""
    return jax.random.fold_in(jax.random.key(seed), SPLIT_INDEX[split])


def prepare_builder(builder_cls, config, data_dir: str | None = None):
    """The builder of `builder_cls` for BuilderConfig `config`, generated on disk once.

    TFDS takes a listed config by name only, other sizes as a custom config.
    Process 0 generates (later calls reuse the files); the other processes wait,
    then read what it wrote.
    """
    listed = {c.name for c in builder_cls.BUILDER_CONFIGS}
    make = lambda: builder_cls(config=config.name if config.name in listed else config,
                               data_dir=data_dir or None, file_format="array_record")
    if jax.process_index() == 0:
        make().download_and_prepare()
    barrier(f"{builder_cls.__name__}_prepared")
    return make()
