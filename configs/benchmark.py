"""The training-step benchmark: every case study x parallel strategy x batch size x
compute dtype.

    python -m experiments.benchmark --config configs/benchmark.py[:PRESET] --workdir DIR
    python -m experiments.benchmark compare DIR_A/results.json DIR_B/results.json

Presets: "" (default: each case study's own architecture and default batch size,
and neighbours; about 10 minutes per dtype on 2 CPU cores), "quick" (the
experiments' quick models at tiny batches; for tests and smoke runs: 4-7 minutes
with both dtypes on 2 shared CPU cores, dataset generation for the pipelines
included). `--config.dtypes="('float32',)"` runs one dtype.

Each case builds its model from the experiment's own config (`<case>.preset`), so
what is timed is the step the experiment runs; every row is run once per compute
dtype in `dtypes` (the experiment config's `train.dtype`).

Profiles: `--config.profile.num_steps=N` traces timed steps profile.start_step ..
+N-1 of every row (1-based; the timed steps come after compiling and warm-up, so
the first is already warm) into WORKDIR/profile/<case>-<strategy>-b<batch>-<dtype>/
(TensorBoard's profile plugin, or perfetto_trace.json.gz at ui.perfetto.dev).
Traced rows say so ("profile", "profiled_steps"); their times include the
tracer's overhead.
"""

import ml_collections

from jaxdl.config import choose_preset
from jaxdl.train.profiling import profile_config

PRESETS = ("default", "quick")
CASES = ("day_night", "face_verification", "style_transfer", "trigger_word")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    preset = choose_preset(arg, PRESETS)
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.cases = CASES
    c.strategies = ("single", "pmap", "shard_map")
    # Compute dtypes (the experiments' train.dtype): parameters and optimiser state
    # stay float32 either way. Every case x strategy x batch row runs in each.
    c.dtypes = ("float32", "bfloat16")
    # On CPU, XLA host devices to make for pmap / shard_map (they share the cores);
    # 0 = as many as the platform has. Ignored when XLA_FLAGS already forces a count.
    c.host_devices = 2
    c.warmup = 3                     # untimed steps after compiling
    c.repeats = 20                   # timed, device-synchronised steps
    c.matmul_size = 0                # n of the n x n matmul peak (0: 2048 CPU, 8192 else)
    c.pipeline_batches = 20          # batches drawn to time each input pipeline (0: none)
    c.data_dir = ""                  # TFDS data dir for the generated datasets ("" = default)
    # Traces of timed steps start_step.. (1-based among the `repeats`); 0 steps: off.
    c.profile = profile_config(start_step=1)

    def case(preset_name, batch_sizes):
        g = ml_collections.ConfigDict()
        g.preset = preset_name       # the experiment config's preset
        g.batch_sizes = batch_sizes  # global batch sizes (split over devices)
        return g

    # Default batch sizes are the experiments' own (day'n'night 64, faces 16 x 4,
    # one style image, trigger word 32), with a neighbour on either side.
    c.day_night = case("", (32, 64, 128))
    c.face_verification = case("", (32, 64, 128))
    c.style_transfer = case("", (1, 2))
    # The trigger word's course model (its default is a small head on a frozen speech
    # embedding whose step costs little; the course's Conv1D + GRUs is the workload).
    c.trigger_word = case("course", (16, 32, 64))

    if preset == "quick":
        c.warmup, c.repeats = 1, 3
        c.pipeline_batches = 4
        c.matmul_size = 512
        # the quick experiments' own batch sizes (style: 2 images, to split)
        c.day_night = case("quick", (32,))
        c.face_verification = case("quick", (16,))
        c.style_transfer = case("quick", (2,))
        c.trigger_word = case("quick", (8,))
    return c
