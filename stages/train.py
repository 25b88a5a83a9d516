"""Stage `train`: train the GAN, log losses and sample grids with DVCLive, save models."""

from pathlib import Path
from typing import Annotated

import typer
from dvclive import Live
from tqdm import tqdm

from mnist_gan.cli import ParamsPath, new_app, user_errors
from mnist_gan.config import load_params
from mnist_gan.data import load_split
from mnist_gan.grid import image_grid, upscale
from mnist_gan.training import (
    GANTrainer,
    build_gan,
    fixed_latents,
    generate_pixels,
    run_training,
    save_gan,
    seed_everything,
)

app = new_app(__doc__)
GRID_SIDE = 4  # the book's 4x4 progress grid


@app.command()
def main(
    params: ParamsPath = Path("params.yaml"),
    data: Annotated[Path, typer.Option(help="Folder of the prepared splits.")] = Path(
        "data/prepared"
    ),
    out: Annotated[Path, typer.Option(help="Folder for the trained models.")] = Path("models/gan"),
    live_dir: Annotated[Path, typer.Option(help="DVCLive folder for curves and grids.")] = Path(
        "dvclive/train"
    ),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train on the train split; every train.log_every steps log d_loss, g_loss and
    d_accuracy (means since the last log), every train.sample_every steps a grid from
    fixed latent vectors."""
    with user_errors():
        config = load_params(params)
    model_config, train_config = config.model, config.train
    seed_everything(train_config.seed)
    images = load_split(data, "train").images
    gan = build_gan(model_config)
    trainer = GANTrainer(gan, images, train_config, model_config.z_dim)
    grid_z = fixed_latents(train_config.seed, GRID_SIDE**2, model_config.z_dim)

    with (
        Live(str(live_dir), dvcyaml=False, save_dvc_exp=False) as live,
        tqdm(total=train_config.steps, unit="step", disable=not progress) as bar,
    ):

        def on_log(step: int, means: dict[str, float]) -> None:
            live.step = step
            for name, value in means.items():
                live.log_metric(name, value)
            live.sync()

        def on_sample(step: int) -> None:
            grid = image_grid(generate_pixels(gan.generator, grid_z), GRID_SIDE, GRID_SIDE)
            live.step = step
            live.log_image(f"grid/{step:07d}.png", upscale(grid, 4))

        def on_progress(steps: int, means: dict[str, float]) -> None:
            bar.update(steps)
            bar.set_postfix({name: f"{value:.3f}" for name, value in means.items()})

        with user_errors():
            final = run_training(trainer, train_config, on_log, on_sample, on_progress)

    description = {"model": model_config.model_dump(), "train": train_config.model_dump()}
    save_gan(gan, out, {**description, "final": final})


if __name__ == "__main__":
    app()
