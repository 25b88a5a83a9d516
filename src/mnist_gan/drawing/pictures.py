"""Image grids: a pure array function, and a PNG writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mnist_gan.core.files import atomic_path

# Every picture enlarges 28-pixel digits this many times, nearest-neighbour, so they
# stay crisp and readable.
PICTURE_SCALE = 4


def image_grid(pixels: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """Tile uint8 [rows*cols, H, W] images into one uint8 [rows*(H+pad)+pad, ...] image.

    Image i goes to row i // cols, column i % cols; padding is black (0).
    """
    count, height, width = pixels.shape
    if count != rows * cols:
        raise ValueError(f"{count} images do not fill a {rows}x{cols} grid")
    grid = np.zeros((rows * (height + pad) + pad, cols * (width + pad) + pad), np.uint8)
    for index, image in enumerate(pixels):
        top = pad + (index // cols) * (height + pad)
        left = pad + (index % cols) * (width + pad)
        grid[top : top + height, left : left + width] = image
    return grid


def upscale(images: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of [..., H, W] images, so 28-pixel digits stay crisp."""
    return np.repeat(np.repeat(images, factor, axis=-2), factor, axis=-1)


def save_png(path: Path, image: np.ndarray) -> None:
    """Write a uint8 [H, W] grayscale image as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def save_gif(path: Path, frames: np.ndarray, frame_ms: int) -> None:
    """Write uint8 [T, H, W] grayscale frames as a looping GIF, atomically."""
    images = [Image.fromarray(frame) for frame in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0
        )
