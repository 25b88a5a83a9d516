"""`cpu.portable`: a stage gives the same bytes under other instruction-set caps and
core counts (standing in for another x86-64 CPU), where without it they differ."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_gan.data.splits import Split, save_split
from tests.helpers import REPO_ROOT, synthetic_digits

HAS_AVX2 = "avx2" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False
pytestmark = pytest.mark.skipif(not HAS_AVX2, reason="needs an x86-64 CPU with AVX2")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("prepared")
    for split, count, seed in (("train", 400, 0), ("test", 100, 1)):
        pixels, labels = synthetic_digits(count, seed)
        save_split(folder, split, Split(pixels[..., None] / np.float32(127.5) - 1, labels))
    return folder


def _classifier_bytes(
    tmp_path: Path, data: Path, portable: bool, isa: str | None, cores: int
) -> bytes:
    """Train the classifier stage (2 epochs) in a process whose environment caps oneDNN
    at `isa` (None: the CPU's best) and whose CPU affinity allows `cores` cores; returns
    its weights' bytes."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["cpu"]["portable"] = portable
    raw["classifier"]["budget_images"] = 800
    raw["classifier"]["min_test_accuracy"] = 0.0  # only its bytes matter here
    run = tmp_path / f"{portable}-{isa}-{cores}"
    run.mkdir()
    (run / "params.yaml").write_text(yaml.safe_dump(raw))
    unset = ("PYTHONPATH", "XLA_FLAGS", "ONEDNN_MAX_CPU_ISA")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    allowed = sorted(os.sched_getaffinity(0))[:cores]
    process = subprocess.run(
        [sys.executable, "stages/classifier.py", "--params", str(run / "params.yaml"),
         "--data", str(data), "--out", str(run / "model"), "--metrics",
         str(run / "metrics.json"), "--live-dir", str(run / "live")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
        preexec_fn=lambda: os.sched_setaffinity(0, allowed),
    )  # fmt: skip
    assert process.returncode == 0, process.stderr[-3000:]
    return (run / "model" / "classifier.weights.h5").read_bytes()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
@pytest.mark.slow
def test_portable_gives_the_same_bytes_under_other_isa_caps_and_core_counts(
    tmp_path: Path, data: Path
) -> None:
    wide = _classifier_bytes(tmp_path, data, portable=True, isa=None, cores=2)
    narrow = _classifier_bytes(tmp_path, data, portable=True, isa="SSE41", cores=1)
    assert wide == narrow


@pytest.mark.slow
def test_without_portable_the_instruction_set_changes_the_bytes(tmp_path: Path, data: Path) -> None:
    """The reason for the setting, and proof this test can tell bytes apart."""
    avx2 = _classifier_bytes(tmp_path, data, portable=False, isa="AVX2", cores=2)
    sse41 = _classifier_bytes(tmp_path, data, portable=False, isa="SSE41", cores=2)
    assert avx2 != sse41
