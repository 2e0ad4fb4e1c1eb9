#!/usr/bin/env bash
# A short check of jaxdl on a machine with an accelerator (GPU or TPU; it also runs
# on CPU, only slower). Needs no network: every dataset it uses is generated.
#
#   bash scripts/device_check.sh [OUT_DIR]      # default OUT_DIR: a new mktemp dir
#   PYTHON=/path/to/venv/bin/python bash scripts/device_check.sh
#   DETERMINISM=0 bash scripts/device_check.sh  # skip step 3
#
# 1. the benchmark's quick preset, float32 and bfloat16 rows  -> OUT_DIR/bench/
# 2. day'n'night's quick preset, steps 3-5 profiled            -> OUT_DIR/day_night/
# 3. (DETERMINISM=1, the default) the day'n'night benchmark row (batch 64, both
#    dtypes) with and without XLA_FLAGS=--xla_gpu_deterministic_ops=true, lined up
#    with `compare`, and whether 20 training steps give bit-identical parameters
#    twice in a row under each setting                         -> OUT_DIR/determinism/
# Then a summary: the devices, the benchmark's tables, the day'n'night test
# accuracy and the profile's files. Each step's output is in OUT_DIR/*.log.
# About 6 minutes on 2 CPU cores; the steps' times are printed.
set -euo pipefail

PYTHON=${PYTHON:-python}
DETERMINISM=${DETERMINISM:-1}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/jaxdl-device-check.XXXXXX")}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
TFDS="$OUT/tfds"  # the generated datasets, kept with the run (no ~/tensorflow_datasets)
START=$SECONDS

# step NAME LOG COMMAND...: runs COMMAND with its output in LOG; on failure shows
# the log's end and stops the check.
step() {
    local name=$1 log=$2 t0=$SECONDS
    shift 2
    echo "== $name ..."
    if ! "$@" >"$log" 2>&1; then
        echo "!! $name failed; the end of $log:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    echo "   done in $((SECONDS - t0)) s"
}

echo "jaxdl device check into $OUT (python: $("$PYTHON" -c 'import sys; print(sys.executable)'))"
"$PYTHON" -c 'import jax; print("devices:", jax.devices()); print("backend:", jax.default_backend(), "| jax", jax.__version__)' \
    | tee "$OUT/devices.txt"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
        | tee -a "$OUT/devices.txt" || true
fi

# 1. The benchmark's quick preset: every case x strategy, in float32 and bfloat16.
step "benchmark (quick preset, float32 + bfloat16)" "$OUT/bench.log" \
    "$PYTHON" -m experiments.benchmark --config configs/benchmark.py:quick \
    --workdir "$OUT/bench" --no-progress --config.data_dir="$TFDS" \
    "--config.dtypes=('float32', 'bfloat16')"

# 2. Day'n'night's quick run, with a profile of training steps 3-5.
step "day'n'night (quick preset, steps 3-5 profiled)" "$OUT/day_night.log" \
    "$PYTHON" -m experiments.day_night --config configs/day_night.py:quick \
    --workdir "$OUT/day_night" --no-progress --config.data.data_dir="$TFDS" \
    --config.profile.num_steps=3 --config.profile.start_step=3

# 3. What --xla_gpu_deterministic_ops costs, and whether it is needed here.
if [[ "$DETERMINISM" == 1 ]]; then
    mkdir -p "$OUT/determinism"
    cat >"$OUT/determinism/repeat.py" <<'EOF'
"""20 day'n'night training steps (default model, batch 64) from one initial state,
twice: are the final parameters bit-identical? Prints one JSON line."""
import hashlib, json, os, sys
import jax, numpy as np
from experiments import benchmark, day_night
from jaxdl.train.steps import train_step

config = benchmark.experiment_config("day_night", "", sys.argv[1])
size, batch = config.data.image_size, 64
rng = np.random.default_rng(0)
data = {"inputs": rng.normal(size=(batch, size, size, 3)).astype(np.float32),
        "label": rng.integers(0, 2, batch).astype(np.int32),
        "id": np.arange(batch, dtype=np.int64)}
step = jax.jit(train_step)

def run():
    state = day_night.create_state(config, jax.random.key(0), 1000)
    for _ in range(20):
        state, _ = step(state, data, jax.random.key(1))
    leaves = jax.tree.leaves(jax.device_get(state.params))
    return hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in leaves)).hexdigest()

a, b = run(), run()
print(json.dumps({"dtype": sys.argv[1], "xla_flags": os.environ.get("XLA_FLAGS", ""),
                  "bit_identical": a == b, "sha256": [a[:16], b[:16]]}))
EOF
    FLAG=--xla_gpu_deterministic_ops=true
    for mode in default deterministic; do
        flags=${XLA_FLAGS:-}
        [[ $mode == deterministic ]] && flags="$flags $FLAG"
        step "day'n'night row, $mode" "$OUT/determinism/$mode.log" \
            env XLA_FLAGS="${flags# }" "$PYTHON" -m experiments.benchmark \
            --config configs/benchmark.py --workdir "$OUT/determinism/$mode" \
            --no-progress "--config.cases=('day_night',)" "--config.strategies=('single',)" \
            "--config.day_night.batch_sizes=(64,)" --config.pipeline_batches=0 \
            --config.matmul_size=1024
        for dtype in float32 bfloat16; do
            step "repeatability, $mode, $dtype" "$OUT/determinism/repeat-$mode-$dtype.log" \
                env XLA_FLAGS="${flags# }" "$PYTHON" "$OUT/determinism/repeat.py" "$dtype"
        done
    done
fi

# Summary.
echo
echo "=================== summary ($((SECONDS - START)) s in all) ==================="
cat "$OUT/devices.txt"
echo
echo "--- benchmark ($OUT/bench/results.md)"
cat "$OUT/bench/results.md"
echo
echo "--- day'n'night (quick preset)"
"$PYTHON" - "$OUT/day_night/results.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"test accuracy {r['test']['accuracy']:.4f} (majority baseline "
      f"{r['baseline']['accuracy']:.4f}), AUC {r['test']['auc']:.4f}")
EOF
echo "profile files ($OUT/day_night/profile):"
find "$OUT/day_night/profile" -type f -printf '  %P  %s bytes\n' | sort
if [[ "$DETERMINISM" == 1 ]]; then
    echo
    echo "--- --xla_gpu_deterministic_ops=true: step time (day'n'night, batch 64)"
    "$PYTHON" -m experiments.benchmark compare "$OUT/determinism/default/results.json" \
        "$OUT/determinism/deterministic/results.json"
    if grep -q "^backend: cpu" "$OUT/devices.txt"; then
        echo "(CPU: the flag only changes GPU programs, so any difference above is noise)"
    fi
    echo "repeatability (20 steps twice, same state and batch):"
    tail -q -n 1 "$OUT"/determinism/repeat-*.log | sed 's/^/  /'
fi
echo
echo "everything is in $OUT"
