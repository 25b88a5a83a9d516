"""Atomic writes: the destination holds the old file or the new one, never a part; a
full disk is one line naming the file and the space, on a real small filesystem."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mnist_gan.core.errors import OutputError
from mnist_gan.core.files import atomic_folder, atomic_path, write_json, write_npy
from tests.helpers import run_stage
from tests.test_figures import _logged_run


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    write_json(target, {"fid": 1.0})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "fid": 1.0\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {})
    assert (tmp_path / "a.json").stat().st_mode & 0o044 == 0o044  # group and others can read


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB filesystem (tmpfs), so writes fail with the kernel's ENOSPC."""
    folder = tmp_path / "small"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs (needs root): {mounted.stderr.strip()[:100]}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_is_one_line_and_keeps_the_old_file(small_disk: Path) -> None:
    target = small_disk / "samples.npy"
    write_npy(target, np.arange(10, dtype=np.uint8))
    with pytest.raises(OutputError) as error:
        write_npy(target, np.zeros(1_000_000, np.uint8))
    message = str(error.value)
    assert "\n" not in message and len(message) < 400
    assert str(target) in message and "the disk is full" in message
    assert "about 1,000,128 bytes needed" in message and "bytes free there" in message
    np.testing.assert_array_equal(np.load(target), np.arange(10))
    assert [p.name for p in small_disk.iterdir()] == ["samples.npy"]

    full = "saved_model: cannot be written, the disk is full"
    with pytest.raises(OutputError, match=full), atomic_folder(small_disk / "saved_model") as tmp:
        (tmp / "variables.data").write_bytes(bytes(1_000_000))
    assert [p.name for p in small_disk.iterdir()] == ["samples.npy"]


def test_a_stage_that_fills_the_disk_exits_2_with_one_line(small_disk: Path, tmp_path) -> None:
    train, classifier, metrics = _logged_run(tmp_path / "run")
    process = run_stage("figures", "--train-live", str(train), "--classifier-live",
                        str(classifier), "--eval-metrics", str(metrics), "--out",
                        str(small_disk / "figures"))  # fmt: skip
    assert process.returncode == 2, process.stderr[-2000:]
    assert "Traceback" not in process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the disk is full" in errors[0], process.stderr[-2000:]
    leftovers = [p.name for p in (small_disk / "figures").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []
