"""Checkpoints: exact round trips, reproducible bytes, and resumed training that
matches uninterrupted training bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_gan import checkpoint
from mnist_gan.config import ParamsError, TrainConfig, parse_params
from mnist_gan.training import run_training
from tests.test_training import _trainer


def test_checkpoint_round_trips_exactly_and_its_bytes_depend_only_on_content(
    tmp_path: Path,
) -> None:
    state = checkpoint.Checkpoint(
        "abc",
        40,
        [np.arange(6, dtype=np.float32).reshape(2, 3), np.array(7, np.int64)],
        [np.full((3, 3), 9, np.uint8)],
        [{"step": 20, "prefix": "", "values": {"d_loss": 0.125}}, {"step": 20, "grid": 0}],
    )
    checkpoint.save(tmp_path / "a", state)
    loaded = checkpoint.load(tmp_path / "a")
    assert (loaded.fingerprint, loaded.step, loaded.history) == ("abc", 40, state.history)
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


def test_fingerprint_changes_with_config_and_data() -> None:
    images = np.zeros((4, 28, 28, 1), np.float32)
    base = checkpoint.fingerprint({"train": {"steps": 10}}, images)
    assert base == checkpoint.fingerprint({"train": {"steps": 10}}, images.copy())
    assert base != checkpoint.fingerprint({"train": {"steps": 11}}, images)
    assert base != checkpoint.fingerprint({"train": {"steps": 10}}, images + 1)


def test_training_resumed_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    config = TrainConfig(batch_size=8, steps=20, log_every=5, sample_every=5, steps_per_call=5)
    uninterrupted = _trainer(seed=1)
    run_training(uninterrupted, config, lambda s, m: None)

    first_half = _trainer(seed=1)
    run_training(first_half, TrainConfig(**{**config.model_dump(), "steps": 10}), lambda s, m: None)
    checkpoint.save(tmp_path, checkpoint.Checkpoint("id", 10, first_half.state()))

    resumed = _trainer(seed=99)  # different initial weights and RNG: all must be restored
    resumed.restore(checkpoint.load(tmp_path).variables)
    run_training(resumed, config, lambda s, m: None, start=10)
    for a, b in zip(uninterrupted.state(), resumed.state(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_restoring_a_checkpoint_of_another_model_is_refused() -> None:
    trainer = _trainer()
    with pytest.raises(ValueError, match="checkpoint holds 1 arrays"):
        trainer.restore([np.zeros(3)])


def test_checkpoint_period_must_be_a_multiple_of_the_log_period(raw: dict) -> None:
    raw["train"].update(checkpoint_every=1500, log_every=1000)
    with pytest.raises(ParamsError, match="checkpoint_every = 1500 must be a multiple of"):
        parse_params(raw)
