"""params.yaml as `dvc exp run -S` rewrites it: DVC's own override code (the function
`dvc exp run --set-param` calls) changes exactly the line of the value it sets."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest
import yaml
from dvc.utils.hydra import apply_overrides

from tests.helpers import REPO_ROOT


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("train.batch_size=64", ("train", "batch_size"), 64),
        ("train.g_adam.learning_rate=0.001", ("train", "g_adam", "learning_rate"), 0.001),
        ("train.penalties.r1=10", ("train", "penalties", "r1"), 10),
        (
            "data.files.train_images.md5=" + "a" * 32,
            ("data", "files", "train_images", "md5"),
            "a" * 32,
        ),
        ("data.retries=5", ("data", "retries"), 5),
    ],
)
def test_a_one_value_override_changes_one_line(
    tmp_path: Path, override: str, key: tuple, value
) -> None:
    path = tmp_path / "params.yaml"
    shutil.copy(REPO_ROOT / "params.yaml", path)
    before = path.read_text().splitlines()
    apply_overrides(path, [override])
    after = path.read_text().splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 2, "\n".join(changed)  # one line out, one line in
    loaded = yaml.safe_load(path.read_text())
    for part in key:
        loaded = loaded[part]
    assert loaded == value
