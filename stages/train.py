"""Stage `train`: train the GAN; log losses, sample quality and sample grids with
DVCLive; checkpoint so a killed run resumes; save the models and every grid."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.cli import ParamsPath, command, new_app
from mnist_gan.config import load_params
from mnist_gan.data import load_split
from mnist_gan.files import write_npy
from mnist_gan.gan import PROGRESS_FILE, save_gan
from mnist_gan.run import train_gan
from mnist_gan.runtime import configure_cpu, make_strategy, output_folders
from mnist_gan.sources import code_digest, project_sources
from mnist_gan.trainer import check_choices

app = new_app(__doc__)
SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]


@command(app)
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
    checkpoints: Annotated[Path, typer.Option(help="Folder of the resumable checkpoint.")] = Path(
        "checkpoints/train"
    ),
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show a progress bar (default: only when stderr is a terminal, so not "
            "in `dvc queue logs` or CI logs).",
        ),
    ] = None,
) -> None:
    """Train on the train split (run.train_gan): losses every train.log_every steps, a
    grid every train.sample_every, FID and classifier score against the test set every
    train.eval_every, a checkpoint every train.checkpoint_every, which a rerun with the
    same params, data, code and libraries resumes from."""
    config = load_params(params)
    configure_cpu(config.cpu)  # before TensorFlow runs anything
    check_choices(config.model, config.train)
    strategy = make_strategy(config.train.strategy)  # before any other TF work
    out, live_dir, checkpoints = output_folders(strategy, out, live_dir, checkpoints)
    result = train_gan(
        config.model,
        config.train,
        strategy,
        load_split(data, "train"),
        load_split(data, "test").images,
        classifier,
        code=code_digest(project_sources(SCRIPT, ROOT / "src"), ROOT),
        checkpoints=checkpoints,
        live_dir=live_dir,
        progress=progress,
        cpu=config.cpu,
    )
    description = {"model": config.model.model_dump(), "train": config.train.model_dump()}
    save_gan(result.gan, out, {**description, "final": result.final})
    write_npy(out / PROGRESS_FILE, result.grids)


if __name__ == "__main__":
    app()
