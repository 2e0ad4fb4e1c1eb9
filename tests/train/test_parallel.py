"""Single device, pmap and shard_map compute the same step; so do 2 processes.

Each check runs in a subprocess, where XLA_FLAGS can force N host devices before
JAX starts. Tolerances are float32 reduction-order noise, not behaviour.
"""

import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, last_json_line, run_python


# 2 devices in the fast tier; 1 and 4 (and the global objective) in the slow one.
@pytest.mark.parametrize("devices,objective", [
    pytest.param(1, "bn", marks=pytest.mark.slow), (2, "bn"),
    pytest.param(4, "bn", marks=pytest.mark.slow),
    pytest.param(4, "global", marks=pytest.mark.slow)])
def test_strategies_agree(devices, objective):
    """objective "global": a batch-level loss over all pairs, gathered across devices."""
    proc = run_python(["tests/scripts/parallel_equivalence.py", objective],
                      devices=devices, check=True)
    out = last_json_line(proc.stdout)
    assert out["devices"] == devices
    ref = np.asarray(out["params"]["single"])
    for name in ("pmap", "shard_map"):
        got = np.asarray(out["params"][name])
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=2e-6, rtol=0, err_msg=name)
        assert out["metrics"][name]["loss"] == pytest.approx(out["metrics"]["single"]["loss"],
                                                             rel=1e-5)
        assert out["eval"][name]["count"] == 5  # padding counts for nothing
        assert out["eval"][name]["loss"] == pytest.approx(out["eval"]["single"]["loss"],
                                                          rel=1e-5)
    # The run changed the parameters (a no-op step would also "agree").
    assert out["metrics"]["single"]["grad_norm"] > 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["shard_map", "pmap"])
def test_two_processes_match_one(strategy):
    port = _free_port()
    env = dict(__import__("os").environ)
    env.pop("XLA_FLAGS", None)
    env["PYTHONPATH"] = str(REPO)
    procs = [subprocess.Popen([sys.executable, "tests/scripts/multiprocess_train.py", "2",
                               str(i), str(port), strategy], cwd=REPO, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    multi = last_json_line(outs[0][0])
    single = last_json_line(run_python(["tests/scripts/multiprocess_train.py", "1", "0",
                                        "0", "single"], check=True).stdout)
    assert multi["processes"] == 2 and single["processes"] == 1
    assert multi["steps"] == single["steps"] == 8
    np.testing.assert_allclose(multi["params"], single["params"], atol=2e-6, rtol=0)
