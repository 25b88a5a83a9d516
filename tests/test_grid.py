"""Sample grids: where each image lands, and the PNG on disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_gan.drawing.pictures import image_grid, save_png, upscale


def test_image_i_lands_in_row_i_div_cols_and_column_i_mod_cols() -> None:
    pixels = np.arange(1, 7, dtype=np.uint8)[:, None, None].repeat(3, 1).repeat(3, 2)
    grid = image_grid(pixels, rows=2, cols=3, pad=1)
    assert grid.shape == (2 * 4 + 1, 3 * 4 + 1)
    assert grid[1, 1] == 1 and grid[1, 5] == 2 and grid[1, 9] == 3
    assert grid[5, 1] == 4 and grid[5, 9] == 6
    assert grid[0].max() == 0 and grid[:, 4].max() == 0  # padding is black


def test_a_grid_needs_exactly_rows_times_cols_images() -> None:
    with pytest.raises(ValueError, match="do not fill a 4x4 grid"):
        image_grid(np.zeros((15, 28, 28), np.uint8), 4, 4)


def test_png_holds_the_upscaled_grid(tmp_path: Path) -> None:
    image = upscale(np.array([[0, 255], [128, 7]], np.uint8), 3)
    save_png(tmp_path / "grid.png", image)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "grid.png")), image)
    assert image.shape == (6, 6) and image[2, 3] == 255
