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

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from dvclive import Live
from tqdm import tqdm

from mnist_gan.core.config import CpuConfig, ModelConfig, TrainConfig
from mnist_gan.core.errors import CheckpointError
from mnist_gan.core.runtime import deterministic_xla, is_multi_worker, seed_everything, use_xla
from mnist_gan.data.splits import Split
from mnist_gan.drawing.pictures import PICTURE_SCALE, image_grid, upscale
from mnist_gan.drawing.sampling import balanced_labels, fixed_latents, generate_pixels
from mnist_gan.evaluation.classifier import WEIGHTS_FILE, feature_model, load_classifier
from mnist_gan.networks.architectures import ARCHITECTURES
from mnist_gan.networks.gan import GAN, build_gan
from mnist_gan.training import checkpoint
from mnist_gan.training.checkpoint import Checkpoint, Event, Logged, Sampled
from mnist_gan.training.choices import check_choices, xla_compiles
from mnist_gan.training.objective import StepMetrics
from mnist_gan.training.probe import QualityProbe
from mnist_gan.training.trainer import GANTrainer

GRID_SIDE = 4  # the book's 4x4 progress grid


@dataclass(frozen=True)
class TrainingRun:
    """What a run is, all of which is its identity (a checkpoint of another run is not
    resumed): the model and train params, the digest of the project code it runs
    (sources.code_digest), and the cpu params the stage applied (runtime.configure_cpu;
    they change the bytes)."""

    model: ModelConfig
    train: TrainConfig
    code: str
    cpu: CpuConfig | None = None

    def params(self) -> dict:
        """The params as the checkpoint's identity hashes them."""
        description = {"model": self.model.model_dump(), "train": self.train.model_dump()}
        if self.cpu is not None:
            description["cpu"] = self.cpu.model_dump()
        return description


@dataclass(frozen=True)
class RunFolders:
    """The evaluation classifier the quality probe reads, the resumable checkpoint's
    folder and the DVCLive folder for curves and grids."""

    classifier: Path
    checkpoints: Path
    live: Path


@dataclass(frozen=True)
class PeriodicWork:
    """When a run of `steps` steps logs, samples a grid, probes quality and saves a
    checkpoint: at every multiple of its period, and at the last step."""

    steps: int
    log_every: int
    sample_every: int
    eval_every: int
    checkpoint_every: int

    @classmethod
    def of(cls, train: TrainConfig) -> PeriodicWork:
        return cls(train.steps, train.log_every, train.sample_every, train.eval_every,
                   train.checkpoint_every)  # fmt: skip

    def due(self, step: int, period: int) -> bool:
        return step % period == 0 or step == self.steps

    def calls(self, start: int, max_steps: int) -> Iterator[int]:
        """Sizes of the compiled calls from step `start` to the end: at most `max_steps`
        each, ending on every step some work is due (see `chunks`)."""
        periods = (self.log_every, self.sample_every, self.eval_every, self.checkpoint_every)
        return chunks(self.steps, max_steps, periods, start)


@dataclass(frozen=True)
class TrainedGAN:
    """What a run leaves: the GAN (its average calibrated), the progress grids uint8
    [T, H, W], and the last logged losses."""

    gan: GAN
    grids: np.ndarray
    final: dict[str, float]


def _write(live: Live, event: Event, grids: list[np.ndarray]) -> None:
    """Send one event to DVCLive: a grid as a per-step image, values as metrics, then
    mark the step complete (`next_step`), the signal on which the VS Code extension
    and Studio refresh a running or queued experiment."""
    live.step = event.step
    if isinstance(event, Sampled):
        live.log_image(f"grid/{event.step:07d}.png", upscale(grids[event.grid], PICTURE_SCALE))
    else:
        for name, value in event.values.items():
            live.log_metric(event.prefix + name, value)
    live.next_step()
    live.step = event.step  # next_step counts one on; the summary keeps the event's step


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
                checkpoint.restore_trainer(trainer, saved.variables)
                print(f"{folder}: resuming from step {saved.step}")
                return saved
            except ValueError as error:
                why = f"its arrays do not fit this model: {error}"
        print(f"{folder}: checkpoint is from {why}; starting fresh")
    return Checkpoint(identity, 0, checkpoint.trainer_state(trainer))


def chunks(total: int, max_chunk: int, every: tuple[int, ...], start: int = 0) -> Iterator[int]:
    """Split steps `start`..`total` into calls of at most `max_chunk` steps, so that
    every multiple of each period in `every` (and `total`) falls on the end of a call.
    The split depends only on absolute step numbers, so a run resumed at a boundary
    makes the same calls as an uninterrupted one."""
    step = start
    while step < total:
        next_event = min([total] + [(step // period + 1) * period for period in every])
        size = min(max_chunk, next_event - step)
        yield size
        step += size


def _build(run: TrainingRun, data: Split, strategy: tf.distribute.Strategy):
    """The seeded GAN and its compiled trainer. The GAN is built first: Keras names
    layers in creation order, and the weights files store those names."""
    model, train = run.model, run.train
    check_choices(model, train)
    seed_everything(train.seed)
    with strategy.scope():
        gan = build_gan(model, train.precision, ema=train.ema > 0)
    jit = use_xla(train.jit, ARCHITECTURES[model.arch].xla_on_cpu and xla_compiles(train))
    if jit:
        deterministic_xla()  # before the trainer's first compilation
    return gan, GANTrainer(gan, data.images, data.labels, train, jit, strategy)


def _check_finite(means: StepMetrics, step: int, size: int) -> None:
    if not np.all(np.isfinite(means)):
        raise FloatingPointError(
            f"training diverged between steps {step} and {step + size}: "
            f"{ {name: float(value) for name, value in means._asdict().items()} }"
        )


class _LossWindow:
    """The step-weighted mean of the step metrics since the last log."""

    def __init__(self):
        self.total, self.steps = np.zeros(len(StepMetrics._fields)), 0

    def add(self, means: StepMetrics, steps: int) -> None:
        self.total += np.array(means, np.float32) * steps
        self.steps += steps

    def take(self) -> dict[str, float]:
        window = StepMetrics(*(self.total / self.steps).tolist())
        self.total[:], self.steps = 0, 0
        return window._asdict()


def train_gan(
    run: TrainingRun,
    data: Split,
    reference_images: np.ndarray,
    folders: RunFolders,
    strategy: tf.distribute.Strategy | None = None,
    progress: bool | None = None,
) -> TrainedGAN:
    """Train on `data` (images float32 [N, 28, 28, 1] in [-1, 1], labels [N]) for
    `train.steps` steps, under `strategy` (default: one device). Every train.log_every
    steps log d_loss, g_loss and d_accuracy (means since the last log); every
    train.sample_every steps a 4x4 grid from fixed latents; every train.eval_every steps
    eval/fid and eval/inception_score of train.eval_samples samples against
    `reference_images`, seen by the evaluation classifier; every train.checkpoint_every
    steps a checkpoint, which a run of the same `run`, data, probe inputs and libraries
    resumes. Curves and grids go to DVCLive. `progress`: a progress bar (None: only on a
    terminal).

    Raises FloatingPointError, naming the steps, if a loss becomes NaN or infinite.
    """
    train = run.train
    strategy = strategy or tf.distribute.get_strategy()
    gan, trainer = _build(run, data, strategy)
    grid_z = fixed_latents(train.seed, GRID_SIDE**2, run.model.z_dim)
    grid_labels = balanced_labels(GRID_SIDE**2)
    probe = QualityProbe(
        feature_model(load_classifier(folders.classifier)),
        reference_images,
        fixed_latents(train.seed + 1, train.eval_samples, run.model.z_dim),
    )

    # --- resume: only this exact run's checkpoint; workers of a multi-worker run
    # must start from the same state, so they never resume. The probe's curve is
    # replayed on resume, so its classifier and reference images are part of the run.
    probe_inputs = ((folders.classifier / WEIGHTS_FILE).read_bytes(), reference_images.tobytes())
    identity = checkpoint.run_identity(
        run.params(), data.images, data.labels, run.code, probe_inputs
    )
    if is_multi_worker(strategy):
        state = Checkpoint(identity, 0, checkpoint.trainer_state(trainer))
    else:
        state = _resume(folders.checkpoints, identity, trainer)

    # --- the loop: compiled calls, each ending on a step where some work is due
    work, step, window = PeriodicWork.of(train), state.step, _LossWindow()
    resumed_at_end = step == train.steps  # the loop below runs no step
    with (
        Live(str(folders.live), dvcyaml=False, save_dvc_exp=False) as live,
        tqdm(total=train.steps, initial=step, unit="step",
             disable=None if progress is None else not progress) as bar,
    ):  # fmt: skip
        for event in state.history:  # a resumed run replays what was logged before
            _write(live, event, state.grids)

        def record(event: Event) -> None:
            state.history.append(event)
            _write(live, event, state.grids)

        for size in work.calls(step, train.steps_per_call):
            means = trainer.train(size)
            _check_finite(means, step, size)
            step += size
            window.add(means, size)
            bar.update(size)
            bar.set_postfix({name: f"{value:.3f}" for name, value in means._asdict().items()})

            if work.due(step, work.log_every):
                record(Logged(step, window.take()))
            sample, evaluate = work.due(step, work.sample_every), work.due(step, work.eval_every)
            if sample or evaluate:  # both draw from the average: calibrate it once
                gan.calibrate_average(train.seed)
            if sample:
                pixels = generate_pixels(gan.sampler, grid_z, grid_labels)
                state.grids.append(image_grid(pixels, GRID_SIDE, GRID_SIDE))
                record(Sampled(step, len(state.grids) - 1))
            if evaluate:
                record(Logged(step, probe(gan), prefix="eval/"))
            if work.due(step, work.checkpoint_every):
                state.step, state.variables = step, checkpoint.trainer_state(trainer)
                checkpoint.save(folders.checkpoints, state)

    if resumed_at_end:  # otherwise the last step's grid and probe calibrated the average
        gan.calibrate_average(train.seed)
    return TrainedGAN(gan, np.stack(state.grids), state.last_logged())
