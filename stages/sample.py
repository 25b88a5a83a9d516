"""Stage `sample`: draw samples from the trained generator: a grid and an array."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_gan.cli import ParamsPath, new_app, user_errors
from mnist_gan.config import load_params
from mnist_gan.files import write_npy
from mnist_gan.grid import image_grid, save_png, upscale
from mnist_gan.training import fixed_latents, generate_pixels, load_generator

app = new_app(__doc__)


@app.command()
def main(
    params: ParamsPath = Path("params.yaml"),
    models: Annotated[Path, typer.Option(help="Folder of the trained GAN.")] = Path("models/gan"),
    out: Annotated[Path, typer.Option(help="Folder for grid.png and samples.npy.")] = Path(
        "samples"
    ),
) -> None:
    """Write grid.png (sample.grid_rows x sample.grid_cols from sample.seed) and
    samples.npy: uint8 [sample.count, 28, 28], pixels 0..255."""
    with user_errors():
        config = load_params(params).sample
    generator, model_config = load_generator(models)
    cells = config.grid_rows * config.grid_cols
    grid_pixels = generate_pixels(generator, fixed_latents(config.seed, cells, model_config.z_dim))
    save_png(
        out / "grid.png", upscale(image_grid(grid_pixels, config.grid_rows, config.grid_cols), 4)
    )
    # A different stream from the grid's, so the grid is not just the first samples.
    z = fixed_latents(config.seed + 1, config.count, model_config.z_dim)
    samples = generate_pixels(generator, z)
    write_npy(out / "samples.npy", samples)
    typer.echo(f"wrote {out / 'grid.png'} and {len(samples)} samples to {out / 'samples.npy'}")


if __name__ == "__main__":
    app()
