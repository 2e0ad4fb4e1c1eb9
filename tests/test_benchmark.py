"""The benchmark tools produce well-formed numbers (timings are not asserted)."""

import jax.numpy as jnp

from experiments.benchmark import kfold_step
from jaxdl.benchmarking import time_call


def test_time_call_reports_ordered_statistics():
    stats = time_call(lambda: jnp.ones(3) * 2, repeats=5, warmup=1)
    assert stats["repeats"] == 5
    assert 0 < stats["p10"] <= stats["median"] <= stats["p90"]


def test_kfold_benchmark_is_well_formed():
    out = kfold_step(k=2, batch_size=4, image_size=16, repeats=2)
    assert out["k"] == 2 and out["backend"] == "cpu"
    for key in ("vmap_ms", "sequential_ms"):
        assert set(out[key]) == {"median", "p10", "p90"} and out[key]["median"] > 0
    assert out["vmap_over_sequential"] > 0
    # vmapping per-fold kernels makes the convolutions grouped (what the HLO shows).
    assert out["grouped_convolutions_in_vmapped_program"] > 0
