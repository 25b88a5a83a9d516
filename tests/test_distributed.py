"""tf.distribute on CPU: mirrored over two logical devices, and multi-worker with two
processes on 127.0.0.1, each against a one-device run of the same seed and batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mnist_gan.core.config import ParamsError
from mnist_gan.core.runtime import make_strategy
from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow
SCRIPT = str(REPO_ROOT / "tests" / "distributed_run.py")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'src'}{os.pathsep}{REPO_ROOT}", **extra}


def _run(strategy: str, out: Path, devices: int = 1) -> dict[str, np.ndarray]:
    subprocess.run(
        [sys.executable, SCRIPT, strategy, str(out), str(devices)],
        env=_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return dict(np.load(out))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_close(result: dict, reference: dict) -> None:
    assert np.all(np.isfinite(result["means"]))
    np.testing.assert_allclose(result["means"], reference["means"], rtol=1e-5)
    for key in (k for k in reference if k.startswith("w")):
        # Same global batches; only the order of float additions differs.
        np.testing.assert_allclose(result[key], reference[key], atol=1e-5)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory) -> dict[str, np.ndarray]:
    return _run("one_device", tmp_path_factory.mktemp("one") / "out.npz")


def test_mirrored_over_two_cpu_devices_matches_one_device(one_device, tmp_path) -> None:
    result = _run("mirrored", tmp_path / "out.npz", devices=2)
    assert int(result["replicas"]) == 2
    _assert_close(result, one_device)


def test_two_workers_on_loopback_match_one_device(one_device, tmp_path) -> None:
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = [
        subprocess.Popen(
            [sys.executable, SCRIPT, "multi_worker", str(tmp_path / f"worker{i}.npz")],
            env=_env(
                TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr.decode()[-2000:]
    results = [dict(np.load(tmp_path / f"worker{i}.npz")) for i in range(2)]
    assert int(results[0]["replicas"]) == 2
    for result in results:
        _assert_close(result, one_device)


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ParamsError, match="needs the TF_CONFIG environment variable"):
        make_strategy("multi_worker")
