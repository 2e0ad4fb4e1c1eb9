"""Preparing the project's generated TFDS datasets on disk, once."""

from __future__ import annotations

import jax

from jaxdl.workdir import barrier


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
