"""Atomic writes: the destination holds the old file or the new one, never a part."""

from __future__ import annotations

from pathlib import Path

import pytest

from mnist_gan.files import atomic_path, write_json


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
