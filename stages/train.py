"""Stage `train`: train the GAN; log losses, sample quality and sample grids with
DVCLive; save the models and the grid of every sample step."""

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from tqdm import tqdm

from dvclive import Live
from mnist_gan.classifier import feature_model, load_classifier
from mnist_gan.cli import ParamsPath, new_app, user_errors
from mnist_gan.config import load_params
from mnist_gan.data import load_split
from mnist_gan.files import write_npy
from mnist_gan.grid import image_grid, upscale
from mnist_gan.sampling import fixed_latents, generate_pixels
from mnist_gan.training import (
    PROGRESS_FILE,
    GANTrainer,
    QualityProbe,
    build_gan,
    run_training,
    save_gan,
    seed_everything,
    use_xla,
)

app = new_app(__doc__)
GRID_SIDE = 4  # the book's 4x4 progress grid


@app.command()
def main(
    params: ParamsPath = Path("params.yaml"),
    data: Annotated[Path, typer.Option(help="Folder of the prepared splits.")] = Path(
        "data/prepared"
    ),
    classifier: Annotated[Path, typer.Option(help="Evaluation classifier folder.")] = Path(
        "models/classifier"
    ),
    out: Annotated[Path, typer.Option(help="Folder for the trained models.")] = Path("models/gan"),
    live_dir: Annotated[Path, typer.Option(help="DVCLive folder for curves and grids.")] = Path(
        "dvclive/train"
    ),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train on the train split. Every train.log_every steps log d_loss, g_loss and
    d_accuracy (means since the last log); every train.sample_every steps a 4x4 grid
    from fixed latents; every train.eval_every steps eval/fid and
    eval/inception_score of train.eval_samples samples against the test set."""
    with user_errors():
        config = load_params(params)
    model_config, train_config = config.model, config.train
    seed_everything(train_config.seed)
    gan = build_gan(model_config)
    jit = use_xla(train_config.jit, model_config.arch)
    images = load_split(data, "train").images
    trainer = GANTrainer(gan, images, train_config, model_config.z_dim, jit=jit)
    grid_z = fixed_latents(train_config.seed, GRID_SIDE**2, model_config.z_dim)
    probe = QualityProbe(
        feature_model(load_classifier(classifier)),
        load_split(data, "test").images,
        fixed_latents(train_config.seed + 1, train_config.eval_samples, model_config.z_dim),
    )
    grids: list[np.ndarray] = []

    with (
        Live(str(live_dir), dvcyaml=False, save_dvc_exp=False) as live,
        tqdm(total=train_config.steps, unit="step", disable=not progress) as bar,
    ):

        def log(step: int, values: dict[str, float], prefix: str = "") -> None:
            live.step = step
            for name, value in values.items():
                live.log_metric(prefix + name, value)
            live.sync()

        def sample(step: int) -> None:
            grid = image_grid(generate_pixels(gan.generator, grid_z), GRID_SIDE, GRID_SIDE)
            grids.append(grid)
            live.step = step
            live.log_image(f"grid/{step:07d}.png", upscale(grid, 4))

        def evaluate(step: int) -> None:
            log(step, probe(gan.generator), prefix="eval/")

        def show(steps: int, means: dict[str, float]) -> None:
            bar.update(steps)
            bar.set_postfix({name: f"{value:.3f}" for name, value in means.items()})

        periodic = ((train_config.sample_every, sample), (train_config.eval_every, evaluate))
        with user_errors():
            final = run_training(trainer, train_config, log, periodic, show)

    description = {"model": model_config.model_dump(), "train": train_config.model_dump()}
    save_gan(gan, out, {**description, "final": final})
    write_npy(out / PROGRESS_FILE, np.stack(grids))


if __name__ == "__main__":
    app()
