"""`python -m mnist_gan generate`: digits from a trained generator, as a PNG grid or a
.npy array (also the `mnist-gan` command once the project is pip-installed)."""

from __future__ import annotations

import os

# TensorFlow's C++ start-up notices would precede every answer; set before it loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from mnist_gan.core.cli import command, new_app
from mnist_gan.core.errors import ParamsError, quote
from mnist_gan.core.files import claim_output, write_npy
from mnist_gan.drawing.pictures import PICTURE_SCALE, image_grid, save_png, upscale
from mnist_gan.serving.generate import (
    TRUNCATION_RANGE,
    check_steps,
    check_truncation,
    image_count,
    load_digit_generator,
)

app = new_app(__doc__)
GRID_COLS = 10
MAX_GRID_IMAGES = 1000  # a .png grid's digits: 14 MB of pixels at PICTURE_SCALE 4


@app.callback()
def main() -> None:
    """Use a trained MNIST GAN."""


def _digits(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ParamsError(f"--digits takes digits separated by commas, got {quote(text)}") from None


def _save(out: Path, pixels: np.ndarray, cols: int) -> None:
    """uint8 [N, 28, 28] as a .npy array or a PNG grid of `cols` columns."""
    if out.suffix == ".npy":
        write_npy(out, pixels)
        return
    rows = math.ceil(len(pixels) / cols)
    padded = np.zeros((rows * cols, *pixels.shape[1:]), np.uint8)
    padded[: len(pixels)] = pixels
    save_png(out, upscale(image_grid(padded, rows, cols), PICTURE_SCALE))


@command(app)
def generate(
    out: Annotated[Path, typer.Option(help="Where to write: a .png grid or a .npy array.")],
    model: Annotated[Path, typer.Option(help="A model folder (models/gan).")] = Path("models/gan"),
    digits: Annotated[
        str | None, typer.Option(help="Digits to draw, e.g. 0,1,7 (conditional models).")
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(help="How many images (default 16); with --digits, how many of each."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the latents.", min=0)] = 0,
    truncation: Annotated[
        float | None,
        typer.Option(help=f"Truncate latents to [-t, t], t in {list(TRUNCATION_RANGE)}."),
    ] = None,
    interpolate: Annotated[
        tuple[int, int] | None,
        typer.Option(help="A walk between the latents of two seeds A B."),
    ] = None,
    steps: Annotated[int, typer.Option(help="Images in the walk.")] = 10,
) -> None:
    """Draw digits (or a latent walk) and write them to --out. --digits 0,7 --count 3
    draws three 0s then three 7s, a grid with one row per digit."""
    if out.suffix not in {".png", ".npy"}:
        raise ParamsError(f"--out must end in .png or .npy, got {quote(str(out))}")
    claim_output(out, "--out")
    chosen = _digits(digits)
    # The whole request is checked before the model is read or anything is allocated.
    if interpolate is not None:
        chosen = chosen or [None]
        if len(chosen) != 1:
            raise ParamsError("a walk keeps one digit: give --digits a single digit")
        if chosen[0] is not None:
            image_count(chosen, None)  # the digit's range
        check_steps(steps)
        total = cols = steps
    else:
        check_truncation(truncation)
        total = image_count(chosen, count)
        cols = count if chosen and count else min(total, GRID_COLS)
    if out.suffix == ".png" and total > MAX_GRID_IMAGES:
        raise ParamsError(
            f"a .png grid holds at most {MAX_GRID_IMAGES:,} images, asked for {total:,}; "
            "write a .npy array for more"
        )
    generator = load_digit_generator(model)
    if interpolate is not None:
        pixels = generator.interpolate(*interpolate, steps=steps, digit=chosen[0])
    else:
        pixels = generator.generate(chosen, count, seed, truncation)
    _save(out, pixels, cols)
    typer.echo(f"wrote {len(pixels)} images to {out}")


if __name__ == "__main__":
    app()
