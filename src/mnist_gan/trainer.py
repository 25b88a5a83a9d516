"""The compiled GAN trainer: explicit gradient tapes over each network's own
variables, many steps per compiled call, batches sampled inside the graph from a
device-resident dataset.

The seed's loop ("GANs in Action" ch. 3) calls `predict` and three `train_on_batch`
per iteration: 70 to 96 ms per iteration on a 2-core CPU (bench/train_speed.py, two
sessions), mostly Python and dispatch overhead. Here one `tf.function` call runs
`steps_per_call` steps in a `tf.while_loop` (2.2 to 3.3 ms per step for the same MLP
with XLA), and the host only reads back the mean metrics once per call.

Why not the Keras idiom of keras-io's GAN examples (a `keras.Model` whose
`train_step` holds the two tapes, run by `fit(steps_per_execution=N)`)? It was
measured (bench/train_speed.py's fit rows, and three alternating repeats on a 2-core
CPU, ms per step):

- default conditional DCGAN, batch 64: trainer 31.0 / 34.4 / 31.5, fit 28.8 / 34.1 /
  32.6: the same speed within noise;
- the book's MLP, batch 128: trainer with XLA 2.5 / 2.4 / 2.9 (without 3.3 / 3.8 /
  3.5), fit 6.8 / 4.2 / 6.8, 1.6 to 2.9x slower. Keras refuses `jit_compile` while op
  determinism is on (keras.src.trainers.trainer.model_supports_jit), and determinism
  is what makes reruns byte-identical, so under fit the MLP cannot have XLA.

And it would not keep resume and reproducibility as they are: `fit` draws batches
from a `tf.data` iterator whose position the checkpoint does not hold (here one RNG
state does), its callbacks see the step only every N steps, so grids, probes and
checkpoints at absolute steps would take one `fit` call per chunk, and under a
distribution strategy each replica would draw its own batches instead of its slice
of one global batch (here any replica count trains on one device's data).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from mnist_gan.augment import AUGMENTATIONS, augment, randoms_needed
from mnist_gan.config import Adam, ModelConfig, TrainConfig
from mnist_gan.errors import ParamsError, registry_entry
from mnist_gan.gan import GAN, ema_update
from mnist_gan.losses import LOSSES, strongest, top_k_fraction
from mnist_gan.models import architecture
from mnist_gan.penalties import EVERY_UPDATE, PENALTIES, interpolation_alpha
from mnist_gan.schedules import SCHEDULES, Schedule


def xla_compiles(train: TrainConfig) -> bool:
    """Whether XLA can compile this training step: not with top-k (`train.top_k` < 1),
    whose number of kept fakes changes during the run, and XLA needs fixed shapes."""
    return train.top_k == 1


def check_choices(model: ModelConfig, train: TrainConfig) -> None:
    """Validate the params that name registry entries, before any work: the
    architecture, the loss, the learning-rate schedule, every penalty and
    augmentation, the penalty a loss requires, and XLA only without top-k."""
    architecture(model.arch)
    registry_entry(SCHEDULES, train.lr_schedule, "train.lr_schedule", "schedules.SCHEDULES")
    loss = registry_entry(LOSSES, train.loss, "train.loss", "losses.LOSSES")
    for name in train.penalties:
        registry_entry(PENALTIES, name, "a key of train.penalties", "penalties.PENALTIES")
    for name in train.augment:
        registry_entry(AUGMENTATIONS, name, "train.augment", "augment.AUGMENTATIONS")
    if train.jit is True and not xla_compiles(train):
        raise ParamsError(
            f"train.top_k = {train.top_k} keeps a changing number of fakes, which XLA "
            "cannot compile: set -S train.jit=false, or -S train.top_k=1 (off)"
        )
    if loss.requires_penalty and not train.penalties.get(loss.requires_penalty):
        raise ParamsError(
            f"train.loss = {train.loss!r} needs train.penalties.{loss.requires_penalty} "
            "above 0 (10 in Gulrajani et al. 2017): set it with "
            f"-S train.penalties.{loss.requires_penalty}=10"
        )


class StepMetrics(NamedTuple):
    """What a training step reports, as scalars (tensors inside the graph, float32
    outside): D's loss over its last update, G's loss, and D's accuracy in [0, 1] (how
    often it calls real real and fake fake, the seed's "accuracy")."""

    d_loss: float
    g_loss: float
    d_accuracy: float


class Batches(NamedTuple):
    """Global batches, each part with a leading [batches, batch_size]: real images
    float32 [.., 28, 28, 1] and labels int32, latents float32 [.., z_dim],
    gradient-penalty alpha float32 [.., 1, 1, 1], and the augmentation's uniform
    numbers float32 [.., 2, k] (for the real and the fake images; k = 0 without
    augmentation)."""

    real: tf.Tensor
    real_labels: tf.Tensor
    z: tf.Tensor
    alpha: tf.Tensor
    augment: tf.Tensor


class DiscriminatorLoss(NamedTuple):
    """One D update's logits for the real and the fake images [b, 1], its loss (a
    scalar), and the loss plus penalties, scaled for the gradients (`target`)."""

    real_logits: tf.Tensor
    fake_logits: tf.Tensor
    loss: tf.Tensor
    target: tf.Tensor


class GANTrainer:
    """Holds the optimizers, the data on the device and the compiled multi-step loop.

    images: float32 [N, 28, 28, 1] in [-1, 1], the training set; labels: int [N] in
    0..9 (read by conditional networks). `strategy` is the tf.distribute strategy the
    GAN's networks were built under (default: none, one device). Each step draws one
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
        self.loss = registry_entry(LOSSES, config.loss, "train.loss", "losses.LOSSES")
        # Split once: the eager penalties come at every D update, the lazy ones (with
        # train.penalty_every > 1, all but penalties.EVERY_UPDATE) on every N-th.
        self.eager_penalties, self.lazy_penalties = {}, {}
        for name, weight in config.active_penalties().items():
            eager = config.penalty_every == 1 or name in EVERY_UPDATE
            (self.eager_penalties if eager else self.lazy_penalties)[PENALTIES[name]] = weight
        schedule = registry_entry(
            SCHEDULES, config.lr_schedule, "train.lr_schedule", "schedules.SCHEDULES"
        )
        with self.strategy.scope():
            self.g_optimizer = self._adam(config.g_adam, schedule, config.steps, config.precision)
            self.d_optimizer = self._adam(
                config.d_adam, schedule, config.steps * config.d_steps, config.precision
            )
            # Build optimizer slots before tracing: variables cannot be created in a loop.
            self.g_optimizer.build(gan.generator.model.trainable_variables)
            self.d_optimizer.build(gan.discriminator.model.trainable_variables)
        self.updates_per_epoch = len(images) / config.batch_size  # G updates per pass
        self.images = tf.constant(images, dtype=tf.float32)
        self.labels = tf.constant(labels, dtype=tf.int32)
        # Outside the strategy scope: one stream on the host draws every global batch.
        self.rng = tf.random.Generator.from_seed(config.seed)
        # XLA does not compile cross-device all-reduces: it is for one device only.
        self._run = tf.function(self._run_steps, jit_compile=jit and self.replicas == 1)

    @staticmethod
    def _adam(
        config: Adam, schedule: Schedule, updates: int, precision: str
    ) -> keras.optimizers.Optimizer:
        """Adam with `config`, its learning rate following `schedule` over the run's
        `updates` updates."""
        learning_rate = schedule(config.learning_rate, updates)
        adam = keras.optimizers.Adam(learning_rate, config.beta_1, config.beta_2)
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
        z_dim = self.gan.config.z_dim
        index = self.rng.uniform([size], 0, count, dtype=tf.int64)
        shape = [batches, self.batch_size]
        real = tf.reshape(tf.gather(self.images, index), [*shape, *self.images.shape[1:]])
        real_labels = tf.reshape(tf.gather(self.labels, index), shape)
        z = tf.reshape(self.rng.normal([size, z_dim]), [*shape, z_dim])
        alpha = tf.reshape(interpolation_alpha(self.rng, size), [*shape, 1, 1, 1])
        k = randoms_needed(self.config.augment)
        # Drawn last, and only with augmentation: without it the stream is unchanged.
        augment = self.rng.uniform([*shape, 2, k]) if k else tf.zeros([*shape, 2, 0])
        return Batches(real, real_labels, z, alpha, augment)

    def _step(self) -> StepMetrics:
        """`d_steps` D updates, one G update (after them, or with the one D update when
        `train.updates` is simultaneous) and the EMA update."""
        d_batches = self._draw(self.config.d_steps)
        if self.config.updates == "simultaneous":
            per_replica = self.strategy.run(self._simultaneous_step, args=(d_batches,))
        elif self.config.updates == "shared_fakes":
            per_replica = self.strategy.run(self._shared_fakes_step, args=(d_batches,))
        else:
            g_batch = self._draw(1)
            per_replica = self.strategy.run(self._alternating_step, args=(d_batches, g_batch))
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

    def _slice(self, batches: Batches, index: int) -> Batches:
        """Batch `index` of `batches`, this replica's rows of it."""
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        rows = slice(replica * self.per_replica, (replica + 1) * self.per_replica)
        return Batches(*(part[index][rows] for part in batches))

    def _seen(self, images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """What D sees of `images`: them augmented by `train.augment` with the uniform
        numbers `u` [b, k], or them unchanged without augmentation."""
        policy = self.config.augment
        return augment(images, policy, u) if policy else images

    def _discriminator_loss(self, batch: Batches, fake: tf.Tensor) -> DiscriminatorLoss:
        """D's logits for `batch`'s real images and `fake` (as D sees them), its loss,
        and the loss with the penalties to differentiate."""
        gan = self.gan
        real_seen = self._seen(batch.real, batch.augment[:, 0])
        fake_seen = self._seen(fake, batch.augment[:, 1])
        real_logits = gan.discriminator(real_seen, batch.real_labels, training=True)
        fake_logits = gan.discriminator(fake_seen, batch.real_labels, training=True)
        loss = self.loss.discriminator(real_logits, fake_logits)  # logits: [b, 1]
        target = self._for_gradients(self.d_optimizer, loss + self._penalties(batch, fake))
        return DiscriminatorLoss(real_logits, fake_logits, loss, target)

    def _alternating_step(self, d_batches: Batches, g_batch: Batches) -> StepMetrics:
        """Alternating updates: `d_steps` D updates, then G's on fakes of its own batch,
        scored by the updated D."""
        gan = self.gan
        for index in range(self.config.d_steps):
            batch = self._slice(d_batches, index)
            with tf.GradientTape() as tape:
                fake = gan.generator(batch.z, batch.real_labels, training=True)
                d = self._discriminator_loss(batch, fake)
            variables = gan.discriminator.model.trainable_variables
            self.d_optimizer.apply(tape.gradient(d.target, variables), variables)

        batch = self._slice(g_batch, 0)
        with tf.GradientTape() as tape:
            fake = gan.generator(batch.z, batch.real_labels, training=True)
            g_loss, g_target = self._generator_target(batch, fake)
        variables = gan.generator.model.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_target, variables), variables)
        return self._metrics(d, g_loss)

    def _shared_fakes_step(self, d_batches: Batches) -> StepMetrics:
        """D's update, then G's on the same fakes, scored by the updated D: G's forward
        pass is recorded once and serves both updates."""
        gan = self.gan
        batch = self._slice(d_batches, 0)
        with tf.GradientTape(persistent=True) as tape:
            fake = gan.generator(batch.z, batch.real_labels, training=True)
            d = self._discriminator_loss(batch, fake)
            d_variables = gan.discriminator.model.trainable_variables
            # Inside the tape, so that D's update comes before G's pass through D;
            # D's gradient and update are kept off the tape, which G's gradient
            # does not need.
            with tape.stop_recording():
                self.d_optimizer.apply(tape.gradient(d.target, d_variables), d_variables)
            g_loss, g_target = self._generator_target(batch, fake)
        g_variables = gan.generator.model.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_target, g_variables), g_variables)
        del tape
        return self._metrics(d, g_loss)

    def _simultaneous_step(self, d_batches: Batches) -> StepMetrics:
        """Simultaneous updates: D's and G's gradients from one pass over the same
        fakes, both taken before either network changes."""
        gan = self.gan
        batch = self._slice(d_batches, 0)
        with tf.GradientTape(persistent=True) as tape:
            fake = gan.generator(batch.z, batch.real_labels, training=True)
            d = self._discriminator_loss(batch, fake)
            g_loss = self._generator_loss(d.fake_logits)
            g_target = self._for_gradients(self.g_optimizer, g_loss)
        d_variables = gan.discriminator.model.trainable_variables
        g_variables = gan.generator.model.trainable_variables
        d_gradients = tape.gradient(d.target, d_variables)
        g_gradients = tape.gradient(g_target, g_variables)
        del tape
        self.d_optimizer.apply(d_gradients, d_variables)
        self.g_optimizer.apply(g_gradients, g_variables)
        return self._metrics(d, g_loss)

    def _generator_target(self, batch: Batches, fake: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """G's loss on `fake` [b, 28, 28, 1] as D sees it (augmented like D's fakes),
        scored by D as it is now, and that loss to differentiate."""
        seen = self._seen(fake, batch.augment[:, 1])
        logits = self.gan.discriminator(seen, batch.real_labels, training=True)
        g_loss = self._generator_loss(logits)
        return g_loss, self._for_gradients(self.g_optimizer, g_loss)

    def _metrics(self, d: DiscriminatorLoss, g_loss: tf.Tensor) -> StepMetrics:
        """The step's metrics from D's last update and G's loss."""
        threshold = self.loss.decision_threshold
        correct_real = tf.reduce_mean(tf.cast(d.real_logits > threshold, tf.float32))
        correct_fake = tf.reduce_mean(tf.cast(d.fake_logits < threshold, tf.float32))
        return StepMetrics(d.loss, g_loss, 0.5 * (correct_real + correct_fake))

    def _generator_loss(self, fake_logits: tf.Tensor) -> tf.Tensor:
        """G's loss on D's logits for its fakes [b, 1]; with `train.top_k` < 1 on the
        fraction of them D rates most real that the G update's number sets (the
        optimizer's counter: in the checkpoint, so a resumed run keeps the schedule).
        Under a distribution strategy each replica keeps that fraction of its own slice,
        not of the global batch."""
        config = self.config
        if config.top_k < 1:
            fraction = top_k_fraction(
                self.g_optimizer.iterations, self.updates_per_epoch, config.top_k,
                config.top_k_decay,
            )  # fmt: skip
            fake_logits = strongest(fake_logits, fraction)
        return self.loss.generator(fake_logits)

    def _penalties(self, batch: Batches, fake: tf.Tensor) -> tf.Tensor:
        """The sum of every active penalty times its weight (0 with none). With
        `train.penalty_every` N > 1 the lazy ones (all but penalties.EVERY_UPDATE) are
        N times that on the D updates whose number is a multiple of N, counting from 0
        (so the first update has them), and left out, not computed, on the others."""

        def critic(images: tf.Tensor) -> tf.Tensor:  # fakes share the real labels
            return self.gan.discriminator(images, batch.real_labels, training=True)

        def weighted_sum(penalties: dict, scale: float = 1.0) -> tf.Tensor:
            total = tf.constant(0.0)
            for penalty, weight in penalties.items():
                total += scale * weight * penalty(critic, batch.real, fake, batch.alpha)
            return total

        eager = weighted_sum(self.eager_penalties)
        if not self.lazy_penalties:
            return eager
        every = self.config.penalty_every
        # The optimizer's update counter: in the checkpoint, so a resumed run keeps
        # the same updates regularized.
        updates = tf.convert_to_tensor(self.d_optimizer.iterations)
        lazy = tf.cond(
            tf.equal(updates % every, 0),
            lambda: weighted_sum(self.lazy_penalties, float(every)),
            lambda: tf.constant(0.0),
        )
        return eager + lazy

    def _run_steps(self, steps: tf.Tensor) -> StepMetrics:
        totals = StepMetrics(*(tf.constant(0.0) for _ in StepMetrics._fields))
        for _ in tf.range(steps):
            step = self._step()
            totals = StepMetrics(*(t + v for t, v in zip(totals, step, strict=True)))
        return StepMetrics(*(total / tf.cast(steps, tf.float32) for total in totals))

    def variables(self) -> list[tf.Variable]:
        """Everything a resumed run needs: the networks' weights (with the average),
        both optimizers' slots and step counters, and the random generator's state."""
        gan = self.gan
        average = gan.ema_generator.model.weights if gan.ema_generator is not None else []
        return [
            *gan.generator.model.weights,
            *gan.discriminator.model.weights,
            *average,
            *self.g_optimizer.variables,
            *self.d_optimizer.variables,
            self.rng.state,
        ]

    def state(self) -> list[np.ndarray]:
        return [np.array(variable.numpy()) for variable in self.variables()]

    def restore(self, arrays: list[np.ndarray]) -> None:
        """Load `state()` arrays; ValueError, before changing anything, if they do not
        fit (another count, shape or dtype)."""
        variables = self.variables()
        if len(arrays) != len(variables):
            raise ValueError(f"checkpoint holds {len(arrays)} arrays, expected {len(variables)}")
        for index, (variable, array) in enumerate(zip(variables, arrays, strict=True)):
            expected = (tuple(variable.shape), np.dtype(tf.as_dtype(variable.dtype).as_numpy_dtype))
            if (array.shape, array.dtype) != expected:
                raise ValueError(
                    f"checkpoint array {index} is {array.dtype} {array.shape}, expected "
                    f"{expected[1]} {expected[0]}"
                )
        for variable, array in zip(variables, arrays, strict=True):
            variable.assign(array)

    def train(self, steps: int) -> StepMetrics:
        """Run `steps` steps; returns the metrics' means over them (numpy float32)."""
        means = self._run(tf.constant(steps, tf.int64))
        return StepMetrics(*(value.numpy() for value in means))


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
