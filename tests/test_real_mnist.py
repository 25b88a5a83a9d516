"""The download and normalize stages on the real MNIST files of ../shared/mnist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_gan.data.splits import load_split
from tests.helpers import REPO_ROOT, SHARED_MNIST, run_stage

# The shared mirror's training files are the first 22,699 official images (its README).
SUBSET_MD5 = {
    "train_images": "40ff26af7c5fba9044e0521f5f6ac1ba",
    "train_labels": "43efe7cc42510bbdb32cb584b316af2b",
}

pytestmark = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/mnist is not here")


def test_shared_mirror_downloads_verified_and_normalizes(tmp_path: Path) -> None:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["data"]["mirrors"] = [str(SHARED_MNIST)]
    for key, md5 in SUBSET_MD5.items():
        params["data"]["files"][key]["md5"] = md5
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"

    download = run_stage(
        "download", "--params", str(params_path), "--out", str(raw), "--no-progress"
    )
    assert download.returncode == 0, download.stderr
    normalize = run_stage(
        "normalize", "--params", str(params_path), "--raw", str(raw), "--out", str(prepared)
    )
    assert normalize.returncode == 0, normalize.stderr

    holdout = params["normalize"]["holdout"]
    train, kept, test = (load_split(prepared, name) for name in ("train", "holdout", "test"))
    assert (len(train.labels), len(kept.labels), len(test.labels)) == (
        22699 - holdout,
        holdout,
        10000,
    )
    for split in (train, kept, test):
        assert split.images.dtype == np.float32
        assert split.images.shape[1:] == (28, 28, 1)
        assert split.images.min() == -1.0 and split.images.max() == 1.0
        assert set(np.unique(split.labels)) == set(range(10))
    assert test.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the official test set's first labels
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9]  # and the training set's


def test_official_checksums_reject_the_subset_with_a_clear_error(tmp_path: Path) -> None:
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    params["data"]["mirrors"] = [str(SHARED_MNIST)]
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params))
    raw = tmp_path / "raw"
    download = run_stage(
        "download", "--params", str(params_path), "--out", str(raw), "--no-progress"
    )
    assert download.returncode == 2
    assert "could not get train-images-idx3-ubyte.gz" in download.stderr
    assert "md5 mismatch: got 40ff26af7c5fba9044e0521f5f6ac1ba" in download.stderr
    assert "train-images-idx3-ubyte.gz" not in [p.name for p in raw.iterdir()]
