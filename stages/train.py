"""Stage `train`: train the GAN; log losses, sample quality and sample grids with
DVCLive; checkpoint so a killed run resumes; save the models and every grid."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.core.cli import (
    ClassifierFolder,
    ParamsPath,
    PreparedData,
    ProgressBar,
    command,
    new_app,
)
from mnist_gan.core.config import load_params
from mnist_gan.core.files import DVCLIVE_ENTRIES, claim_folder, keep_only, write_npy
from mnist_gan.core.runtime import configure_cpu, make_strategy, output_folders
from mnist_gan.core.sources import code_digest, project_sources
from mnist_gan.data.splits import check_disjoint, load_split
from mnist_gan.networks.footprint import check_fits
from mnist_gan.networks.gan import GAN_FILES, PROGRESS_FILE, save_gan
from mnist_gan.training.checkpoint import CHECKPOINT_FILE
from mnist_gan.training.choices import check_choices
from mnist_gan.training.loop import RunFolders, TrainingRun, train_gan

app = new_app(__doc__)
SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]


@command(app)
def main(
    params_file: ParamsPath = Path("params.yaml"),
    data: PreparedData = Path("data/prepared"),
    classifier: ClassifierFolder = Path("models/classifier"),
    out: Annotated[Path, typer.Option(help="Folder for the trained models.")] = Path("models/gan"),
    live_dir: Annotated[Path, typer.Option(help="DVCLive folder for curves and grids.")] = Path(
        "dvclive/train"
    ),
    checkpoints: Annotated[Path, typer.Option(help="Folder of the resumable checkpoint.")] = Path(
        "checkpoints/train"
    ),
    progress: ProgressBar = None,
) -> None:
    """Train on the train split (training.loop.train_gan): losses every train.log_every
    steps, a grid every train.sample_every, FID and classifier score against the test
    set every train.eval_every, a checkpoint every train.checkpoint_every, which a rerun
    with the same params, data, code and libraries resumes from."""
    params = load_params(params_file)
    claim_folder(out, GAN_FILES, "--out")
    claim_folder(live_dir, DVCLIVE_ENTRIES, "--live-dir")
    claim_folder(checkpoints, [CHECKPOINT_FILE], "--checkpoints")
    configure_cpu(params.cpu)  # before TensorFlow runs anything
    check_choices(params.model, params.train)
    strategy = make_strategy(  # before any other TF work
        params.train.strategy, cluster_wait_seconds=params.train.cluster_wait_seconds
    )
    check_fits(params.model, params.train)  # before anything is built at full size
    out, live_dir, checkpoints = output_folders(strategy, out, live_dir, checkpoints)
    code = code_digest(project_sources(SCRIPT, ROOT / "src"), ROOT)
    train, test = load_split(data, "train"), load_split(data, "test")
    check_disjoint(train.images, test.images, str(data))
    result = train_gan(
        TrainingRun(params.model, params.train, code, params.cpu),
        train,
        test.images,
        RunFolders(classifier, checkpoints, live_dir),
        strategy,
        progress,
    )
    description = {"model": params.model.model_dump(), "train": params.train.model_dump()}
    written = save_gan(result.gan, out, {**description, "final": result.final})
    write_npy(out / PROGRESS_FILE, result.grids)
    keep_only(out, [*written, PROGRESS_FILE])


if __name__ == "__main__":
    app()
