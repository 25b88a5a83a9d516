"""Stage `train`: train the GAN; log losses, sample quality and sample grids with
DVCLive; checkpoint so a killed run resumes; save the models and every grid."""

import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import tensorflow as tf
import typer
from tqdm import tqdm

from dvclive import Live
from mnist_gan import checkpoint
from mnist_gan.classifier import feature_model, load_classifier
from mnist_gan.cli import ParamsPath, new_app, user_errors
from mnist_gan.config import load_params
from mnist_gan.data import load_split
from mnist_gan.files import write_npy
from mnist_gan.grid import image_grid, upscale
from mnist_gan.sampling import balanced_labels, fixed_latents, generate_pixels
from mnist_gan.training import (
    PROGRESS_FILE,
    GANTrainer,
    QualityProbe,
    build_gan,
    is_chief,
    make_strategy,
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
    checkpoints: Annotated[Path, typer.Option(help="Folder of the resumable checkpoint.")] = Path(
        "checkpoints/train"
    ),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train on the train split. Every train.log_every steps log d_loss, g_loss and
    d_accuracy (means since the last log); every train.sample_every steps a 4x4 grid
    from fixed latents; every train.eval_every steps eval/fid and
    eval/inception_score of train.eval_samples samples against the test set; every
    train.checkpoint_every steps a checkpoint, which a rerun with the same params and
    data resumes from."""
    with user_errors():
        config = load_params(params)
        model_config, train_config = config.model, config.train
        strategy = make_strategy(train_config.strategy)
    if not is_chief(strategy):  # other workers of a multi-worker run keep nothing
        scratch = Path(tempfile.mkdtemp(prefix="mnist-gan-worker-"))
        out, live_dir, checkpoints = scratch / "gan", scratch / "dvclive", scratch / "ckpt"
    seed_everything(train_config.seed)
    with strategy.scope():
        gan = build_gan(model_config, train_config.precision, ema=train_config.ema > 0)
    train_split = load_split(data, "train")
    images = train_split.images
    jit = use_xla(train_config.jit, model_config.arch)
    with user_errors():
        trainer = GANTrainer(
            gan, images, train_split.labels, train_config, model_config.z_dim, jit, strategy
        )
    grid_z = fixed_latents(train_config.seed, GRID_SIDE**2, model_config.z_dim)
    grid_labels = balanced_labels(GRID_SIDE**2) if model_config.conditional else None
    probe = QualityProbe(
        feature_model(load_classifier(classifier)),
        load_split(data, "test").images,
        fixed_latents(train_config.seed + 1, train_config.eval_samples, model_config.z_dim),
    )
    description = {"model": model_config.model_dump(), "train": train_config.model_dump()}
    run_id = checkpoint.fingerprint(description, images)
    # Workers of a multi-worker run must start from the same state: they do not resume.
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    state = None if multi_worker else checkpoint.load(checkpoints)
    if state is not None and state.fingerprint != run_id:
        typer.echo(f"{checkpoints}: checkpoint is from other params or data; starting fresh")
        state = None
    if state is None:
        state = checkpoint.Checkpoint(run_id, 0, trainer.state())
    else:
        typer.echo(f"{checkpoints}: resuming from step {state.step}")
        trainer.restore(state.variables)

    calibrated_at = None

    def calibrate(step: int) -> None:
        """The average's batch-norm statistics, once per step that samples from it (the
        grid, the probe and the save share a step's weights)."""
        nonlocal calibrated_at
        if calibrated_at != step:
            gan.calibrate_average(train_config.seed)
            calibrated_at = step

    with (
        Live(str(live_dir), dvcyaml=False, save_dvc_exp=False) as live,
        tqdm(
            total=train_config.steps, initial=state.step, unit="step", disable=not progress
        ) as bar,
    ):

        def write(event: dict) -> None:
            live.step = event["step"]
            if "grid" in event:
                grid = upscale(state.grids[event["grid"]], 4)
                live.log_image(f"grid/{event['step']:07d}.png", grid)
                return
            for name, value in event["values"].items():
                live.log_metric(event["prefix"] + name, value)
            live.sync()

        def record(event: dict) -> None:
            state.history.append(event)
            write(event)

        for event in state.history:  # a resumed run replays what was logged before
            write(event)

        def log(step: int, values: dict[str, float]) -> None:
            record({"step": step, "prefix": "", "values": values})

        def sample(step: int) -> None:
            calibrate(step)
            pixels = generate_pixels(gan.sampler, grid_z, grid_labels)
            state.grids.append(image_grid(pixels, GRID_SIDE, GRID_SIDE))
            record({"step": step, "grid": len(state.grids) - 1})

        def evaluate(step: int) -> None:
            calibrate(step)
            record({"step": step, "prefix": "eval/", "values": probe(gan)})

        def save_checkpoint(step: int) -> None:
            state.step, state.variables = step, trainer.state()
            checkpoint.save(checkpoints, state)

        def show(steps: int, means: dict[str, float]) -> None:
            bar.update(steps)
            bar.set_postfix({name: f"{value:.3f}" for name, value in means.items()})

        periodic = (
            (train_config.sample_every, sample),
            (train_config.eval_every, evaluate),
            (train_config.checkpoint_every, save_checkpoint),  # last: after the step's logs
        )
        with user_errors():
            final = run_training(trainer, train_config, log, periodic, show, start=state.step)

    calibrate(train_config.steps)
    save_gan(gan, out, {**description, "final": final or state.last_logged()})
    write_npy(out / PROGRESS_FILE, np.stack(state.grids))


if __name__ == "__main__":
    app()
