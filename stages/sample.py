"""Stage `sample`: draw from the trained generator: grids, an animation, an array."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_gan.cli import ParamsPath, new_app, user_errors
from mnist_gan.config import load_params
from mnist_gan.files import read_npy, write_npy
from mnist_gan.grid import image_grid, save_gif, save_png, upscale
from mnist_gan.sampling import fixed_latents, generate_pixels, interpolation_latents
from mnist_gan.training import PROGRESS_FILE, load_generator

app = new_app(__doc__)
SCALE = 4  # enlarge 28-pixel digits so the pictures are readable


@app.command()
def main(
    params: ParamsPath = Path("params.yaml"),
    models: Annotated[Path, typer.Option(help="Folder of the trained GAN.")] = Path("models/gan"),
    out: Annotated[Path, typer.Option(help="Folder for the pictures and samples.")] = Path(
        "samples"
    ),
) -> None:
    """Write grid.png (sample.grid_rows x sample.grid_cols from sample.seed),
    interpolation.png (latent walks), progress.gif (the training grid at every
    train.sample_every step) and samples.npy: uint8 [sample.count, 28, 28], 0..255."""
    with user_errors():
        config = load_params(params).sample
    generator, model_config = load_generator(models)
    z_dim = model_config.z_dim

    cells = fixed_latents(config.seed, config.grid_rows * config.grid_cols, z_dim)
    grid = image_grid(generate_pixels(generator, cells), config.grid_rows, config.grid_cols)
    save_png(out / "grid.png", upscale(grid, SCALE))

    walks = interpolation_latents(
        config.seed, config.interpolation_rows, config.interpolation_steps, z_dim
    )
    walk_grid = image_grid(
        generate_pixels(generator, walks), config.interpolation_rows, config.interpolation_steps
    )
    save_png(out / "interpolation.png", upscale(walk_grid, SCALE))

    frames = read_npy(models / PROGRESS_FILE)
    save_gif(out / "progress.gif", upscale(frames, SCALE), config.gif_frame_ms)

    # A different stream from the grid's, so the grid is not just the first samples.
    samples = generate_pixels(generator, fixed_latents(config.seed + 1, config.count, z_dim))
    write_npy(out / "samples.npy", samples)
    typer.echo(f"wrote {len(samples)} samples and the pictures to {out}/")


if __name__ == "__main__":
    app()
