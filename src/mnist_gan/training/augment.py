"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): the same kind of random
transform applied to real and generated images before the discriminator sees them,
in D's updates and G's, so D cannot memorize a small training set and the generator
still learns the untransformed distribution (every transform is differentiable, so
G's gradient flows back through it).

Each augmentation is `apply(images, u) -> images` on images float32 [B, 28, 28, 1] in
[-1, 1] with `u` float32 [B, k] uniform in [0, 1) (its random numbers, drawn by the
trainer from its one seeded stream, so runs and resumes stay reproducible), and one
`AUGMENTATIONS` entry with its k. `train.augment` lists the names to apply, in order;
the paper's policy for small data is color (here brightness and contrast: MNIST has
no saturation), translation and cutout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

SIDE = 28
BACKGROUND = -1.0  # black in [-1, 1]: what a shift uncovers and a cutout leaves
TRANSLATION_PIXELS = 4  # up to 1/8 of the side each way, the paper's ratio
CUTOUT_SIDE = 14  # half the side, the paper's ratio


def brightness(images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Add one offset in [-0.5, 0.5) per image."""
    return images + (u[:, 0] - 0.5)[:, None, None, None]


def contrast(images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Scale each image's deviations from its mean by a factor in [0.5, 1.5)."""
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return mean + (images - mean) * (u[:, 0] + 0.5)[:, None, None, None]


def _shift_offsets(u: tf.Tensor) -> tf.Tensor:
    """int32 [B] in -TRANSLATION_PIXELS..TRANSLATION_PIXELS from u in [0, 1)."""
    span = 2 * TRANSLATION_PIXELS + 1
    return tf.minimum(tf.cast(tf.floor(u * span), tf.int32), span - 1) - TRANSLATION_PIXELS


def translation(images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Shift each image by whole pixels, up to TRANSLATION_PIXELS down/up (u[:, 0]) and
    right/left (u[:, 1]), filling what is uncovered with the background."""
    pad = TRANSLATION_PIXELS
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], constant_values=BACKGROUND)
    # Output pixel i of an image shifted by d is input pixel i - d, padded index i - d + pad.
    base = tf.range(SIDE)[None, :] + pad
    rows = base - _shift_offsets(u[:, 0])[:, None]  # [B, 28]
    cols = base - _shift_offsets(u[:, 1])[:, None]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, 28, 28 + 2 pad, 1]
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def cutout(images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Set a CUTOUT_SIDE square (clipped at the border) centred at a random pixel
    (u[:, 0] the row, u[:, 1] the column) to the background."""
    centre = tf.minimum(tf.cast(tf.floor(u * SIDE), tf.int32), SIDE - 1)  # [B, 2]
    grid = tf.range(SIDE)[None, :]
    half = CUTOUT_SIDE // 2
    inside_rows = tf.abs(grid - centre[:, 0:1]) < half  # [B, 28]
    inside_cols = tf.abs(grid - centre[:, 1:2]) < half
    mask = tf.cast(inside_rows[:, :, None] & inside_cols[:, None, :], images.dtype)
    mask = mask[..., None]  # [B, 28, 28, 1]
    return images * (1.0 - mask) + BACKGROUND * mask


class Augmentation(NamedTuple):
    apply: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    randoms: int  # k: uniform numbers per image


AUGMENTATIONS: dict[str, Augmentation] = {
    "brightness": Augmentation(brightness, 1),
    "contrast": Augmentation(contrast, 1),
    "translation": Augmentation(translation, 2),
    "cutout": Augmentation(cutout, 2),
}


def randoms_needed(names: list[str] | tuple[str, ...]) -> int:
    """Uniform numbers per image for the policy `names`."""
    return sum(AUGMENTATIONS[name].randoms for name in names)


def augment(images: tf.Tensor, names: list[str] | tuple[str, ...], u: tf.Tensor) -> tf.Tensor:
    """Apply the policy `names` in order; `u` float32 [B, randoms_needed(names)]. The
    result is cast back to the images' dtype (mixed precision)."""
    start = 0
    for name in names:
        entry = AUGMENTATIONS[name]
        part = tf.cast(u[:, start : start + entry.randoms], images.dtype)
        images = entry.apply(images, part)
        start += entry.randoms
    return images
