"""Drawing from a generator: seeded latents, latent walks, images as pixels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_gan.data.splits import NUM_CLASSES, to_pixels


def fixed_latents(seed: int, count: int, z_dim: int) -> np.ndarray:
    """float32 [count, z_dim] ~ N(0, 1), the same for the same seed on every machine."""
    return np.random.default_rng(seed).standard_normal((count, z_dim)).astype(np.float32)


def slerp(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """float64 [R, steps, z_dim]: for each row of start and end [R, z_dim], `steps`
    points on the spherical path between them, ends included. Slerp keeps the points at
    the norm a Gaussian latent typically has, where a straight line would cut through
    the low-density middle. Where the two ends are (nearly) parallel or opposite, as
    they always are for z_dim 1, the great circle is undefined and the row is the
    straight line between them."""
    cos = np.sum(start * end, axis=1) / (
        np.linalg.norm(start, axis=1) * np.linalg.norm(end, axis=1)
    )
    omega = np.arccos(np.clip(cos, -1.0, 1.0))[:, None, None]  # [R, 1, 1]
    t = np.linspace(0.0, 1.0, steps)[None, :, None]  # [1, steps, 1]
    line = (1 - t) * start[:, None] + t * end[:, None]
    degenerate = np.sin(omega) < 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):  # the rows np.where drops
        arc = (
            np.sin((1 - t) * omega) * start[:, None] + np.sin(t * omega) * end[:, None]
        ) / np.sin(omega)
    return np.where(degenerate, line, arc)


def interpolation_latents(seed: int, rows: int, steps: int, z_dim: int) -> np.ndarray:
    """float32 [rows * steps, z_dim]: for each row, `steps` points on the spherical
    path (`slerp`) between two seeded latents, ends included."""
    ends = fixed_latents(seed, 2 * rows, z_dim).astype(np.float64).reshape(rows, 2, z_dim)
    path = slerp(ends[:, 0], ends[:, 1], steps)
    return path.reshape(rows * steps, z_dim).astype(np.float32)


def balanced_labels(count: int) -> np.ndarray:
    """int32 [count]: the digits 0..9 in turn, so every class gets count / 10 (+-1)."""
    return (np.arange(count) % NUM_CLASSES).astype(np.int32)


def class_grid_labels(cols: int) -> np.ndarray:
    """int32 [10 * cols]: the labels of a per-class grid filled row by row, row d all
    digit d."""
    return np.repeat(np.arange(NUM_CLASSES, dtype=np.int32), cols)


def generate_pixels(
    generator: Callable, z: np.ndarray, labels: np.ndarray, batch_size: int = 1000
) -> np.ndarray:
    """Run a generator `Network` on z float32 [N, z_dim] and labels int32 [N] in 0..9
    (ignored by an unconditional one); returns uint8 [N, 28, 28] in 0..255."""
    out = []
    for i in range(0, len(z), batch_size):
        rows = slice(i, i + batch_size)
        out.append(to_pixels(np.asarray(generator(z[rows], labels[rows], training=False))))
    return np.concatenate(out) if out else np.zeros((0, 28, 28), np.uint8)
