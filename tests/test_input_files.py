"""Every file a stage reads fails in one line that names the file and the fix: missing,
truncated, tampered, or of the wrong dtype, shape, range or labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_gan.core.config import ModelConfig
from mnist_gan.core.errors import InputFileError
from mnist_gan.core.files import read_npy
from mnist_gan.data.splits import Split, load_split, save_split
from mnist_gan.evaluation.classifier import build_classifier, load_classifier, save_classifier
from mnist_gan.networks.gan import build_gan, load_sampler, save_gan
from tests.helpers import run_stage, synthetic_digits


def _one_line(error: pytest.ExceptionInfo, *parts: str) -> str:
    message = str(error.value)
    assert "\n" not in message and len(message) < 600, message
    for part in parts:
        assert part in message, message
    return message


def _split(count: int = 8) -> Split:
    pixels, labels = synthetic_digits(count, seed=0)
    return Split(pixels[..., None] / np.float32(127.5) - 1, labels)


@pytest.mark.parametrize(
    ("images", "labels", "expected"),
    [
        (lambda s: s.images.astype(np.float64), None, "float64 [8, 28, 28, 1], expected float32"),
        (lambda s: (s.images + 1) * 1000, None, "values in [0, 1961], expected [-1, 1]"),
        (lambda s: s.images[..., 0], None, "expected float32 [N, 28, 28, 1]"),
        (lambda s: np.full_like(s.images, np.nan), None, "holds NaN or infinite values"),
        (None, lambda s: s.labels[:5], "expected integers [8] (one per image)"),
        (None, lambda s: s.labels.astype(np.float32), "float32 [8], expected integers"),
        (None, lambda s: s.labels + 10, "labels in [10, 18], expected 0..9"),
    ],
)
def test_prepared_arrays_that_are_not_a_split_are_refused(
    tmp_path: Path, images, labels, expected
) -> None:
    split = _split()
    bad = Split(
        images(split) if images else split.images, labels(split) if labels else split.labels
    )
    save_split(tmp_path, "train", bad)
    with pytest.raises(InputFileError) as error:
        load_split(tmp_path, "train")
    _one_line(error, str(tmp_path), expected, "dvc repro -f normalize")


def test_a_missing_or_truncated_array_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as error:
        load_split(tmp_path / "nonexistent", "train")
    _one_line(error, "nonexistent/train_images.npy: cannot be read", "dvc checkout")
    save_split(tmp_path, "test", _split())
    path = tmp_path / "test_images.npy"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputFileError) as error:
        load_split(tmp_path, "test")
    _one_line(error, "test_images.npy: cannot be read")
    path.write_bytes(b"\x80\x04pickle")  # nothing is ever unpickled
    with pytest.raises(InputFileError):
        read_npy(path)


@pytest.mark.parametrize("damage", [b"", b"not an h5 file", None])
def test_missing_or_damaged_classifier_weights_name_the_file(tmp_path: Path, damage) -> None:
    save_classifier(build_classifier(), tmp_path, {})
    weights = tmp_path / "classifier.weights.h5"
    if damage is None:
        weights.unlink()
    else:
        weights.write_bytes(damage)
    with pytest.raises(InputFileError) as error:
        load_classifier(tmp_path)
    _one_line(error, "classifier.weights.h5: cannot be read", "dvc repro -f classifier")


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("gan.json", "{not json", "gan.json: cannot be read (JSONDecodeError"),
        ("gan.json", '{"model": {"arch": "resnet"}}', "model.arch = 'resnet': unknown"),
        ("gan.json", '{"model": {"z_dim": -1}}', "gan.json: cannot be read (ValidationError"),
        ("gan.json", "[]", "gan.json: cannot be read (TypeError"),
        ("generator.weights.h5", "truncated", "generator.weights.h5: cannot be read"),
    ],
)
def test_a_tampered_or_damaged_gan_folder_names_the_file(
    tmp_path: Path, file: str, content: str, expected: str
) -> None:
    model = ModelConfig(arch="mlp", conditional=False, z_dim=4, hidden_units=8)
    save_gan(build_gan(model), tmp_path, {"model": model.model_dump()})
    (tmp_path / file).write_text(content)
    with pytest.raises(InputFileError) as error:
        load_sampler(tmp_path)
    _one_line(error, expected, "dvc repro -f train")


def test_stages_report_a_bad_input_in_one_line_and_exit_2(tmp_path: Path) -> None:
    """As real processes: a missing data folder (train) and prepared arrays of another
    dtype and range (classifier, which would otherwise train on them)."""
    process = run_stage("train", "--data", str(tmp_path / "nonexistent"))
    assert process.returncode == 2, process.stderr
    error_lines = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in process.stderr
    assert "nonexistent/train_images.npy: cannot be read" in error_lines[0]

    split = _split()
    save_split(tmp_path, "train", Split((split.images + 1) * 127.5, split.labels))
    save_split(tmp_path, "test", split)
    out = tmp_path / "classifier"
    process = run_stage("classifier", "--data", str(tmp_path), "--out", str(out))
    assert process.returncode == 2, process.stderr
    assert "train_images.npy: values in [0, 250], expected [-1, 1]" in process.stderr
    assert "Traceback" not in process.stderr
    assert not out.exists()
