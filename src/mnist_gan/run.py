"""One GAN training run, top to bottom: set-up, resume, then one loop over compiled
chunks of steps with the periodic work (log, grid, quality probe, checkpoint) inline,
in the order it happens.

Reading it: `train_gan` seeds and builds everything, resumes the checkpoint if it
belongs to this exact run (params, data, code, libraries), replays what that run
logged, and then alternates compiled `trainer.train(n)` calls with the work due at the
step each call ends on. The checkpoint comes last at a step, so it holds that step's
logs and grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from tqdm import tqdm

from mnist_gan import checkpoint
from mnist_gan.checkpoint import Checkpoint, Event, Logged, Sampled
from mnist_gan.classifier import WEIGHTS_FILE, feature_model, load_classifier
from mnist_gan.config import CpuConfig, EvaluateConfig, ModelConfig, TrainConfig
from mnist_gan.data import Split, to_unit_range
from mnist_gan.errors import CheckpointError
from mnist_gan.gan import GAN, build_gan
from mnist_gan.grid import image_grid, upscale
from mnist_gan.metrics import METRICS, view
from mnist_gan.models import architecture
from mnist_gan.runtime import deterministic_xla, is_multi_worker, seed_everything, use_xla
from mnist_gan.sampling import balanced_labels, fixed_latents, generate_pixels
from mnist_gan.trainer import GANTrainer, StepMetrics, chunks, xla_compiles

GRID_SIDE = 4  # the book's 4x4 progress grid
PROBE_BATCH = 1000
PROBE_METRICS = ("fid", "inception_score")  # names in metrics.METRICS


class QualityProbe:
    """A cheap FID and classifier score of a generator during training: a fixed set of
    latents and balanced labels, quantized to pixels like the final samples, scored by
    the evaluate stage's own metrics against the reference images (viewed once).

    reference_images: float32 [M, 28, 28, 1] in [-1, 1]; latents: float32 [N, z_dim].
    """

    def __init__(self, extractor: keras.Model, reference_images: np.ndarray, latents: np.ndarray):
        self.extractor = extractor
        self.latents = latents
        self.labels = balanced_labels(len(latents))
        self.reference = view(extractor, reference_images, PROBE_BATCH)

    def __call__(self, gan: GAN) -> dict[str, float]:
        pixels = generate_pixels(gan.sampler, self.latents, self.labels)
        samples = view(self.extractor, to_unit_range(pixels), PROBE_BATCH)
        config = EvaluateConfig()  # FID and the classifier score read none of it
        return {
            key: value
            for name in PROBE_METRICS
            for key, value in METRICS[name](samples, self.reference, config).items()
        }


@dataclass(frozen=True)
class TrainedGAN:
    """What a run leaves: the GAN (its average calibrated), the progress grids uint8
    [T, H, W], and the last logged losses."""

    gan: GAN
    grids: np.ndarray
    final: dict[str, float]


def _write(live: Live, event: Event, grids: list[np.ndarray]) -> None:
    """Send one event to DVCLive: a grid as a per-step image, values as metrics."""
    live.step = event.step
    if isinstance(event, Sampled):
        live.log_image(f"grid/{event.step:07d}.png", upscale(grids[event.grid], 4))
        return
    for name, value in event.values.items():
        live.log_metric(event.prefix + name, value)
    live.sync()


def _resume(folder: Path, identity: dict[str, str], trainer: GANTrainer) -> Checkpoint:
    """The checkpoint in `folder` if it is this run's and fits the trainer (its state is
    then restored), else a fresh start; says which and why in one line."""
    try:
        saved = checkpoint.load(folder)
    except CheckpointError as error:
        print(f"{error}; starting fresh")
        saved = None
    if saved is not None:
        why = checkpoint.mismatch(saved.identity, identity)
        if why is None:
            try:
                trainer.restore(saved.variables)
                print(f"{folder}: resuming from step {saved.step}")
                return saved
            except ValueError as error:
                why = f"its arrays do not fit this model: {error}"
        print(f"{folder}: checkpoint is from {why}; starting fresh")
    return Checkpoint(identity, 0, trainer.state())


def train_gan(
    model: ModelConfig,
    train: TrainConfig,
    strategy: tf.distribute.Strategy,
    data: Split,
    reference_images: np.ndarray,
    classifier: Path,
    code: str,
    checkpoints: Path,
    live_dir: Path,
    progress: bool | None = None,
    cpu: CpuConfig | None = None,
) -> TrainedGAN:
    """Train on `data` (images float32 [N, 28, 28, 1] in [-1, 1], labels [N]) for
    `train.steps` steps. Every train.log_every steps log d_loss, g_loss and d_accuracy
    (means since the last log); every train.sample_every steps a 4x4 grid from fixed
    latents; every train.eval_every steps eval/fid and eval/inception_score of
    train.eval_samples samples against `reference_images`, seen by the evaluation
    classifier saved in `classifier`; every
    train.checkpoint_every steps a checkpoint in `checkpoints`, which a run with the
    same params, data, `code` (sources.code_digest) and libraries resumes. Curves and
    grids go to DVCLive in `live_dir`. `cpu`, the params `runtime.configure_cpu`
    applied, is part of the run's identity: it changes the bytes.

    Raises FloatingPointError, naming the steps, if a loss becomes NaN or infinite.
    """
    # --- set-up: seeded networks, the compiled trainer, fixed latents for grids/probe.
    # The GAN is built first: Keras names layers in creation order, and the weights
    # files store those names.
    seed_everything(train.seed)
    with strategy.scope():
        gan = build_gan(model, train.precision, ema=train.ema > 0)
    jit = use_xla(train.jit, architecture(model.arch).xla_on_cpu and xla_compiles(train))
    if jit:
        deterministic_xla()  # before the trainer's first compilation
    trainer = GANTrainer(gan, data.images, data.labels, train, jit, strategy)
    grid_z = fixed_latents(train.seed, GRID_SIDE**2, model.z_dim)
    grid_labels = balanced_labels(GRID_SIDE**2)
    probe = QualityProbe(
        feature_model(load_classifier(classifier)),
        reference_images,
        fixed_latents(train.seed + 1, train.eval_samples, model.z_dim),
    )

    # --- resume: only this exact run's checkpoint; workers of a multi-worker run
    # must start from the same state, so they never resume.
    description = {"model": model.model_dump(), "train": train.model_dump()}
    if cpu is not None:
        description["cpu"] = cpu.model_dump()
    # The probe's curve is replayed on resume, so its classifier and reference images
    # are part of the run too.
    probe_inputs = ((classifier / WEIGHTS_FILE).read_bytes(), reference_images.tobytes())
    identity = checkpoint.run_identity(description, data.images, data.labels, code, probe_inputs)
    if is_multi_worker(strategy):
        state = Checkpoint(identity, 0, trainer.state())
    else:
        state = _resume(checkpoints, identity, trainer)

    # --- the loop
    def due(period: int) -> bool:
        return step % period == 0 or step == train.steps

    step = state.step
    resumed_at_end = step == train.steps  # the loop below runs no step
    window_sum, window_steps = np.zeros(len(StepMetrics._fields)), 0
    periods = (train.log_every, train.sample_every, train.eval_every, train.checkpoint_every)
    with (
        Live(str(live_dir), dvcyaml=False, save_dvc_exp=False) as live,
        tqdm(
            total=train.steps,
            initial=step,
            unit="step",
            disable=None if progress is None else not progress,
        ) as bar,
    ):
        for event in state.history:  # a resumed run replays what was logged before
            _write(live, event, state.grids)

        def record(event: Event) -> None:
            state.history.append(event)
            _write(live, event, state.grids)

        for size in chunks(train.steps, train.steps_per_call, periods, step):
            means = trainer.train(size)
            if not np.all(np.isfinite(means)):
                raise FloatingPointError(
                    f"training diverged between steps {step} and {step + size}: "
                    f"{ {name: float(value) for name, value in means._asdict().items()} }"
                )
            step += size
            window_sum += np.array(means, np.float32) * size
            window_steps += size
            bar.update(size)
            bar.set_postfix({name: f"{value:.3f}" for name, value in means._asdict().items()})

            if due(train.log_every):
                window = StepMetrics(*(window_sum / window_steps).tolist())
                record(Logged(step, window._asdict()))
                window_sum[:], window_steps = 0, 0
            sample, evaluate = due(train.sample_every), due(train.eval_every)
            if sample or evaluate:  # both draw from the average: calibrate it once
                gan.calibrate_average(train.seed)
            if sample:
                pixels = generate_pixels(gan.sampler, grid_z, grid_labels)
                state.grids.append(image_grid(pixels, GRID_SIDE, GRID_SIDE))
                record(Sampled(step, len(state.grids) - 1))
            if evaluate:
                record(Logged(step, probe(gan), prefix="eval/"))
            if due(train.checkpoint_every):
                state.step, state.variables = step, trainer.state()
                checkpoint.save(checkpoints, state)

    if resumed_at_end:  # otherwise the last step's grid and probe calibrated the average
        gan.calibrate_average(train.seed)
    return TrainedGAN(gan, np.stack(state.grids), state.last_logged())
