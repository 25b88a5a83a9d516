"""Every file a stage reads fails in one line that names the file and the fix: missing,
truncated, tampered, or of the wrong dtype, shape, range or labels."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnist_gan.core.config import ModelConfig
from mnist_gan.core.errors import InputFileError
from mnist_gan.core.files import read_npy
from mnist_gan.data.splits import Split, load_split, save_split
from mnist_gan.evaluation.classifier import build_classifier, load_classifier, save_classifier
from mnist_gan.networks.gan import build_gan, load_sampler, save_gan
from tests.helpers import REPO_ROOT, run_stage, synthetic_digits


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


@pytest.mark.slow
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("tf_config", "expected"),
    [
        ("{not json", "TF_CONFIG is not JSON"),
        ("[1, 2]", "TF_CONFIG is not a JSON object"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "TF_CONFIG has no task"),
        (
            '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
            "task index 3",
        ),
        ('{"cluster": {"worker": "localhost:1"}, "task": {}}', "cluster.worker"),
    ],
)
@pytest.mark.slow
def test_a_malformed_tf_config_is_one_line_before_any_work(
    tmp_path: Path, tf_config: str, expected: str
) -> None:
    """The train stage as a real process: the strategy is built first, so a bad
    TF_CONFIG stops it there, in one line naming the variable and the fix."""
    process = run_stage(
        "train", "--data", str(tmp_path / "nonexistent"), env={"TF_CONFIG": tf_config}
    )
    assert process.returncode == 2, process.stderr[-2000:]
    error_lines = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in process.stderr, process.stderr
    assert expected in error_lines[0]
    assert "unset TF_CONFIG" in error_lines[0]


def _train_with_tf_config(tmp_path: Path, tf_config: dict, **train: object):
    """The train stage with `train` params set, a missing data folder and `tf_config`
    as TF_CONFIG."""
    raw = yaml.safe_load((REPO_ROOT / "params.yaml").read_text())
    raw["train"].update(train)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    return run_stage(
        "train",
        "--params",
        str(params),
        "--data",
        str(tmp_path / "nonexistent"),
        env={"TF_CONFIG": json.dumps(tf_config)},
        timeout=120,
    )


@pytest.mark.slow
def test_a_tf_config_ignored_by_a_one_machine_strategy_is_said(tmp_path: Path) -> None:
    tf_config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}
    tf_config["task"] = {"type": "worker", "index": 0}
    process = _train_with_tf_config(tmp_path, tf_config, strategy="one_device")
    assert process.returncode == 2, process.stderr[-2000:]  # the missing data
    assert "TF_CONFIG is set but ignored: train.strategy = one_device" in process.stderr


@pytest.mark.slow
def test_a_multi_worker_run_says_whom_it_waits_for_and_gives_up_in_time(
    tmp_path: Path,
) -> None:
    """train.strategy auto with a two-worker TF_CONFIG whose other worker never comes:
    the stage says whom it waits for, and how long, then stops in one line when
    train.cluster_wait_seconds have passed (TensorFlow alone would wait an hour)."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    tf_config = {"cluster": cluster, "task": {"type": "worker", "index": 0}}
    process = _train_with_tf_config(tmp_path, tf_config, cluster_wait_seconds=5)
    waiting = [line for line in process.stderr.splitlines() if line.startswith("TF_CONFIG:")]
    assert len(waiting) == 1, process.stderr[-2000:]
    assert "worker 0 of 2" in waiting[0] and cluster["worker"][1] in waiting[0]
    assert "waiting up to 5 s" in waiting[0]
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    errors = [line for line in process.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in process.stderr, process.stderr[-2000:]
    error = errors[0]
    assert "did not all connect within 5 s" in error
    assert "train.cluster_wait_seconds" in error
