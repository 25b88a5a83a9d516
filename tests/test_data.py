"""Scaling, splitting and storing the prepared arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist_gan.core.config import ParamsError
from mnist_gan.data.idx import IdxError
from mnist_gan.data.splits import (
    Split,
    check_pixels,
    load_split,
    save_split,
    split_holdout,
    to_pixels,
    to_unit_range,
)


def test_scaling_maps_0_255_onto_minus1_plus1_with_a_channel_axis() -> None:
    pixels = np.array([[[0, 255], [127, 128]]], np.uint8).repeat(14, 1).repeat(14, 2)
    images = to_unit_range(pixels)
    assert images.shape == (1, 28, 28, 1)
    assert images.dtype == np.float32
    assert images.min() == -1.0
    assert images.max() == 1.0


def test_pixels_round_trip_exactly_and_out_of_range_values_clip() -> None:
    pixels = np.arange(256, dtype=np.uint8).repeat(4)[: 28 * 28].reshape(1, 28, 28)
    np.testing.assert_array_equal(to_pixels(to_unit_range(pixels)), pixels)
    extremes = to_pixels(np.full((2, 28, 28, 1), [[[[-3.0]]], [[[2.0]]]], np.float32))
    assert extremes[0].max() == 0
    assert extremes[1].min() == 255


def test_holdout_is_the_last_images_and_never_overlaps_train() -> None:
    pixels = np.arange(10, dtype=np.uint8)[:, None, None].repeat(28, 1).repeat(28, 2)
    labels = np.arange(10, dtype=np.uint8)
    train, holdout = split_holdout(pixels, labels, 3)
    assert train.labels.tolist() == list(range(7))
    assert holdout.labels.tolist() == [7, 8, 9]
    assert train.images.shape == (7, 28, 28, 1)


def test_a_holdout_as_large_as_the_data_is_a_params_error() -> None:
    with pytest.raises(ParamsError, match=r"normalize.holdout = 5 must be below the 5"):
        split_holdout(np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.uint8), 5)


def test_splits_round_trip_through_npy_files(tmp_path: Path) -> None:
    split = Split(
        np.linspace(-1, 1, 2 * 784, dtype=np.float32).reshape(2, 28, 28, 1),
        np.array([3, 4], np.uint8),
    )
    save_split(tmp_path, "train", split)
    loaded = load_split(tmp_path, "train")
    np.testing.assert_array_equal(loaded.images, split.images)
    np.testing.assert_array_equal(loaded.labels, split.labels)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_images.npy", "train_labels.npy"]


def test_sample_arrays_of_the_wrong_type_or_shape_are_refused() -> None:
    check_pixels(np.zeros((3, 28, 28), np.uint8), "ok.npy")
    with pytest.raises(IdxError, match=r"bad.npy must hold uint8 \[N, 28, 28\], got float32"):
        check_pixels(np.zeros((3, 28, 28), np.float32), "bad.npy")
    with pytest.raises(IdxError, match="got uint8"):
        check_pixels(np.zeros((3, 32, 32), np.uint8), "bad.npy")
