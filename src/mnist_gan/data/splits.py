"""MNIST arrays: their shape and classes, scaling, splitting, and the prepared-data
folder layout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_gan.core.errors import IdxError, InputFileError, ParamsError, restore_hint
from mnist_gan.core.files import read_npy, write_npy

IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """images: float32 [N, 28, 28, 1] in [-1, 1]; labels: uint8 [N] in 0..9."""

    images: np.ndarray
    labels: np.ndarray


def to_unit_range(pixels: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] in 0..255 -> float32 [N, 28, 28, 1] in [-1, 1]."""
    return (pixels.astype(np.float32) / 127.5 - 1.0)[..., np.newaxis]


def to_pixels(images: np.ndarray) -> np.ndarray:
    """float [N, 28, 28, 1] in [-1, 1] (clipped) -> uint8 [N, 28, 28] in 0..255."""
    scaled = np.rint((np.clip(images, -1.0, 1.0) + 1.0) * 127.5)
    return scaled.astype(np.uint8).reshape(images.shape[0], *IMAGE_SHAPE[:2])


def check_pixels(pixels: np.ndarray, source: str) -> np.ndarray:
    """Return `pixels` if it is uint8 [N, 28, 28]; raise IdxError naming `source` if not."""
    if pixels.dtype != np.uint8 or pixels.shape[1:] != IMAGE_SHAPE[:2]:
        raise IdxError(f"{source} must hold uint8 [N, 28, 28], got {pixels.dtype} {pixels.shape}")
    return pixels


# Official MNIST shares no image between its training and test files; a few shared
# images can be chance, a larger share means the test set is being trained on.
MAX_SHARED_FRACTION = 0.01


def shared_fraction(train: np.ndarray, test: np.ndarray) -> float:
    """Fraction of `test` images ([M, ...], any dtype) that appear exactly in `train`
    ([N, ...], same dtype and shape per image), in [0, 1]."""
    seen = {image.tobytes() for image in train}
    return sum(image.tobytes() in seen for image in test) / max(1, len(test))


def check_disjoint(train: np.ndarray, test: np.ndarray, source: str) -> None:
    """InputFileError unless at most MAX_SHARED_FRACTION of the test images are also
    training images: scores against a test set the model trained on are meaningless."""
    shared = shared_fraction(train, test)
    if shared > MAX_SHARED_FRACTION:
        raise InputFileError(
            f"{source}: {shared:.1%} of the test images are also training images (at most "
            f"{MAX_SHARED_FRACTION:.0%} allowed); data.files must name MNIST's training "
            "and test files, not the same data twice"
        )


def split_holdout(pixels: np.ndarray, labels: np.ndarray, holdout: int) -> tuple[Split, Split]:
    """Scale, and hold the last `holdout` examples out as a separate split."""
    if not 0 <= holdout < len(pixels):
        raise ParamsError(
            f"normalize.holdout = {holdout} must be below the {len(pixels)} training "
            "images available; lower it"
        )
    cut = len(pixels) - holdout
    images = to_unit_range(pixels)
    return Split(images[:cut], labels[:cut]), Split(images[cut:], labels[cut:])


def save_split(folder: Path, name: str, split: Split) -> None:
    """Write `<name>_images.npy` and `<name>_labels.npy` atomically.

    Plain .npy rather than .npz: a zip archive stamps the write time into its bytes,
    which would make every rerun's output differ.
    """
    write_npy(Path(folder) / f"{name}_images.npy", split.images)
    write_npy(Path(folder) / f"{name}_labels.npy", split.labels)


def load_split(folder: Path, name: str) -> Split:
    """Read a split written by `save_split`, checked to be one: images float32
    [N, 28, 28, 1] in [-1, 1], labels [N] of integers in 0..9. InputFileError naming
    the file and the fix otherwise (a float64 array in 0..255 would train silently)."""
    fix = restore_hint(folder, "normalize")
    images_path, labels_path = (
        Path(folder) / f"{name}_images.npy",
        Path(folder) / f"{name}_labels.npy",
    )
    images, labels = read_npy(images_path, fix), read_npy(labels_path, fix)
    if images.dtype != np.float32 or images.shape[1:] != IMAGE_SHAPE:
        raise InputFileError(
            f"{images_path}: {images.dtype} {list(images.shape)}, expected float32 "
            f"[N, 28, 28, 1]; {fix}"
        )
    if not np.all(np.isfinite(images)):
        raise InputFileError(f"{images_path}: holds NaN or infinite values; {fix}")
    if images.size and not -1 <= images.min() <= images.max() <= 1:
        raise InputFileError(
            f"{images_path}: values in [{images.min():.4g}, {images.max():.4g}], "
            f"expected [-1, 1]; {fix}"
        )
    integer = np.issubdtype(labels.dtype, np.integer)
    if not integer or labels.shape != images.shape[:1]:
        raise InputFileError(
            f"{labels_path}: {labels.dtype} {list(labels.shape)}, expected integers "
            f"[{len(images)}] (one per image); {fix}"
        )
    if labels.size and not 0 <= labels.min() <= labels.max() < NUM_CLASSES:
        raise InputFileError(
            f"{labels_path}: labels in [{labels.min()}, {labels.max()}], expected 0..9; {fix}"
        )
    return Split(images, labels)
