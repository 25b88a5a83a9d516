"""The compiled GAN trainer: many steps per compiled call, batches sampled inside the
graph from a device-resident dataset, explicit gradient tapes over each network's own
variables (the update modes of updates.UPDATES).

One `tf.function` call runs `steps_per_call` steps in a `tf.while_loop`, and the host
reads back only the mean metrics once per call. Batches come from one seeded random
stream whose state is a variable, so a checkpoint that holds it resumes the same
batches, and any number of replicas trains on the same global batches as one device.
Why this loop and not Keras' `fit`: docs/engineering.md.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from mnist_gan.core.config import Adam, TrainConfig
from mnist_gan.core.errors import ParamsError
from mnist_gan.networks.gan import GAN, ema_update
from mnist_gan.training.augment import randoms_needed
from mnist_gan.training.choices import check_choices
from mnist_gan.training.objective import Batches, GANObjective, StepMetrics
from mnist_gan.training.penalties import interpolation_alpha
from mnist_gan.training.schedules import SCHEDULES, Schedule
from mnist_gan.training.updates import UPDATES


def build_adam(
    config: Adam, schedule: Schedule, updates: int, precision: str
) -> keras.optimizers.Optimizer:
    """Adam with `config`, its learning rate following `schedule` over the run's
    `updates` updates; under mixed_float16 wrapped to scale the loss up before backprop
    and the gradients down before the update, skipping steps whose gradients overflowed."""
    adam = keras.optimizers.Adam(schedule(config.learning_rate, updates), config.beta_1,
                                 config.beta_2)  # fmt: skip
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(adam)
    return adam


class GANTrainer:
    """Holds the optimizers, the data on the device and the compiled multi-step loop.

    images: float32 [N, 28, 28, 1] in [-1, 1], the training set; labels: int [N] in
    0..9 (read by conditional networks). `jit`: compile the loop with XLA (one device
    only: XLA does not compile cross-device all-reduces). `strategy` is the
    tf.distribute strategy the GAN's networks were built under (default: none, one
    device). Each step draws one global batch of `config.batch_size` indices, latents
    and labels; each replica takes its slice, and the optimizers sum the replicas'
    gradients.
    """

    def __init__(
        self,
        gan: GAN,
        images: np.ndarray,
        labels: np.ndarray,
        config: TrainConfig,
        jit: bool = False,
        strategy: tf.distribute.Strategy | None = None,
    ):
        check_choices(gan.config, config)
        self.gan = gan
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ParamsError(
                f"train.batch_size = {config.batch_size} must divide evenly over "
                f"{replicas} replicas"
            )
        if (gan.ema_generator is not None) != (config.ema > 0):
            raise ValueError("build the GAN with ema=True exactly when train.ema > 0")
        self.per_replica = config.batch_size // replicas
        self.update_mode = UPDATES[config.updates]
        schedule = SCHEDULES[config.lr_schedule]
        with self.strategy.scope():
            self.g_optimizer = build_adam(config.g_adam, schedule, config.steps, config.precision)
            self.d_optimizer = build_adam(
                config.d_adam, schedule, config.steps * config.d_steps, config.precision
            )
            # Build optimizer slots before tracing: variables cannot be created in a loop.
            self.g_optimizer.build(gan.generator.model.trainable_variables)
            self.d_optimizer.build(gan.discriminator.model.trainable_variables)
        self.objective = GANObjective(
            gan, config, self.g_optimizer, self.d_optimizer,
            updates_per_epoch=len(images) / config.batch_size, replicas=replicas,
        )  # fmt: skip
        self.images = tf.constant(images, dtype=tf.float32)
        self.labels = tf.constant(labels, dtype=tf.int32)
        # Outside the strategy scope: one stream on the host draws every global batch.
        self.rng = tf.random.Generator.from_seed(config.seed)
        self._run = tf.function(self._run_steps, jit_compile=jit and replicas == 1)

    def draw(self, batches: int) -> Batches:
        """`batches` global batches from the host stream: real images and their labels
        (which the fakes of a conditional model are also asked for, so each class is
        drawn as often as in the data), latents and gradient-penalty mixing weights."""
        count = tf.shape(self.images, out_type=tf.int64)[0]
        size = batches * self.config.batch_size
        z_dim = self.gan.config.z_dim
        index = self.rng.uniform([size], 0, count, dtype=tf.int64)
        shape = [batches, self.config.batch_size]
        real = tf.reshape(tf.gather(self.images, index), [*shape, *self.images.shape[1:]])
        real_labels = tf.reshape(tf.gather(self.labels, index), shape)
        z = tf.reshape(self.rng.normal([size, z_dim]), [*shape, z_dim])
        alpha = tf.reshape(interpolation_alpha(self.rng, size), [*shape, 1, 1, 1])
        k = randoms_needed(self.config.augment)
        # Drawn last, and only with augmentation: without it the stream is unchanged.
        augment = self.rng.uniform([*shape, 2, k]) if k else tf.zeros([*shape, 2, 0])
        return Batches(real, real_labels, z, alpha, augment)

    def replica_slice(self, batches: Batches, index: int) -> Batches:
        """Batch `index` of `batches`, the rows of it that belong to this replica."""
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        rows = slice(replica * self.per_replica, (replica + 1) * self.per_replica)
        return Batches(*(part[index][rows] for part in batches))

    def replica_step(self, d_batches: Batches, g_batch: Batches | None = None) -> StepMetrics:
        """The update mode's step on this replica's slices of the global batches."""
        d_slices = [self.replica_slice(d_batches, index) for index in range(self.config.d_steps)]
        g_slice = None if g_batch is None else self.replica_slice(g_batch, 0)
        return self.update_mode.step(self.objective, d_slices, g_slice)

    def step(self) -> StepMetrics:
        """One step: D's and G's updates (as `train.updates` says) and the average's
        update. `train` runs many of these in one compiled call."""
        args = (self.draw(self.config.d_steps),)
        if self.update_mode.fresh_generator_batch:
            args += (self.draw(1),)
        per_replica = self.strategy.run(self.replica_step, args=args)
        if self.gan.ema_generator is not None:
            # Cross-replica context: the average is written once, to every replica.
            ema_update(
                self.gan.ema_generator.model.trainable_variables,
                self.gan.generator.model.trainable_variables,
                self.config.ema,
            )
        return StepMetrics(
            *(
                self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for value in per_replica
            )
        )

    def _run_steps(self, steps: tf.Tensor) -> StepMetrics:
        totals = StepMetrics(*(tf.constant(0.0) for _ in StepMetrics._fields))
        for _ in tf.range(steps):
            step = self.step()
            totals = StepMetrics(*(t + v for t, v in zip(totals, step, strict=True)))
        return StepMetrics(*(total / tf.cast(steps, tf.float32) for total in totals))

    def train(self, steps: int) -> StepMetrics:
        """Run `steps` steps; returns the metrics' means over them (numpy float32)."""
        means = self._run(tf.constant(steps, tf.int64))
        return StepMetrics(*(value.numpy() for value in means))
