"""The training run (training.loop.train_gan) on tiny real TensorFlow runs: its schedule, what it
logs, divergence, and which checkpoints it resumes and why."""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.data.splits import Split
from mnist_gan.evaluation.classifier import build_classifier, save_classifier
from mnist_gan.training import checkpoint
from mnist_gan.training.loop import RunFolders, TrainingRun, train_gan
from tests.helpers import synthetic_digits

MODEL = ModelConfig(arch="mlp", conditional=True, z_dim=8, hidden_units=16)
TRAIN = TrainConfig(
    batch_size=8,
    steps=12,
    log_every=4,
    sample_every=6,
    eval_every=12,
    eval_samples=20,
    checkpoint_every=8,
    steps_per_call=3,
)


def _split(count: int = 64) -> Split:
    pixels, labels = synthetic_digits(count, seed=0)
    return Split(pixels.astype(np.float32)[..., None] / 127.5 - 1, labels)


def _run(folder: Path, train: TrainConfig = TRAIN, code: str = "code", data: Split | None = None):
    data = _split() if data is None else data
    classifier = folder / "classifier"
    if not classifier.exists():
        save_classifier(build_classifier(), classifier, {})  # untrained: a fixed view
    return train_gan(
        TrainingRun(MODEL, train, code),
        data,
        _split().images[:40],  # the probe's reference, the same for every run here
        RunFolders(classifier, folder / "checkpoints", folder / "live"),
        progress=False,
    )


def _tsv_steps(path: Path) -> list[int]:
    header, *rows = path.read_text().splitlines()
    column = header.split("\t").index("step")
    return [int(row.split("\t")[column]) for row in rows]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("run")
    return folder, _run(folder)


@pytest.mark.slow
def test_a_run_logs_samples_probes_and_checkpoints_on_schedule(finished) -> None:
    folder, result = finished
    metrics = folder / "live" / "plots" / "metrics"
    assert _tsv_steps(metrics / "d_loss.tsv") == [4, 8, 12]
    assert _tsv_steps(metrics / "eval" / "fid.tsv") == [12]
    assert sorted(p.name for p in (folder / "live/plots/images/grid").iterdir()) == [
        "0000006.png",
        "0000012.png",
    ]
    assert result.grids.shape == (2, 4 * 30 + 2, 4 * 30 + 2)
    saved = checkpoint.load(folder / "checkpoints")
    assert saved.step == 12  # the last step always checkpoints
    kinds = [(type(e).__name__, e.step) for e in saved.history]
    assert kinds == [
        ("Logged", 4),
        ("Sampled", 6),
        ("Logged", 8),
        ("Logged", 12),
        ("Sampled", 12),
        ("Logged", 12),
    ]
    assert set(result.final) == {"d_loss", "g_loss", "d_accuracy"}
    assert result.final == saved.last_logged()
    summary = json.loads((folder / "live" / "metrics.json").read_text())
    assert summary["d_loss"] == pytest.approx(result.final["d_loss"])


def test_a_rerun_with_everything_equal_resumes_at_the_end_and_trains_nothing(
    finished, capsys
) -> None:
    folder, first = finished
    again = _run(folder)
    assert f"{folder / 'checkpoints'}: resuming from step 12" in capsys.readouterr().out
    np.testing.assert_array_equal(again.grids, first.grids)
    assert again.final == first.final
    for a, b in zip(
        again.gan.sampler.model.get_weights(), first.gan.sampler.model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"code": "edited"}, "other project code"),
        ({"train": TRAIN.model_copy(update={"steps": 16})}, "other params"),
        ({"data": Split(_split().images[::-1].copy(), _split().labels)}, "other training data"),
        ({}, "another classifier or reference set for the quality probe"),
    ],
)
@pytest.mark.slow
def test_a_checkpoint_of_another_run_is_not_resumed_and_says_why(
    tmp_path: Path, finished, capsys, change: dict, reason: str
) -> None:
    folder, _ = finished
    shutil.copytree(folder / "checkpoints", tmp_path / "checkpoints")
    if "quality probe" not in reason:  # else _run makes a classifier of other weights
        shutil.copytree(folder / "classifier", tmp_path / "classifier")
    _run(tmp_path, **change)
    out = capsys.readouterr().out
    assert f"checkpoint is from {reason}; starting fresh" in out
    assert "resuming" not in out
    assert checkpoint.load(tmp_path / "checkpoints").step == change.get("train", TRAIN).steps


@pytest.mark.slow
def test_a_damaged_checkpoint_is_reported_in_one_line_and_training_starts_fresh(
    tmp_path: Path, finished, capsys
) -> None:
    folder, first = finished
    saved = (folder / "checkpoints" / "checkpoint.npz").read_bytes()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "checkpoint.npz").write_bytes(saved[:1000])
    result = _run(tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if "checkpoint" in line]
    assert len(lines) == 1 and "checkpoint.npz is unreadable or damaged" in lines[0]
    assert lines[0].endswith("; starting fresh")
    np.testing.assert_array_equal(result.grids, first.grids)  # and trains the same run
    assert checkpoint.load(tmp_path / "checkpoints").step == TRAIN.steps


def test_a_nan_loss_stops_training_with_the_steps_named(tmp_path: Path) -> None:
    data = _split()
    data.images[:] = np.nan  # every real batch is NaN, so the discriminator loss is too
    with pytest.raises(FloatingPointError, match="diverged between steps 0 and 3"):
        _run(tmp_path, data=data)


@pytest.mark.slow
def test_every_logged_step_signals_the_live_views(tmp_path: Path, monkeypatch) -> None:
    """DVCLive's step-completed signal (.dvc/tmp/exps/run/DVCLIVE_STEP_COMPLETED under
    the DVC root), which the VS Code extension and Studio refresh on, is written as
    training logs and removed when the run ends; the summary keeps the last step."""
    root = tmp_path / "project"
    signal = root / ".dvc" / "tmp" / "exps" / "run" / "DVCLIVE_STEP_COMPLETED"
    monkeypatch.setenv("DVC_ROOT", str(root))
    seen: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError, ValueError):
                seen.add(json.loads(signal.read_text())["step"])
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        _run(tmp_path, TRAIN.model_copy(update={"steps": 120, "log_every": 4}))
    finally:
        done.set()
        watcher.join()
    assert seen and seen <= set(range(4, 121, 2)), seen
    assert not signal.exists()
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert summary["step"] == 120
