"""Stage `sample`: draw from the trained generator: grids, an animation, an array."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import numpy as np
import typer

from mnist_gan.core.cli import GanFolder, ParamsPath, command, new_app
from mnist_gan.core.config import load_params
from mnist_gan.core.errors import restore_hint
from mnist_gan.core.files import claim_folder, keep_only, read_npy, write_npy
from mnist_gan.core.runtime import configure_cpu
from mnist_gan.data.splits import NUM_CLASSES
from mnist_gan.drawing.pictures import PICTURE_SCALE, image_grid, save_gif, save_png, upscale
from mnist_gan.drawing.sampling import (
    balanced_labels,
    class_grid_labels,
    fixed_latents,
    generate_pixels,
    interpolation_latents,
)
from mnist_gan.networks.gan import PROGRESS_FILE, load_sampler

app = new_app(__doc__)
CONDITIONAL_ONLY = ("class_grid.png", "labels.npy")
UNCONDITIONAL_FILES = ("grid.png", "interpolation.png", "progress.gif", "samples.npy")
SAMPLE_FILES = UNCONDITIONAL_FILES + CONDITIONAL_ONLY


@command(app)
def main(
    params_file: ParamsPath = Path("params.yaml"),
    models: GanFolder = Path("models/gan"),
    out: Annotated[Path, typer.Option(help="Folder for the pictures and samples.")] = Path(
        "samples"
    ),
) -> None:
    """Write grid.png (sample.grid_rows x sample.grid_cols from sample.seed),
    interpolation.png (latent walks), progress.gif (the training grid at every
    train.sample_every step) and samples.npy: uint8 [sample.count, 28, 28], 0..255.
    A conditional model's samples have balanced labels, written to labels.npy, and
    class_grid.png holds one row per digit (sample.class_grid_cols columns)."""
    params = load_params(params_file)
    config = params.sample
    claim_folder(out, SAMPLE_FILES, "--out")
    configure_cpu(params.cpu)  # before TensorFlow runs anything
    generator = load_sampler(models)
    fix = restore_hint(models, "train")
    frames = read_npy(models / PROGRESS_FILE, fix)
    z_dim, conditional = generator.config.z_dim, generator.config.conditional

    def draw(seed: int, count: int, labels: np.ndarray | None = None) -> np.ndarray:
        """uint8 [count, 28, 28] from seeded latents; balanced labels unless given."""
        labels = balanced_labels(count) if labels is None else labels
        return generate_pixels(generator, fixed_latents(seed, count, z_dim), labels)

    cells = config.grid_rows * config.grid_cols
    grid = image_grid(draw(config.seed, cells), config.grid_rows, config.grid_cols)
    save_png(out / "grid.png", upscale(grid, PICTURE_SCALE))

    if conditional:
        labels = class_grid_labels(config.class_grid_cols)
        pixels = draw(config.seed, len(labels), labels)
        class_grid = image_grid(pixels, NUM_CLASSES, config.class_grid_cols)
        save_png(out / "class_grid.png", upscale(class_grid, PICTURE_SCALE))

    walks = interpolation_latents(
        config.seed, config.interpolation_rows, config.interpolation_steps, z_dim
    )
    # A conditional walk keeps one digit per row, so it shows only the style changing.
    walk_labels = np.repeat(balanced_labels(config.interpolation_rows), config.interpolation_steps)
    walk_pixels = generate_pixels(generator, walks, walk_labels)
    walk_grid = image_grid(walk_pixels, config.interpolation_rows, config.interpolation_steps)
    save_png(out / "interpolation.png", upscale(walk_grid, PICTURE_SCALE))

    save_gif(out / "progress.gif", upscale(frames, PICTURE_SCALE), config.gif_frame_ms)

    # A different stream from the grid's, so the grid is not just the first samples.
    samples = draw(config.seed + 1, config.count)
    write_npy(out / "samples.npy", samples)
    if conditional:  # the labels asked for, which evaluate's label_accuracy checks
        write_npy(out / "labels.npy", balanced_labels(config.count))
    keep_only(out, SAMPLE_FILES if conditional else UNCONDITIONAL_FILES)
    typer.echo(f"wrote {len(samples)} samples and the pictures to {out}/")


if __name__ == "__main__":
    app()
