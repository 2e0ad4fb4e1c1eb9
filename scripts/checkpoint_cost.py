"""What a checkpoint save costs the training loop: asynchronous against synchronous.

    python scripts/checkpoint_cost.py

For the default models of day'n'night, the face encoder and the course's
trigger-word model: the median time `Checkpoints.save` holds its caller over 5
saves (after one warm-up), with orbax's asynchronous writes and without, and when
the background write is done.
"""
import sys, time, tempfile, statistics
import jax
from jaxdl.config import load_config
from jaxdl.train.checkpoint import Checkpoints
from jaxdl.train.state import params_sha256
from experiments import day_night, face_verification, trigger_word

cases = {"day_night": (day_night, "configs/day_night.py"),
         "face_verification": (face_verification, "configs/face_verification.py"),
         "trigger_word (course)": (trigger_word, "configs/trigger_word.py:course")}
for name, (mod, cfg) in cases.items():
    config = load_config(cfg)
    state = mod.create_state(config, jax.random.key(0), 100)
    nbytes = sum(x.nbytes for x in jax.tree.leaves((state.params, state.opt_state, state.batch_stats)))
    row = {}
    for asynchronous in (True, False):
        times, totals = [], []
        with tempfile.TemporaryDirectory() as d:
            ck = Checkpoints(d, asynchronous=asynchronous)
            for i in range(6):
                s = state.replace(step=state.step + i + 1)
                t0 = time.perf_counter(); ck.save(s, data={}, meta={}); t1 = time.perf_counter()
                ck.wait(); t2 = time.perf_counter()
                if i: times.append(t1 - t0); totals.append(t2 - t0)
            ck.close()
        row["async" if asynchronous else "sync"] = (statistics.median(times), statistics.median(totals))
    print(f"{name}: {nbytes/1e6:.1f} MB; async: holds {row['async'][0]*1e3:.0f} ms (write done after {row['async'][1]*1e3:.0f} ms); sync: holds {row['sync'][0]*1e3:.0f} ms")
