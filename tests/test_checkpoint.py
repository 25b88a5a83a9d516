"""Checkpoints: exact round trips, reproducible bytes, a run identity that covers
params, data, code and libraries, damage reported in one line, and a restored trainer
that continues bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_gan.core.config import ModelConfig, ParamsError, parse_params
from mnist_gan.core.errors import CheckpointError
from mnist_gan.training import checkpoint
from mnist_gan.training.checkpoint import Logged, Sampled
from tests.test_training import _trainer

IDENTITY = {"params": "p", "data": "d", "code": "c", "libraries": "tensorflow 1"}


def _state() -> checkpoint.Checkpoint:
    return checkpoint.Checkpoint(
        IDENTITY,
        40,
        [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(7, np.int64)],
        [np.full((3, 3), 9, np.uint8)],
        [Logged(20, {"d_loss": 0.125}), Sampled(20, 0), Logged(20, {"fid": 3.0}, "eval/")],
    )


def test_checkpoint_round_trips_exactly_and_its_bytes_depend_only_on_content(
    tmp_path: Path,
) -> None:
    state = _state()
    checkpoint.save(tmp_path / "a", state)
    loaded = checkpoint.load(tmp_path / "a")
    assert (loaded.identity, loaded.step, loaded.history) == (IDENTITY, 40, state.history)
    for got, expected in zip(
        loaded.variables + loaded.grids, state.variables + state.grids, strict=True
    ):
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == expected.dtype
    assert loaded.last_logged() == {"d_loss": 0.125}
    checkpoint.save(tmp_path / "b", state)
    assert (tmp_path / "a" / "checkpoint.npz").read_bytes() == (
        tmp_path / "b" / "checkpoint.npz"
    ).read_bytes()
    assert checkpoint.load(tmp_path / "missing") is None


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"not a zip at all",  # overwritten
        lambda data: b"",  # emptied
        lambda data: data.replace(b'"step"', b'"stop"'),  # a header without its step
    ],
)
def test_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path: Path, damage) -> None:
    checkpoint.save(tmp_path, _state())
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError) as caught:
        checkpoint.load(tmp_path)
    message = str(caught.value)
    assert str(path) in message and "unreadable or damaged" in message
    assert "\n" not in message and len(message) < 400


def test_run_identity_changes_with_params_data_labels_code_and_probe() -> None:
    images, labels = np.zeros((4, 28, 28, 1), np.float32), np.arange(4, dtype=np.uint8)
    base = checkpoint.run_identity({"train": {"steps": 10}}, images, labels, "code-a")
    assert base == checkpoint.run_identity(
        {"train": {"steps": 10}}, images.copy(), labels, "code-a"
    )
    assert "tensorflow" in base["libraries"] and "keras" in base["libraries"]
    variants = {
        "other params": checkpoint.run_identity({"train": {"steps": 11}}, images, labels, "code-a"),
        "other training data": checkpoint.run_identity(
            {"train": {"steps": 10}}, images, labels[::-1].copy(), "code-a"
        ),
        "other project code": checkpoint.run_identity(
            {"train": {"steps": 10}}, images, labels, "code-b"
        ),
        "another classifier or reference set for the quality probe": checkpoint.run_identity(
            {"train": {"steps": 10}}, images, labels, "code-a", (b"other weights",)
        ),
    }
    assert checkpoint.mismatch(base, base) is None
    for reason, identity in variants.items():
        assert checkpoint.mismatch(identity, base) == reason
    older = {**base, "libraries": "tensorflow 2.0.0, keras 3.0.0, numpy 1.0.0"}
    assert checkpoint.mismatch(older, base) == (
        "other library versions (tensorflow 2.0.0, keras 3.0.0, numpy 1.0.0)"
    )
    assert len(checkpoint.mismatch({}, base).split(", ")) == 5  # an identity of another format


# Resuming also continues what depends on the optimizers' update counters: the
# learning-rate schedule and which D updates carry a lazy penalty (every 3rd, so
# updates 9 and 12 straddle the resume at 10).
COUNTED = {
    "model": ModelConfig(arch="dcgan", z_dim=8, g_width=4, d_width=4, d_minibatch_std=4),
    "steps": 20,
    "lr_schedule": "linear",
    "penalties": {"r1": 1.0},
    "penalty_every": 3,
}


@pytest.mark.parametrize("train", [{}, COUNTED], ids=["default", "schedule-lazy-r1-mbstd"])
@pytest.mark.slow
def test_a_restored_trainer_continues_like_an_uninterrupted_one(
    tmp_path: Path, train: dict
) -> None:
    uninterrupted = _trainer(seed=1, **train)
    for _ in range(4):
        uninterrupted.train(5)

    first_half = _trainer(seed=1, **train)
    first_half.train(5)
    first_half.train(5)
    checkpoint.save(
        tmp_path, checkpoint.Checkpoint(IDENTITY, 10, checkpoint.trainer_state(first_half))
    )

    resumed = _trainer(seed=99, **train)  # other initial weights and RNG: all must be restored
    checkpoint.restore_trainer(resumed, checkpoint.load(tmp_path).variables)
    resumed.train(5)
    resumed.train(5)
    for a, b in zip(
        checkpoint.trainer_state(uninterrupted), checkpoint.trainer_state(resumed), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_restoring_arrays_that_do_not_fit_is_refused_before_anything_changes() -> None:
    trainer = _trainer()
    before = checkpoint.trainer_state(trainer)
    with pytest.raises(ValueError, match="checkpoint holds 1 arrays"):
        checkpoint.restore_trainer(trainer, [np.zeros(3)])
    wrong_shape = [*before[:-1], np.zeros(7, np.int64)]  # the RNG state, last, is [3]
    wrong_shape[0] = before[0] + 1  # would change if assigned before the check
    with pytest.raises(ValueError, match="checkpoint array"):
        checkpoint.restore_trainer(trainer, wrong_shape)
    for a, b in zip(before, checkpoint.trainer_state(trainer), strict=True):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_period_must_be_a_multiple_of_the_log_period(raw: dict) -> None:
    raw["train"].update(checkpoint_every=1500, log_every=1000)
    with pytest.raises(ParamsError, match="checkpoint_every = 1500 must be a multiple of"):
        parse_params(raw)
