"""Trigger-word detection: the course's fourth case study.

    python -m experiments.trigger_word --config configs/trigger_word.py[:PRESET] --workdir DIR

Presets: "" (default: the course's Conv1D + 2 GRU model on 10 s clips synthesised
with eSpeak NG, about 12 minutes on 2 CPU cores), "quick" (a tiny model on 2 s
clips: seconds, for tests and smoke runs).
"""

import ml_collections

from jaxdl.config import choose_preset
from jaxdl.tasks.trigger_word.voices import NEAR_MISSES, NEGATIVE_WORDS, TRIGGER_WORD
from jaxdl.train.loop import early_stopping_config
from jaxdl.train.optim import optimizer_config

PRESETS = ("default", "quick")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    preset = choose_preset(arg, PRESETS)
    c = ml_collections.ConfigDict()
    c.seed = 0

    c.data = ml_collections.ConfigDict()
    # words: "espeak" (synthesised; voices split disjointly between train,
    # validation and test), "folders" (your wav files) or "speech_commands" (TFDS)
    c.data.words = "espeak"
    c.data.storage = "on_the_fly"    # "on_the_fly" (a fresh clip every step) | "tfds"
    c.data.data_dir = ""             # TFDS data dir ("" = ~/tensorflow_datasets)
    c.data.trigger = TRIGGER_WORD
    c.data.negatives = NEGATIVE_WORDS
    # Hard negatives: this fraction of the training bank's negative utterances are
    # near misses ("captivate", "activity", ...), where false accepts come from.
    c.data.near_misses = NEAR_MISSES
    c.data.near_miss_fraction = 0.75
    c.data.voice_seed = 0            # voice pools and utterance settings
    c.data.train_positive_words = 400     # utterances in each split's word bank
    c.data.train_negative_words = 1200
    c.data.eval_positive_words = 150      # validation and test banks, each
    c.data.eval_negative_words = 450
    c.data.train_clips = 0           # tfds storage only: clips on disk (0 = steps x batch)
    c.data.validation_clips = 200
    c.data.test_clips = 1000
    # folders: one folder of wav files per role (backgrounds optional)
    c.data.positives_dir = ""
    c.data.negatives_dir = ""
    c.data.backgrounds_dir = ""
    # speech_commands: the trigger must be one of its labels (e.g. "marvin" in v2 or
    # one of yes/no/up/down/left/right/on/off/stop/go)
    c.data.tfds_name = "speech_commands"

    c.clip = ml_collections.ConfigDict()     # jaxdl.tasks.trigger_word.generator.ClipSpec
    c.clip.sample_rate = 16000
    c.clip.seconds = 10.0
    c.clip.max_positives = 4
    c.clip.max_negatives = 2
    c.clip.label_steps = 50          # output steps labelled 1 after a trigger word ends
    c.clip.word_db = (-6.0, 0.0)
    c.clip.background_db = (-30.0, -15.0)
    c.clip.target_dbfs = -20.0
    c.clip.kinds = ("white", "pink", "brown", "hum", "babble")  # + "file" with recordings
    c.clip.babble_words = 10

    c.features = ml_collections.ConfigDict()  # jaxdl.audio.FeatureSpec
    c.features.window_length = 200   # the course's NFFT = 200, noverlap = 120
    c.features.hop = 80
    c.features.nfft = 0              # 0 = window_length
    c.features.mel_bins = 0          # 0 = linear frequency bins

    c.model = ml_collections.ConfigDict()     # jaxdl.tasks.trigger_word.model.TriggerWordModel
    c.model.conv_features = 196
    c.model.kernel = 15
    c.model.stride = 4
    c.model.gru_features = (128, 128)
    c.model.dropout_rate = 0.2
    c.model.unroll = 1               # GRU time steps per scan iteration (speed only)

    c.optim = optimizer_config(name="adam", learning_rate=3e-3, schedule="warmup_cosine",
                               warmup_steps=100, grad_clip_norm=1.0)

    c.train = ml_collections.ConfigDict()
    c.train.batch_size = 32
    c.train.steps = 1200
    c.train.eval_every = 400         # validation and checkpoints every this many steps
    c.train.positive_weight = 1.0    # weight of the positive steps' BCE term
    c.train.l1 = 0.0
    c.train.l2 = 0.0
    c.train.parallel = "single"      # "single" | "pmap" | "shard_map"
    c.train.log_every = 25
    c.train.early_stopping = early_stopping_config(monitor="val/event_f1", patience=0)

    c.eval = ml_collections.ConfigDict()
    c.eval.batch_size = 50
    c.eval.threshold = 0.5           # the chime rule: p > threshold ...
    c.eval.min_consecutive = 3       # ... for this many steps in a row ...
    c.eval.refractory = 75           # ... and no chime in the previous 75 steps
    c.eval.match_slack = 0.3         # seconds: a detection counts from this long before
                                     # a trigger word ends until its labels end + this
    c.eval.false_accepts_per_hour = 2.0  # the false-reject rate is also reported here
    c.eval.plot_clips = 4

    if preset == "quick":
        c.data.train_positive_words, c.data.train_negative_words = 12, 24
        c.data.eval_positive_words, c.data.eval_negative_words = 6, 12
        c.data.validation_clips, c.data.test_clips = 8, 12
        c.data.negatives = NEGATIVE_WORDS[:12]
        c.data.near_misses = NEAR_MISSES[:4]
        c.clip.seconds = 2.0
        c.clip.max_positives, c.clip.max_negatives = 1, 1
        c.clip.label_steps = 10
        c.clip.babble_words = 3
        c.model.conv_features = 16
        c.model.gru_features = (8,)
        c.train.batch_size = 8
        c.train.steps = 6
        c.train.eval_every = 3
        c.train.log_every = 3
        c.optim.warmup_steps = 2
        c.eval.batch_size = 8
        c.eval.refractory = 20
        c.eval.plot_clips = 2
    return c
