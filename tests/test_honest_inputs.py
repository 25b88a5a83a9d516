"""No input makes a result lie: a near-chance evaluation classifier is refused by the
stage that trains it and by the stage that measures through it, and a model folder
with non-finite weights is refused by every way in (stage, CLI, Python API)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_gan.core.config import ModelConfig
from mnist_gan.core.errors import InputFileError
from mnist_gan.data.splits import Split, save_split
from mnist_gan.evaluation.classifier import build_classifier, save_classifier
from mnist_gan.networks.gan import build_gan, save_gan
from mnist_gan.serving.generate import load_digit_generator
from tests.helpers import (
    REPO_ROOT,
    make_mirror,
    one_error_line,
    run_stage,
    synthetic_digits,
)


def _split(count: int, seed: int) -> Split:
    pixels, labels = synthetic_digits(count, seed=seed)
    return Split(pixels[..., None].astype(np.float32) / 127.5 - 1, labels)


def _params(tmp_path: Path, **classifier) -> Path:
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["classifier"].update(classifier)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_the_classifier_stage_refuses_a_diverged_classifier(tmp_path: Path) -> None:
    """Adam at learning rate 1 diverges: the stage names the accuracy and the fix and
    writes neither the model nor the metric."""
    data = tmp_path / "data"
    save_split(data, "train", _split(200, seed=1))
    save_split(data, "test", _split(100, seed=2))
    out, metrics = tmp_path / "classifier", tmp_path / "classifier.json"
    process = run_stage(
        "classifier",
        "--params", str(_params(tmp_path, learning_rate=1.0, budget_images=400)),
        "--data", str(data),
        "--out", str(out),
        "--metrics", str(metrics),
        "--live-dir", str(tmp_path / "live"),
    )  # fmt: skip
    line = one_error_line(process)
    assert "the evaluation classifier's test accuracy is" in line
    assert "below classifier.min_test_accuracy (95.00%)" in line
    assert "classifier.learning_rate" in line
    accuracy = float(line.split("test accuracy is ")[1].split("%")[0])
    assert accuracy < 50
    assert not out.exists() and not metrics.exists()


@pytest.mark.slow
def test_evaluate_refuses_to_measure_through_a_near_chance_classifier(tmp_path: Path) -> None:
    """An untrained classifier, whatever it claims: evaluate measures its accuracy on
    the test set itself and writes no metrics."""
    data = tmp_path / "data"
    test = _split(100, seed=2)
    save_split(data, "test", test)
    save_split(data, "holdout", test)
    save_classifier(build_classifier(), tmp_path / "classifier", {"test_accuracy": 1.0})
    (tmp_path / "samples").mkdir()
    np.save(tmp_path / "samples" / "samples.npy", synthetic_digits(100, seed=3)[0])
    out = tmp_path / "eval.json"
    process = run_stage(
        "evaluate",
        "--samples", str(tmp_path / "samples"),
        "--data", str(data),
        "--classifier", str(tmp_path / "classifier"),
        "--out", str(out),
        "--histogram", str(tmp_path / "histogram.csv"),
    )  # fmt: skip
    line = one_error_line(process)
    assert "classifier: the evaluation classifier's test accuracy is" in line
    assert not out.exists()


@pytest.fixture(scope="module")
def diverged_gan(tmp_path_factory) -> Path:
    """A tiny conditional GAN folder whose averaged generator's weights are NaN."""
    folder = tmp_path_factory.mktemp("diverged")
    model = ModelConfig(conditional=True, arch="dcgan", z_dim=8, g_width=4, d_width=4)
    gan = build_gan(model, ema=True)
    kernel = gan.ema_generator.model.weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    save_gan(gan, folder, {"model": model.model_dump()})
    return folder


def test_non_finite_weights_are_refused_by_the_python_api(diverged_gan: Path) -> None:
    with pytest.raises(InputFileError, match=r"generator_ema\.weights\.h5: holds \d+ non-fin"):
        load_digit_generator(diverged_gan)


@pytest.mark.slow
def test_non_finite_weights_are_refused_by_the_cli_and_the_stages(
    diverged_gan: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    out = tmp_path / "digits.png"
    generate = ("generate", "--model", str(diverged_gan), "--digits", "1,2", "--out", str(out))
    cli = subprocess.run(
        [sys.executable, "-m", "mnist_gan", *generate],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "non-finite weights (NaN or inf)" in one_error_line(cli)
    assert not out.exists()
    for stage, args in {
        "sample": ("--out", str(tmp_path / "samples"), "--params", str(_params(tmp_path))),
        "export": ("--out", str(tmp_path / "saved_model")),
    }.items():
        process = run_stage(stage, "--models", str(diverged_gan), *args)
        assert "dvc repro -f train" in one_error_line(process)
        assert not (tmp_path / args[1]).exists()


@pytest.mark.slow
def test_a_test_set_that_is_the_training_set_is_refused_before_training(tmp_path: Path) -> None:
    """By normalize, from raw files (the test files a copy of the training files), and
    by train, from prepared splits, before anything trains."""
    raw = tmp_path / "raw"
    files = make_mirror(raw, train=200, test=100)
    for kind in ("images", "labels"):
        shutil.copy(raw / files[f"train_{kind}"]["name"], raw / files[f"test_{kind}"]["name"])
    out = tmp_path / "prepared"
    line = one_error_line(run_stage("normalize", "--raw", str(raw), "--out", str(out)))
    assert "100.0% of the test images are also training images" in line
    assert not out.exists()

    data = tmp_path / "data"
    split = _split(200, seed=1)
    save_split(data, "train", split)
    save_split(data, "test", Split(split.images[:150], split.labels[:150]))
    models = tmp_path / "gan"
    process = run_stage(
        "train", "--data", str(data), "--out", str(models), "--live-dir", str(tmp_path / "live"),
        "--checkpoints", str(tmp_path / "ck"), "--classifier", str(tmp_path / "none"),
    )  # fmt: skip
    assert "100.0% of the test images are also training images" in one_error_line(process)
    assert not models.exists() and not (tmp_path / "live").exists()
