"""Day'n'night classification: the course's first case study.

    python -m experiments.day_night --config configs/day_night.py[:PRESET] --workdir DIR

Presets: "" (default: 10k generated 64x64 images, under 5 minutes on 2 CPU cores),
"quick" (tiny, seconds: for tests and smoke runs), "kfold" (5-fold cross-validation
of the default model, the K models trained together under vmap).
"""

import ml_collections

from jaxdl.config import choose_preset
from jaxdl.train.options import add_train_options, profile_config
from jaxdl.train.loop import early_stopping_config
from jaxdl.train.optim import optimizer_config

PRESETS = ("default", "quick", "kfold")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    preset = choose_preset(arg, PRESETS)
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    c.data.source = "procedural"     # "procedural" | "folder" | "tfds"
    c.data.data_dir = ""             # TFDS data dir ("" = TFDS's default, ~/tensorflow_datasets)
    c.data.image_size = 64
    c.data.class_names = ("day", "night")
    # procedural: sizes of the generated splits (disjoint generator seeds)
    c.data.train_size = 8000
    c.data.validation_size = 1000
    c.data.test_size = 1000
    c.data.generator_seed = 0
    # folder: one sub-folder per class, split by these fractions (seeded)
    c.data.folder = ""
    c.data.validation_fraction = 0.1
    c.data.test_fraction = 0.2
    # tfds: a prepared catalog dataset
    c.data.tfds_name = ""
    c.data.tfds_train_split = "train"
    c.data.tfds_validation_split = ""  # "" = hold out validation_fraction of train
    c.data.tfds_test_split = "test"
    c.data.image_key = "image"
    c.data.label_key = "label"

    c.augment = ml_collections.ConfigDict()
    c.augment.flip = True
    c.augment.crop_padding = 4
    c.augment.brightness = 0.0       # keep 0 here: brightness is a day/night cue

    c.model = ml_collections.ConfigDict()
    c.model.features = (16, 32, 64)
    c.model.hidden = 64
    c.model.dropout_rate = 0.3
    c.model.batch_norm = False

    # name: sgd | adam | adamw; schedule: constant | cosine | warmup_cosine | step;
    # all fields and defaults: jaxdl.train.optim.optimizer_config.
    c.optim = optimizer_config(name="adam", learning_rate=2e-3, schedule="cosine")

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 64          # global batch, split over devices and processes
    c.train.epochs = 6
    c.train.l1 = 0.0                 # L1 penalty on kernels, added to the loss
    c.train.l2 = 0.0                 # L2 penalty (1/2 sum w^2) on kernels
    c.train.parallel = "single"      # "single" | "pmap" | "shard_map"
    c.train.log_every = 25
    # patience: epochs without improvement; 0 = never stop
    c.train.early_stopping = early_stopping_config(monitor="val/accuracy", patience=2)
    # dtype, grad_accum_steps, ema_decay, seeds, seeds_mode, checkpoint_every_steps,
    # keep_checkpoints: see jaxdl.train.options; profile: jaxdl.train.profiling.
    add_train_options(c.train)
    c.profile = profile_config()

    c.eval = ml_collections.ConfigDict()
    c.eval.protocol = "holdout"      # "holdout" | "kfold" | "iterated_kfold"
    c.eval.k = 5
    c.eval.iterations = 2            # iterated_kfold
    c.eval.cv_mode = "vmap"          # "vmap" | "sequential"
    c.eval.cv_epochs = 3
    c.eval.batch_size = 250
    c.eval.threshold = 0.5           # p_night above which an image is called night
    c.eval.grid_images = 32

    if preset == "quick":
        c.data.image_size = 32
        c.data.train_size, c.data.validation_size, c.data.test_size = 384, 96, 96
        c.model.features = (8, 16)
        c.model.hidden = 32
        c.train.batch_size = 32
        c.train.epochs = 2
        c.train.log_every = 4
        c.eval.batch_size = 48
        c.eval.k = 3
        c.eval.cv_epochs = 1
        c.eval.grid_images = 8
    elif preset == "kfold":
        c.eval.protocol = "kfold"
    return c
