"""GAN training: explicit gradient tapes over each model's own variables, many steps
per compiled call, batches sampled inside the graph from a device-resident dataset.

The seed's loop ("GANs in Action" ch. 3) calls `predict` and three `train_on_batch`
per iteration: about 90 ms per iteration on a 2-core CPU, mostly Python and dispatch
overhead. Here one `tf.function` call runs `steps_per_call` steps in a
`tf.while_loop` (about 3 ms per step with XLA; bench/train_speed.py), and the host
only reads back the mean losses once per call.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from mnist_gan.config import Adam, ModelConfig, ParamsError, TrainConfig
from mnist_gan.data import to_unit_range
from mnist_gan.files import atomic_path, write_json
from mnist_gan.losses import LOSSES, gradient_penalty, interpolation_alpha, r1_penalty
from mnist_gan.metrics import frechet_distance, gaussian_moments, inception_score, view
from mnist_gan.models import build_discriminator, build_generator
from mnist_gan.sampling import balanced_labels, generate_pixels

METRIC_NAMES = ("d_loss", "g_loss", "d_accuracy")
GENERATOR_FILE = "generator.weights.h5"
DISCRIMINATOR_FILE = "discriminator.weights.h5"
EMA_GENERATOR_FILE = "generator_ema.weights.h5"
CONFIG_FILE = "gan.json"
PROGRESS_FILE = "progress_grids.npy"
PROBE_BATCH = 1000


# Measured on a 2-core CPU (bench/train_speed.py): XLA runs the MLP's training loop
# 1.3x faster (3.3 vs 4.2 ms/step) and the default conditional DCGAN (width 32,
# batch 64) 8x slower (390 vs 50 ms/step).
XLA_ON_CPU = {"mlp": True, "dcgan": False}


def use_xla(setting: bool | str, arch: str) -> bool:
    """Resolve `train.jit`: "auto" is on with a GPU, else the measured choice per arch."""
    if setting != "auto":
        return bool(setting)
    return bool(tf.config.list_physical_devices("GPU")) or XLA_ON_CPU.get(arch, False)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy for `train.strategy`.

    one_device: the first GPU, else the CPU. mirrored: every GPU of this machine (else
    every logical CPU device, which is how it is tested). multi_worker: one replica set
    per machine listed in the TF_CONFIG environment variable. auto: multi_worker when
    TF_CONFIG is set, mirrored with more than one GPU, else one_device. Create it
    before any other TensorFlow work: multi-worker set-up must come first.
    """
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ParamsError(
                "train.strategy = multi_worker needs the TF_CONFIG environment variable "
                "(cluster addresses and this worker's index); see the README"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.OneDeviceStrategy(devices[0].name)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the outputs: always, except on workers other than
    worker 0 of a multi-worker run."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is None or resolver.task_type is None or resolver.task_id == 0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's CPU kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class GAN:
    """The two networks, and the generator's exponential moving average (None when
    `train.ema` is 0). Conditional models take [inputs, labels]."""

    generator: keras.Model
    discriminator: keras.Model
    ema_generator: keras.Model | None = None
    conditional: bool = False

    def generate(self, z: tf.Tensor, labels: tf.Tensor, training: bool):
        """Images float32 [B, 28, 28, 1] from z [B, z_dim] (and labels [B])."""
        inputs = [tf.convert_to_tensor(z), tf.convert_to_tensor(labels)]
        return self.generator(inputs if self.conditional else inputs[0], training=training)

    def discriminate(self, images: tf.Tensor, labels: tf.Tensor, training: bool = True):
        """Logits float32 [B, 1] of images [B, 28, 28, 1] (and labels [B])."""
        inputs = [tf.convert_to_tensor(images), tf.convert_to_tensor(labels)]
        return self.discriminator(inputs if self.conditional else inputs[0], training=training)

    @property
    def sampler(self) -> keras.Model:
        """The generator to draw samples from: the average when there is one."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def calibrate_average(self, seed: int) -> None:
        """Give the average batch-norm statistics of its own (recalibrate_batch_norm);
        call it before sampling from it."""
        if self.ema_generator is not None:
            z_dim = self.ema_generator.inputs[0].shape[-1]
            recalibrate_batch_norm(self.ema_generator, z_dim, self.conditional, seed)


def build_gan(config: ModelConfig, precision: str = "float32", ema: bool = False) -> GAN:
    """Both models (and with `ema` a copy of the generator, starting from its weights),
    their layers in the dtype policy `precision` (weights stay float32, final layers
    compute in float32); the global Keras policy is left as it was."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        generator = build_generator(config)
        average = None
        if ema:
            average = build_generator(config)
            average.set_weights(generator.get_weights())
        return GAN(generator, build_discriminator(config), average, config.conditional)
    finally:
        keras.config.set_dtype_policy(previous)


def ema_update(average: list, current: list, decay: float) -> None:
    """average <- decay * average + (1 - decay) * current, variable by variable."""
    for mean, value in zip(average, current, strict=True):
        mean.assign(decay * mean + (1.0 - decay) * value)


def recalibrate_batch_norm(
    generator: keras.Model,
    z_dim: int,
    conditional: bool,
    seed: int,
    batches: int = 20,
    batch_size: int = 500,
) -> None:
    """Recompute every batch-norm layer's moving mean and variance for the generator's
    current weights: the exact average over `batches` seeded batches of training-mode
    statistics. An averaged (EMA) generator needs this: the moving statistics the raw
    generator tracked belong to other weights. A no-op without batch norm."""
    norms = [
        layer for layer in generator.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    rng = np.random.default_rng(seed)
    try:
        for index in range(batches):
            # moving = m * moving + (1 - m) * batch with m = k / (k + 1): after batch k
            # the moving value is the plain mean of the first k + 1 batches.
            for layer in norms:
                layer.momentum = index / (index + 1)
            z = rng.standard_normal((batch_size, z_dim)).astype(np.float32)
            labels = balanced_labels(batch_size)
            generator([z, labels] if conditional else z, training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum


class GANTrainer:
    """Holds the optimizers, the data on the device and the compiled multi-step loop.

    images: float32 [N, 28, 28, 1] in [-1, 1], the training set; labels: int [N] in
    0..9 (used by conditional models). `strategy` is the tf.distribute strategy the
    GAN's models were built under (default: none, one device). Each step draws one
    global batch of `config.batch_size` indices, latents and labels, so any number of
    replicas trains on the same data as one device; each replica takes its slice, and
    the optimizers sum the replicas' gradients.
    """

    def __init__(
        self,
        gan: GAN,
        images: np.ndarray,
        labels: np.ndarray,
        config: TrainConfig,
        z_dim: int,
        jit: bool = False,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.gan = gan
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise ParamsError(
                f"train.batch_size = {config.batch_size} must divide evenly over "
                f"{self.replicas} replicas"
            )
        if (gan.ema_generator is not None) != (config.ema > 0):
            raise ValueError("build the GAN with ema=True exactly when train.ema > 0")
        self.batch_size = config.batch_size
        self.per_replica = config.batch_size // self.replicas
        self.z_dim = z_dim
        self.loss = LOSSES[config.loss]
        with self.strategy.scope():
            self.g_optimizer = self._adam(config.g_adam, config.precision)
            self.d_optimizer = self._adam(config.d_adam, config.precision)
            # Build optimizer slots before tracing: variables cannot be created in a loop.
            self.g_optimizer.build(gan.generator.trainable_variables)
            self.d_optimizer.build(gan.discriminator.trainable_variables)
        self.images = tf.constant(images, dtype=tf.float32)
        self.labels = tf.constant(labels, dtype=tf.int32)
        # Outside the strategy scope: one stream on the host draws every global batch.
        self.rng = tf.random.Generator.from_seed(config.seed)
        # XLA does not compile cross-device all-reduces: it is for one device only.
        self._run = tf.function(self._run_steps, jit_compile=jit and self.replicas == 1)

    @staticmethod
    def _adam(config: Adam, precision: str) -> keras.optimizers.Optimizer:
        adam = keras.optimizers.Adam(config.learning_rate, config.beta_1, config.beta_2)
        if precision == "mixed_float16":
            # Scales the loss up before backprop and the gradients down before the
            # update, skipping steps whose gradients overflowed.
            return keras.optimizers.LossScaleOptimizer(adam)
        return adam

    def _for_gradients(self, optimizer: keras.optimizers.Optimizer, loss: tf.Tensor):
        """The loss to differentiate: divided by the replica count (the optimizer sums
        over replicas) and loss-scaled under mixed_float16."""
        loss = loss / self.replicas
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    def _draw(self, batches: int) -> Batches:
        """`batches` global batches from the host stream: real images and their labels
        (which the fakes of a conditional model are also asked for, so each class is
        drawn as often as in the data), latents and gradient-penalty mixing weights."""
        count = tf.shape(self.images, out_type=tf.int64)[0]
        size = batches * self.batch_size
        index = self.rng.uniform([size], 0, count, dtype=tf.int64)
        shape = [batches, self.batch_size]
        return Batches(
            real=tf.reshape(tf.gather(self.images, index), [*shape, *self.images.shape[1:]]),
            real_labels=tf.reshape(tf.gather(self.labels, index), shape),
            z=tf.reshape(self.rng.normal([size, self.z_dim]), [*shape, self.z_dim]),
            alpha=tf.reshape(interpolation_alpha(self.rng, size), [*shape, 1, 1, 1]),
        )

    def _step(self) -> tf.Tensor:
        """`d_steps` D updates, one G update and the EMA update; returns
        [d_loss, g_loss, d_accuracy] (D's over its last update)."""
        d_batches = self._draw(self.config.d_steps)
        g_batch = self._draw(1)
        per_replica = self.strategy.run(self._replica_step, args=(d_batches, g_batch))
        if self.gan.ema_generator is not None:
            # Cross-replica context: the average is written once, to every replica.
            ema_update(
                self.gan.ema_generator.trainable_variables,
                self.gan.generator.trainable_variables,
                self.config.ema,
            )
        return self.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    def _slice(self, batches: Batches, index: int) -> Batches:
        """Batch `index` of `batches`, this replica's rows of it."""
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        rows = slice(replica * self.per_replica, (replica + 1) * self.per_replica)
        return Batches(*(part[index][rows] for part in batches))

    def _replica_step(self, d_batches: Batches, g_batch: Batches) -> tf.Tensor:
        gan, loss = self.gan, self.loss
        for index in range(self.config.d_steps):
            batch = self._slice(d_batches, index)
            with tf.GradientTape() as tape:
                fake = gan.generate(batch.z, batch.real_labels, training=True)
                real_logits = gan.discriminate(batch.real, batch.real_labels)  # [b, 1]
                fake_logits = gan.discriminate(fake, batch.real_labels)
                d_loss = loss.discriminator(real_logits, fake_logits)
                d_total = d_loss + self._penalties(batch, fake)
                d_target = self._for_gradients(self.d_optimizer, d_total)
            variables = gan.discriminator.trainable_variables
            self.d_optimizer.apply(tape.gradient(d_target, variables), variables)

        batch = self._slice(g_batch, 0)
        with tf.GradientTape() as tape:
            fake = gan.generate(batch.z, batch.real_labels, training=True)
            g_loss = loss.generator(gan.discriminate(fake, batch.real_labels))
            g_target = self._for_gradients(self.g_optimizer, g_loss)
        variables = gan.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_target, variables), variables)

        # The seed's "accuracy": how often D calls real real and fake fake.
        threshold = loss.decision_threshold
        correct_real = tf.reduce_mean(tf.cast(real_logits > threshold, tf.float32))
        correct_fake = tf.reduce_mean(tf.cast(fake_logits < threshold, tf.float32))
        return tf.stack([d_loss, g_loss, 0.5 * (correct_real + correct_fake)])

    def _penalties(self, batch: Batches, fake: tf.Tensor) -> tf.Tensor:
        """The loss's gradient penalty and the R1 penalty, each times its weight."""
        total = tf.constant(0.0)

        def critic(images: tf.Tensor) -> tf.Tensor:  # fakes share the real labels
            return self.gan.discriminate(images, batch.real_labels)

        if self.loss.penalty_weight:
            penalty = gradient_penalty(critic, batch.real, fake, batch.alpha)
            total += self.loss.penalty_weight * penalty
        if self.config.r1_gamma:
            total += 0.5 * self.config.r1_gamma * r1_penalty(critic, batch.real)
        return total

    def _run_steps(self, steps: tf.Tensor) -> tf.Tensor:
        totals = tf.zeros([len(METRIC_NAMES)])
        for _ in tf.range(steps):
            totals += self._step()
        return totals / tf.cast(steps, tf.float32)

    def variables(self) -> list[tf.Variable]:
        """Everything a resumed run needs: the models' weights (with the average),
        both optimizers' slots and step counters, and the random generator's state."""
        gan = self.gan
        average = gan.ema_generator.weights if gan.ema_generator is not None else []
        return [
            *gan.generator.weights,
            *gan.discriminator.weights,
            *average,
            *self.g_optimizer.variables,
            *self.d_optimizer.variables,
            self.rng.state,
        ]

    def state(self) -> list[np.ndarray]:
        return [np.array(variable.numpy()) for variable in self.variables()]

    def restore(self, arrays: list[np.ndarray]) -> None:
        variables = self.variables()
        if len(arrays) != len(variables):
            raise ValueError(f"checkpoint holds {len(arrays)} arrays, expected {len(variables)}")
        for variable, array in zip(variables, arrays, strict=True):
            variable.assign(array)

    def train(self, steps: int) -> np.ndarray:
        """Run `steps` steps; returns float32 [3], the mean d_loss, g_loss, d_accuracy."""
        return self._run(tf.constant(steps, tf.int64)).numpy()


class Batches(NamedTuple):
    """Global batches, each part with a leading [batches, batch_size]: real images
    float32 [.., 28, 28, 1] and labels int32, latents float32 [.., z_dim],
    gradient-penalty alpha float32 [.., 1, 1, 1]."""

    real: tf.Tensor
    real_labels: tf.Tensor
    z: tf.Tensor
    alpha: tf.Tensor


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


Periodic = tuple[int, Callable[[int], None]]


def run_training(
    trainer: GANTrainer,
    config: TrainConfig,
    on_log: Callable[[int, dict[str, float]], None],
    periodic: tuple[Periodic, ...] = (),
    on_progress: Callable[[int, dict[str, float]], None] = lambda steps, metrics: None,
    start: int = 0,
) -> dict[str, float]:
    """Train for `config.steps` steps. Every `log_every` steps (and at the end) call
    `on_log(step, means)` with the metrics averaged over the steps since the last log;
    for each `(period, callback)` of `periodic`, call `callback(step)` every `period`
    steps and at the end. Returns the last logged means. A run resumed from a
    checkpoint passes its step as `start` (a multiple of `log_every`).

    Raises FloatingPointError, naming the steps, if a loss becomes NaN or infinite.
    """
    step = start
    window_sum = np.zeros(len(METRIC_NAMES))
    window_steps = 0
    last: dict[str, float] = {}
    periods = (config.log_every, *(period for period, _ in periodic))
    for size in chunks(config.steps, config.steps_per_call, periods, start):
        means = trainer.train(size)
        current = dict(zip(METRIC_NAMES, means.tolist(), strict=True))
        if not np.all(np.isfinite(means)):
            raise FloatingPointError(
                f"training diverged between steps {step} and {step + size}: {current}"
            )
        step += size
        window_sum += means * size
        window_steps += size
        on_progress(size, current)
        done = step == config.steps
        if step % config.log_every == 0 or done:
            last = dict(zip(METRIC_NAMES, (window_sum / window_steps).tolist(), strict=True))
            on_log(step, last)
            window_sum[:], window_steps = 0, 0
        for period, callback in periodic:
            if step % period == 0 or done:
                callback(step)
    return last


class QualityProbe:
    """A cheap FID and classifier score of a generator during training: a fixed set of
    latents (and balanced labels), quantized to pixels like the final samples, against
    the reference images' feature statistics (computed once).

    reference_images: float32 [M, 28, 28, 1] in [-1, 1]; latents: float32 [N, z_dim].
    """

    def __init__(self, extractor: keras.Model, reference_images: np.ndarray, latents: np.ndarray):
        self.extractor = extractor
        self.latents = latents
        self.labels = balanced_labels(len(latents))
        self.reference = gaussian_moments(view(extractor, reference_images, PROBE_BATCH).features)

    def __call__(self, gan: GAN) -> dict[str, float]:
        labels = self.labels if gan.conditional else None
        pixels = generate_pixels(gan.sampler, self.latents, labels)
        samples = view(self.extractor, to_unit_range(pixels), PROBE_BATCH)
        return {
            "fid": frechet_distance(*gaussian_moments(samples.features), *self.reference),
            "inception_score": inception_score(samples.probabilities),
        }


def save_gan(gan: GAN, folder: Path, description: dict) -> None:
    """Write the models' weights (byte-reproducible .h5: the generator, the
    discriminator and, with EMA, the averaged generator) and `gan.json`, which must hold
    the "model" config the generators are rebuilt from."""
    folder = Path(folder)
    models = [(gan.generator, GENERATOR_FILE), (gan.discriminator, DISCRIMINATOR_FILE)]
    if gan.ema_generator is not None:
        models.append((gan.ema_generator, EMA_GENERATOR_FILE))
    for model, name in models:
        with atomic_path(folder / name) as tmp:
            model.save_weights(tmp)
    stale = folder / EMA_GENERATOR_FILE
    if gan.ema_generator is None and stale.exists():
        stale.unlink()  # from an earlier run with EMA: it would be sampled instead
    write_json(folder / CONFIG_FILE, description)


def load_generator(folder: Path) -> tuple[keras.Model, ModelConfig]:
    """The generator to sample from: the averaged one when training kept an average,
    else the raw one. Rebuilt from `gan.json` in code with only the weights loaded; no
    deserialized code runs (safer than loading a pickled or Lambda-bearing model)."""
    folder = Path(folder)
    description = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    config = ModelConfig.model_validate(description["model"])
    generator = build_generator(config)
    averaged = folder / EMA_GENERATOR_FILE
    generator.load_weights(averaged if averaged.exists() else folder / GENERATOR_FILE)
    return generator, config
