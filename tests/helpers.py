"""Test helpers: paths, running a stage script, and tiny MNIST-format data made here."""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from mnist_gan.data.idx import encode_idx

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO_ROOT.parent / "shared" / "mnist"
FILE_KEYS = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def synthetic_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [count, 28, 28] images and labels: class k is a bright 6x6 block at a
    position that depends on k, over faint noise, so a classifier can learn it."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    pixels = rng.integers(0, 40, (count, 28, 28)).astype(np.uint8)
    for index, label in enumerate(labels):
        top, left = 3 + 5 * (label // 4), 3 + 7 * (label % 4)
        pixels[index, top : top + 6, left : left + 6] = 250
    return pixels, labels


def write_gz_idx(path: Path, array: np.ndarray) -> str:
    """Write `array` as a gzip IDX file; returns its md5."""
    data = gzip.compress(encode_idx(array), mtime=0)
    path.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def make_mirror(folder: Path, train: int = 300, test: int = 100) -> dict[str, dict[str, str]]:
    """Fill `folder` with the four MNIST files (synthetic); returns params' data.files."""
    folder.mkdir(parents=True, exist_ok=True)
    train_pixels, train_labels = synthetic_digits(train, seed=1)
    test_pixels, test_labels = synthetic_digits(test, seed=2)
    arrays = {
        "train_images": train_pixels,
        "train_labels": train_labels,
        "test_images": test_pixels,
        "test_labels": test_labels,
    }
    return {
        key: {"name": FILE_KEYS[key], "md5": write_gz_idx(folder / FILE_KEYS[key], arrays[key])}
        for key in FILE_KEYS
    }


def run_stage(
    name: str, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `stages/<name>.py` as a real process from the repo root, as dvc does (no
    PYTHONPATH: the stage finds its own src/), with `env` added to the environment."""
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, f"stages/{name}.py", *args],
        cwd=REPO_ROOT,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(process: subprocess.CompletedProcess) -> str:
    """The one `error:` line of a stage or CLI process that refused its input: exit
    code 2, no traceback, exactly one such line."""
    assert process.returncode == 2, process.stderr[-2000:]
    assert "Traceback" not in process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, process.stderr[-2000:]
    return errors[0]
