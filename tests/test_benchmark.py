"""The benchmark writes well-formed results on 1 and 2 devices and in each compute
dtype, traces rows when asked, `compare` lines them up, and the measuring helpers
compute what they say (timings not asserted)."""

import gzip
import json
import os

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxdl import benchmarking
from jaxdl.config import ConfigError
from jaxdl.data.sources import DataError
from tests.conftest import last_json_line, run_python

CASES = ("day_night", "face_verification", "style_transfer", "trigger_word")


def test_time_call_reports_ordered_statistics():
    stats = benchmarking.time_call(lambda: jnp.ones(3) * 2, repeats=5, warmup=1)
    assert stats["repeats"] == 5
    assert 0 < stats["min"] <= stats["p10"] <= stats["median"] <= stats["p90"]
    with pytest.raises(ValueError):
        benchmarking.time_call(lambda: jnp.ones(3), repeats=0)


def test_compile_stats_counts_a_matmul():
    import jax
    a = jnp.ones((64, 32))
    b = jnp.ones((32, 16))
    compiled, info = benchmarking.compile_stats(jax.jit(jnp.matmul), a, b)
    assert info["flops"] == pytest.approx(2 * 64 * 32 * 16, rel=0.01)
    assert info["compile_seconds"] > 0 and info["memory_bytes"] > 0
    np.testing.assert_allclose(compiled(a, b), 32.0)


def test_loop_flops_counts_every_trip():
    import jax

    def scanned(x, w, unroll):
        return jax.lax.scan(lambda c, _: (jnp.tanh(c @ w), None), x, None, length=8,
                            unroll=unroll)[0]
    x, w = jnp.ones((4, 16)), jnp.ones((16, 16))
    f1 = benchmarking.compile_stats(jax.jit(lambda x, w: scanned(x, w, 1)), x, w)[1]["flops"]
    f2 = benchmarking.compile_stats(jax.jit(lambda x, w: scanned(x, w, 2)), x, w)[1]["flops"]
    f8 = benchmarking.compile_stats(jax.jit(lambda x, w: scanned(x, w, 8)), x, w)[1]["flops"]
    # Fully unrolled, XLA counts every trip: the correction must agree with it.
    assert benchmarking.loop_flops(f1, f2, unroll=1, trip_count=8) == pytest.approx(f8, rel=0.02)
    assert f8 > 4 * f1  # the uncorrected count is far off
    assert benchmarking.loop_flops(10.0, 14.0, unroll=2, trip_count=8) == 10 + 3 * 4
    with pytest.raises(ValueError):
        benchmarking.loop_flops(10.0, 14.0, unroll=2, trip_count=6)
    with pytest.raises(ValueError):
        benchmarking.loop_flops(10.0, 9.0, unroll=1, trip_count=8)


def test_compare_lines_up_runs_with_speedups():
    a = [{"case": "x", "strategy": "single", "batch": 8, "step_ms": 10.0},
         {"case": "y", "strategy": "pmap", "batch": 8, "step_ms": 4.0}]
    b = [{"case": "x", "strategy": "single", "batch": 8, "step_ms": 2.5}]
    headers, rows = benchmarking.compare([("cpu", a), ("gpu", b)],
                                         key=("case", "strategy", "batch"), value="step_ms")
    assert headers == ["case", "strategy", "batch", "cpu", "gpu", "speedup gpu"]
    assert rows[0]["speedup gpu"] == 4.0 and rows[0]["gpu"] == 2.5
    assert rows[1]["gpu"] is None and rows[1]["speedup gpu"] is None
    table = benchmarking.markdown_table(rows, [(h, h) for h in headers])
    assert table.splitlines()[0] == "| case | strategy | batch | cpu | gpu | speedup gpu |"
    assert table.splitlines()[3] == "| y | pmap | 8 | 4.0 | - | - |"


def test_measure_step_counts_flops_and_loops():
    import jax
    a, b = jnp.ones((256, 256)), jnp.ones((256, 256))
    matmul = benchmarking.Workload(jax.jit(jnp.matmul), (a, b), lambda out, args: args,
                                   examples=256)
    row = benchmarking.measure_step(matmul, warmup=1, repeats=2, devices=2, peak=1e9,
                                    platform="cpu")
    assert row["gflop_per_step"] == pytest.approx(2 * 2 * 256 ** 3 / 1e9, abs=1e-4)
    assert row["flops_note"] is None and row["repeats"] == 2
    assert row["peak_fraction"] == pytest.approx(row["gflops"], abs=0.01)  # peak 1 GFLOP/s
    assert 0 < row["step_ms_p10"] <= row["step_ms"] <= row["step_ms_p90"]

    def scanned(trips, unroll):
        fn = jax.jit(lambda x, w: jax.lax.scan(lambda c, _: (c @ w, None), x, None,
                                               length=trips, unroll=unroll)[0])
        return benchmarking.Workload(fn, (jnp.ones((64, 256)), jnp.ones((256, 256))),
                                     lambda out, args: args, 64, loop_trips=trips,
                                     unroll=unroll, unrolled=lambda u: scanned(trips, u))
    row = benchmarking.measure_step(scanned(8, 1), warmup=0, repeats=1, devices=1,
                                    peak=1e9, platform="cpu")
    assert row["flops_note"] == "loops counted x8"
    assert row["gflop_per_step"] == pytest.approx(8 * 2 * 64 * 256 * 256 / 1e9, rel=0.01)
    row = benchmarking.measure_step(scanned(5, 1), warmup=0, repeats=1, devices=1,
                                    peak=1e9, platform="cpu")
    assert row["flops_note"] == "loop bodies counted once"
    assert row["gflop_per_step"] == pytest.approx(2 * 64 * 256 * 256 / 1e9, rel=0.01)


def test_step_row_skips_a_batch_that_does_not_split():
    class Strategy:
        name, num_devices = "pmap", 2

    def never():
        raise AssertionError("a skipped row builds no workload")
    row = benchmarking.step_row("x", Strategy(), 3, never, warmup=1, repeats=1, peak=1.0,
                                platform="cpu")
    assert row == {"case": "x", "strategy": "pmap", "devices": 2, "batch": 3,
                   "dtype": "float32", "reason": "batch 3 does not split over 2 devices"}
    row = benchmarking.step_row("x", Strategy(), 3, never, warmup=1, repeats=1, peak=1.0,
                                platform="cpu", dtype="bfloat16")
    assert row["dtype"] == "bfloat16" and "reason" in row


def _matmul_workload():
    import jax
    a = jnp.ones((64, 64))
    return benchmarking.Workload(jax.jit(jnp.matmul), (a, a), lambda out, args: args,
                                 examples=64)


def test_measure_step_traces_only_the_profiled_steps(tmp_path):
    from jaxdl.train.profiling import StepProfiler, trace_files
    off = StepProfiler(tmp_path / "off", start_step=1, num_steps=0)
    row = benchmarking.measure_step(_matmul_workload(), warmup=1, repeats=3, devices=1,
                                    peak=1e9, platform="cpu", profiler=off)
    assert "profiled_steps" not in row and not (tmp_path / "off").exists()
    on = StepProfiler(tmp_path / "on", start_step=2, num_steps=5)  # past the 3 repeats
    row = benchmarking.measure_step(_matmul_workload(), warmup=1, repeats=3, devices=1,
                                    peak=1e9, platform="cpu", profiler=on)
    assert row["profiled_steps"] == [2, 3] and row["repeats"] == 3
    assert not on.active  # closed after the last timed step
    traces = trace_files(tmp_path / "on")
    assert any(p.name == "perfetto_trace.json.gz" for p in traces)


def test_dtype_ratios_set_each_dtype_against_float32():
    steps = [{"case": "a", "strategy": "single", "batch": 8, "step_ms": 10.0},  # float32
             {"case": "a", "strategy": "single", "batch": 8, "dtype": "bfloat16",
              "step_ms": 18.0},
             {"case": "a", "strategy": "pmap", "batch": 8, "dtype": "bfloat16",
              "step_ms": 5.0},  # no float32 row to set it against
             {"case": "b", "strategy": "single", "batch": 4, "dtype": "float32",
              "step_ms": 5.0},
             {"case": "b", "strategy": "single", "batch": 4, "dtype": "bfloat16",
              "step_ms": 3.0}]
    ratios = benchmarking.dtype_ratios(steps)
    assert [(r["case"], r["dtype"], r["reference_ms"], r["step_ms"]) for r in ratios] == [
        ("a", "bfloat16", 10.0, 18.0), ("b", "bfloat16", 5.0, 3.0)]
    assert [r["ratio"] for r in ratios] == pytest.approx([1.8, 0.6])
    # A ratio above 1 is never called a speed-up.
    assert benchmarking.ratio_words(1.8) == "1.80x slower"
    assert benchmarking.ratio_words(0.6) == "0.60x (1.67x faster)"
    assert benchmarking.ratio_words(1.001) == "1.00x (the same)"
    assert benchmarking.row_name(steps[0]) == "a-single-b8-float32"


def test_results_markdown_sets_bfloat16_against_float32():
    bf16 = dict(TINY_RESULTS["steps"][0], dtype="bfloat16", step_ms=3.6, step_ms_p10=3.5,
                step_ms_p90=3.9, profile="profile/a-single-b8-bfloat16",
                profiled_steps=[1, 2])
    results = dict(TINY_RESULTS, steps=[TINY_RESULTS["steps"][0], bf16],
                   skipped=TINY_RESULTS["skipped"] + [
                       dict(TINY_RESULTS["skipped"][0], dtype="bfloat16")])
    lines = benchmarking.results_markdown(results).splitlines()
    assert "| a | single | 1 | 8 | bfloat16 | 1.5 | 3.6 | 3.5-3.9 |" in lines[6]
    assert ("Profiled (these rows' times include the tracer's overhead): "
            "a-single-b8-bfloat16 steps 1-2 in profile/a-single-b8-bfloat16") in lines
    i = lines.index("bfloat16 against float32 (median step times; above 1x: bfloat16 is "
                    "slower):")
    assert lines[i + 2:i + 5] == [
        "| case | strategy | batch | float32 ms | bfloat16 ms | bfloat16 / float32 step time |",
        "|---|---|---|---|---|---|",
        "| a | single | 8 | 2.0 | 3.6 | 1.80x slower |"]
    # A skip that holds in every dtype is listed once.
    assert lines.count("Skipped: a pmap batch 3 (batch 3 does not split over 2 devices)") == 1


def test_pipeline_row_prefers_the_step_in_the_experiments_dtype():
    steps = [{"case": "x", "strategy": "single", "batch": 8, "dtype": "bfloat16",
              "examples_per_s": 800.0},
             {"case": "x", "strategy": "single", "batch": 8, "dtype": "float32",
              "examples_per_s": 400.0}]
    measured = {"examples_per_second": 100.0, "seconds_per_batch": 0.08, "batches": 4}
    row = benchmarking.pipeline_row("x", 8, measured, steps)
    assert (row["step_dtype"], row["ratio"]) == ("float32", 0.25)
    row = benchmarking.pipeline_row("x", 8, measured, steps[:1])  # only bfloat16 ran
    assert (row["step_dtype"], row["ratio"]) == ("bfloat16", 0.12)


def test_pipeline_row_sets_the_pipeline_against_the_single_step():
    steps = [{"case": "x", "strategy": "pmap", "batch": 8, "examples_per_s": 1.0},
             {"case": "x", "strategy": "single", "batch": 8, "examples_per_s": 400.0},
             {"case": "x", "strategy": "single", "batch": 4, "examples_per_s": 2.0}]
    measured = {"examples_per_second": 100.04, "seconds_per_batch": 0.08, "batches": 4}
    assert benchmarking.pipeline_row("x", 8, measured, steps) == {
        "case": "x", "batch": 8, "examples_per_s": 100.0, "ms_per_batch": 80.0,
        "step_examples_per_s": 400.0, "step_dtype": "float32", "ratio": 0.25}
    assert benchmarking.pipeline_row("y", 8, measured, steps) == {
        "case": "y", "batch": 8, "examples_per_s": 100.0, "ms_per_batch": 80.0}


def test_check_plan_names_the_choices():
    benchmarking.check_plan(["a"], ["single", "pmap"], ("a", "b"))
    with pytest.raises(ConfigError, match=r"unknown cases \['c'\]; cases: a, b; strategies: "
                                          r"single, pmap, shard_map"):
        benchmarking.check_plan(["a", "c"], ["single"], ("a", "b"))
    with pytest.raises(ConfigError, match=r"unknown strategies \['vmap'\]"):
        benchmarking.check_plan(["a"], ["vmap"], ("a", "b"))
    benchmarking.check_plan(["a"], ["single"], ("a",), ("float32", "bfloat16"))
    with pytest.raises(ConfigError, match="'dtypes': compute dtype 'float16' needs loss"):
        benchmarking.check_plan(["a"], ["single"], ("a",), ("float32", "float16"))
    for dtypes in ((), ("float32", "float32")):
        with pytest.raises(ConfigError, match="give each compute dtype once"):
            benchmarking.check_plan(["a"], ["single"], ("a",), dtypes)


def test_with_data_copies_the_config():
    config = ml_collections.ConfigDict({"data": {"data_dir": "old", "size": 10}})
    new = benchmarking.with_data(config, "new", size=3)
    assert (new.data.data_dir, new.data.size) == ("new", 3)
    assert (config.data.data_dir, config.data.size) == ("old", 10)
    assert benchmarking.with_data(config, "").data.data_dir == "old"


def test_force_host_devices_keeps_a_count_already_set(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    benchmarking.force_host_devices(4)
    assert os.environ["XLA_FLAGS"] == ("--xla_dump_to=/tmp/x "
                                       "--xla_force_host_platform_device_count=4")
    benchmarking.force_host_devices(2)
    assert os.environ["XLA_FLAGS"].endswith("count=4")
    monkeypatch.delenv("XLA_FLAGS")
    benchmarking.force_host_devices(0)
    assert "XLA_FLAGS" not in os.environ


TINY_RESULTS = {
    "environment": {"device_kind": "cpu", "device_count": 2, "platform": "cpu",
                    "host": {"processor": "Xeon", "cpu_count": 2}, "xla_flags": "--f",
                    "versions": {"jax": "1", "jaxlib": "2", "flax": "3"}},
    "matmul_peak": {"flops_per_second": 5e10, "dtype": "float32", "n": 512},
    "steps": [{"case": "a", "strategy": "single", "devices": 1, "batch": 8,
               "compile_s": 1.5, "step_ms": 2.0, "step_ms_p10": 1.9, "step_ms_p90": 2.2,
               "examples_per_s": 4000.0, "gflop_per_step": 0.1, "gflops": 50.0,
               "peak_fraction": 0.25, "flops_note": "loops counted x4",
               "program_memory_mb": 3.0, "device_peak_memory_mb": None}],
    "skipped": [{"case": "a", "strategy": "pmap", "devices": 2, "batch": 3,
                 "reason": "batch 3 does not split over 2 devices"}],
    "pipelines": [{"case": "a", "batch": 8, "examples_per_s": 2000.0, "ms_per_batch": 4.0,
                   "step_examples_per_s": 4000.0, "ratio": 0.5},
                  {"case": "b", "batch": 1, "note": "none"}]}


def test_results_markdown_of_a_tiny_run():
    assert benchmarking.results_markdown(TINY_RESULTS).splitlines() == [
        "cpu x 2 (cpu; Xeon, 2 CPUs); jax 1, jaxlib 2, flax 3; XLA_FLAGS='--f'",
        "matmul peak: 50.0 GFLOP/s (float32, n=512)",
        "",
        "| case | strategy | devices | batch | dtype | compile s | step ms | p10-p90 ms "
        "| examples/s | GFLOP/step | GFLOP/s | of peak | program MB | device peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        "| a | single | 1 | 8 | float32 | 1.5 | 2.0 | 1.9-2.2 | 4000.0 | 0.1 | 50.0 | 25.0% "
        "| 3.0 | - |",
        "",
        "FLOPs: loops counted x4.",
        "",
        "Skipped: a pmap batch 3 (batch 3 does not split over 2 devices)",
        "",
        "| case | batch | pipeline examples/s | step examples/s | step dtype "
        "| pipeline / step | note |",
        "|---|---|---|---|---|---|---|",
        "| a | 8 | 2000.0 | 4000.0 | - | 0.5 | - |",
        "| b | 1 | - | - | - | - | none |"]


def test_save_and_compare_tiny_results_files(tmp_path):
    # The cpu run predates the dtype axis (its rows count as float32).
    gpu = dict(TINY_RESULTS, environment=dict(TINY_RESULTS["environment"],
                                              device_kind="gpu", device_count=1),
               steps=[dict(TINY_RESULTS["steps"][0], step_ms=0.5, dtype="float32"),
                      dict(TINY_RESULTS["steps"][0], step_ms=0.25, dtype="bfloat16"),
                      dict(TINY_RESULTS["steps"][0], case="b", step_ms=1.0)])
    for name, results in (("a", TINY_RESULTS), ("b", gpu)):
        benchmarking.save_results(tmp_path / name, results)
    assert benchmarking.load_results(tmp_path / "a" / "results.json") == TINY_RESULTS
    assert ((tmp_path / "b" / "results.md").read_text()
            == benchmarking.results_markdown(gpu) + "\n")
    paths = [str(tmp_path / n / "results.json") for n in ("a", "b")]
    assert benchmarking.compare_results(paths).splitlines() == [
        "step_ms per case, strategy, batch and dtype; speedup: how many times faster than "
        "cpu x2 (a)",
        "",
        "| case | strategy | batch | dtype | cpu x2 (a) | gpu x1 (b) | speedup gpu x1 (b) |",
        "|---|---|---|---|---|---|---|",
        "| a | single | 8 | float32 | 2.0 | 0.5 | 4.00x |",
        "| a | single | 8 | bfloat16 | - | 0.25 | - |",
        "| b | single | 8 | float32 | - | 1.0 | - |"]
    same = benchmarking.compare_results([paths[0], paths[0]], "examples_per_s")
    assert same.splitlines()[2] == ("| case | strategy | batch | dtype | cpu x2 (a) #1 | "
                                    "cpu x2 (a) #2 | speedup cpu x2 (a) #2 |")
    assert same.splitlines()[4] == "| a | single | 8 | float32 | 4000.0 | 4000.0 | 1.00x |"
    with pytest.raises(ConfigError):
        benchmarking.compare_results(paths[:1])
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DataError, match="not JSON"):
        benchmarking.load_results(tmp_path / "bad.json")


@pytest.mark.slow
def test_kfold_benchmark_is_well_formed():
    from jaxdl.tasks.day_night.model import ShallowCNN
    out = benchmarking.kfold_step(ShallowCNN(), k=2, batch_size=4, image_size=16,
                                  repeats=2)
    assert out["k"] == 2 and out["backend"] == "cpu"
    for key in ("vmap_ms", "sequential_ms"):
        assert set(out[key]) == {"median", "p10", "p90"} and out[key]["median"] > 0
    assert out["vmap_over_sequential"] > 0
    # vmapping per-fold kernels makes the convolutions grouped (what the HLO shows).
    assert out["grouped_convolutions_in_vmapped_program"] > 0


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory):
    """The quick preset restricted to its smallest row (the style-transfer pixel step
    on the narrow VGG19, single device, 2 images), in both dtypes, with timed steps
    1-2 of each traced; no pipelines."""
    workdir = tmp_path_factory.mktemp("bench") / "profiled"
    proc = run_python(["-m", "experiments.benchmark", "--config",
                       "configs/benchmark.py:quick", "--workdir", str(workdir),
                       "--no-progress", "--config.host_devices=1",
                       "--config.cases=('style_transfer',)", "--config.strategies=('single',)",
                       "--config.pipeline_batches=0", "--config.matmul_size=64",
                       "--config.profile.num_steps=2"], timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir, proc


def test_the_dtype_axis_gives_a_row_per_dtype(profiled_run):
    workdir, proc = profiled_run
    results = json.loads((workdir / "results.json").read_text())
    assert results["config"]["dtypes"] == ["float32", "bfloat16"]
    rows = results["steps"]
    assert [(r["case"], r["strategy"], r["batch"], r["dtype"]) for r in rows] == [
        ("style_transfer", "single", 2, "float32"), ("style_transfer", "single", 2, "bfloat16")]
    for r in rows:
        assert 0 < r["step_ms_p10"] <= r["step_ms"] <= r["step_ms_p90"]
        assert r["examples_per_s"] == pytest.approx(2e3 / r["step_ms"], rel=0.01)
    # Two programs: bfloat16's has the casts float32's has not.
    assert rows[0]["gflop_per_step"] != rows[1]["gflop_per_step"]
    assert results["pipelines"] == [] and last_json_line(proc.stdout)["rows"] == 2
    md = (workdir / "results.md").read_text().splitlines()
    ratio = rows[1]["step_ms"] / rows[0]["step_ms"]
    assert any(l.startswith(f"| style_transfer | single | 2 | {rows[0]['step_ms']} | "
                            f"{rows[1]['step_ms']} | {benchmarking.ratio_words(ratio)} |")
               for l in md), md


def test_profiled_rows_leave_an_annotated_trace_each(profiled_run):
    workdir, _ = profiled_run
    rows = json.loads((workdir / "results.json").read_text())["steps"]
    for r in rows:
        name = f"style_transfer-single-b2-{r['dtype']}"
        assert r["profile"] == f"profile/{name}" and r["profiled_steps"] == [1, 2]
        traces = list((workdir / "profile" / name).rglob("perfetto_trace.json.gz"))
        assert len(traces) == 1, traces  # one trace per row
        trace = json.loads(gzip.decompress(traces[0].read_bytes()))
        events = trace["traceEvents"] if isinstance(trace, dict) else trace
        steps = [e for e in events if e.get("name") == "train_step"]
        assert len(steps) == 2  # the two traced steps, each annotated


def test_the_style_workload_computes_in_the_configured_dtype():
    """The dtype reaches the VGG19 the style step runs (through the experiment's
    problem): its convolutions take bfloat16 operands, and float32 ones in float32."""
    import re
    from experiments import benchmark
    from jaxdl.train.parallel import Strategy
    convolutions = {}
    for dtype in ("float32", "bfloat16"):
        config = benchmark.experiment_config("style_transfer", "quick", dtype)
        assert config.train.dtype == dtype
        w = benchmark.style_transfer_workload(config, Strategy("single"), 2)
        text = w.fn.lower(*w.args).as_text()
        convolutions[dtype] = re.findall(r"stablehlo.convolution.*->\s*tensor<[^>]*x(\w+)>",
                                         text)
    assert convolutions["float32"] and set(convolutions["float32"]) == {"f32"}
    assert set(convolutions["bfloat16"]) == {"bf16"}
    assert benchmark.experiment_config("style_transfer", "quick").train.dtype == "float32"


def test_a_profile_past_the_timed_steps_is_refused(tmp_path):
    proc = run_python(["-m", "experiments.benchmark", "--config",
                       "configs/benchmark.py:quick", "--workdir", str(tmp_path),
                       "--config.profile.start_step=3", "--config.profile.num_steps=2"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "profile steps 3-4 lie past the 3 timed steps" in proc.stderr


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    """The quick preset on 1 and on 2 host devices (one subprocess each)."""
    root = tmp_path_factory.mktemp("bench")
    runs = {}
    for devices in (1, 2):
        workdir = root / f"d{devices}"
        proc = run_python(["-m", "experiments.benchmark", "--config",
                           "configs/benchmark.py:quick", "--workdir", str(workdir),
                           "--no-progress", f"--config.host_devices={devices}",
                           f"--config.data_dir={root / 'tfds'}"], timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[devices] = (workdir, proc)
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("devices", [1, 2])
def test_quick_preset_writes_well_formed_results(quick_runs, devices):
    workdir, proc = quick_runs[devices]
    assert last_json_line(proc.stdout)["rows"] == 24  # 4 cases x 3 strategies x 2 dtypes
    results = json.loads((workdir / "results.json").read_text())
    env = results["environment"]
    assert env["platform"] == "cpu" and env["device_count"] == devices
    assert f"--xla_force_host_platform_device_count={devices}" in env["xla_flags"]
    assert set(env["versions"]) >= {"jax", "jaxlib", "flax"} and env["host"]["cpu_count"]
    assert results["matmul_peak"]["flops_per_second"] > 0
    rows = results["steps"]
    assert sorted((r["case"], r["strategy"], r["dtype"]) for r in rows) == sorted(
        (c, s, d) for c in CASES for s in ("single", "pmap", "shard_map")
        for d in ("float32", "bfloat16"))
    for r in rows:
        assert r["devices"] == (1 if r["strategy"] == "single" else devices)
        assert r["compile_s"] > 0 and r["examples_per_s"] > 0
        assert 0 < r["step_ms_p10"] <= r["step_ms"] <= r["step_ms_p90"]
        assert r["gflop_per_step"] > 0 and r["gflops"] > 0 and r["peak_fraction"] > 0
        assert r["program_memory_mb"] > 0 and r["device_peak_memory_mb"] is None  # CPU
    # The GRU's scan is counted once per output step, not once.
    trigger = next(r for r in rows if r["case"] == "trigger_word")
    assert trigger["flops_note"] == "loops counted x96"
    # The same work on 1 or 2 devices: FLOPs per step agree (collectives aside).
    single = {(r["case"], r["dtype"]): r["gflop_per_step"] for r in rows
              if r["strategy"] == "single"}
    for r in rows:
        assert r["gflop_per_step"] == pytest.approx(single[r["case"], r["dtype"]], rel=0.1)
        assert "profile" not in r  # profiles are off by default
    pipelines = {p["case"]: p for p in results["pipelines"]}
    assert set(pipelines) == set(CASES)
    assert "note" in pipelines["style_transfer"]
    for case in ("day_night", "face_verification", "trigger_word"):
        assert pipelines[case]["examples_per_s"] > 0 and pipelines[case]["ratio"] > 0
    md = (workdir / "results.md").read_text()
    assert "| case | strategy | devices | batch | dtype | compile s |" in md
    # 3 strategies x 2 dtypes, 3 bfloat16 / float32 ratios and its pipeline
    assert md.count("\n| trigger_word |") == 10


@pytest.mark.slow
def test_compare_lines_up_two_result_files(quick_runs):
    one, two = (str(quick_runs[d][0] / "results.json") for d in (1, 2))
    proc = run_python(["-m", "experiments.benchmark", "compare", one, two], check=True)
    lines = proc.stdout.splitlines()
    header = next(l for l in lines if l.startswith("| case"))
    assert "| cpu x1 (d1) | cpu x2 (d2) | speedup cpu x2 (d2) |" in header
    body = [l for l in lines if l.startswith("| ") and l != header]
    assert len(body) == 24 and all(l.rstrip(" |").endswith("x") for l in body)


def test_compare_refuses_what_is_not_a_results_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"hello": 1}))
    proc = run_python(["-m", "experiments.benchmark", "compare", str(bad), str(bad)])
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: not a results")
    proc = run_python(["-m", "experiments.benchmark", "compare", str(tmp_path / "no.json"),
                       str(bad)])
    assert proc.returncode == 1 and "no.json" in proc.stderr
