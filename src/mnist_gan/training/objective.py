"""What a training step's two updates minimize, on one replica's slice of a batch: D's
loss with its penalties, G's loss with top-k, both on what D sees of the images (the
augmentation), scaled for the gradients; and the metrics a step reports.

The update modes (updates.UPDATES) decide how the two updates meet; this module holds
everything they share, so each mode reads as its tapes and optimizer calls only.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf

from mnist_gan.core.config import TrainConfig
from mnist_gan.networks.gan import GAN
from mnist_gan.training.augment import augment
from mnist_gan.training.losses import LOSSES, TopK
from mnist_gan.training.penalties import Regularizer


class StepMetrics(NamedTuple):
    """What a training step reports, as scalars (tensors inside the graph, float32
    outside): D's loss over its last update, G's loss, and D's accuracy in [0, 1] (how
    often it calls real real and fake fake, the book's "accuracy")."""

    d_loss: float
    g_loss: float
    d_accuracy: float


class Batches(NamedTuple):
    """Batches of training inputs, each part with a leading [batches, batch_size] (the
    trainer's global draw) or [batch_size] (one replica's slice of one batch): real
    images float32 [.., 28, 28, 1] and their labels int32, latents float32 [.., z_dim],
    gradient-penalty alpha float32 [.., 1, 1, 1], and the augmentation's uniform numbers
    float32 [.., 2, k] (for the real and the fake images; k = 0 without augmentation)."""

    real: tf.Tensor
    real_labels: tf.Tensor
    z: tf.Tensor
    alpha: tf.Tensor
    augment: tf.Tensor


class DiscriminatorLoss(NamedTuple):
    """One D update's logits for the real and the fake images [b, 1], its loss (a
    scalar, as logged), and the loss plus penalties scaled for the gradients."""

    real_logits: tf.Tensor
    fake_logits: tf.Tensor
    loss: tf.Tensor
    to_differentiate: tf.Tensor


class GeneratorLoss(NamedTuple):
    """G's loss (a scalar, as logged) and the same scaled for the gradients."""

    loss: tf.Tensor
    to_differentiate: tf.Tensor


class GANObjective:
    """The GAN, both optimizers, and the losses the update modes differentiate.

    `updates_per_epoch` is G's updates per pass over the training set (top-k's
    schedule counts passes); `replicas` the strategy's replica count (each replica's
    loss is divided by it: the optimizers sum the replicas' gradients).
    """

    def __init__(
        self,
        gan: GAN,
        config: TrainConfig,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer,
        updates_per_epoch: float,
        replicas: int = 1,
    ):
        self.gan = gan
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        self.loss = LOSSES[config.loss]
        self.augmentations = tuple(config.augment)
        self.regularizer = Regularizer(config.active_penalties(), config.penalty_every)
        self.top_k = TopK(config.top_k, config.top_k_decay, updates_per_epoch)
        self.replicas = replicas

    def as_d_sees(self, images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """`images` augmented by `train.augment` with the uniform numbers `u` [b, k], or
        unchanged without augmentation."""
        return augment(images, self.augmentations, u) if self.augmentations else images

    def scaled(self, optimizer: keras.optimizers.Optimizer, loss: tf.Tensor) -> tf.Tensor:
        """The loss to differentiate for `optimizer`: divided by the replica count and
        loss-scaled under mixed_float16 (a LossScaleOptimizer)."""
        loss = loss / self.replicas
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss

    def discriminator_loss(self, batch: Batches, fake: tf.Tensor) -> DiscriminatorLoss:
        """D's logits for `batch`'s real images and `fake` [b, 28, 28, 1] (both as D sees
        them), its loss, and the loss with the penalties due at this D update."""
        discriminator = self.gan.discriminator
        real_seen = self.as_d_sees(batch.real, batch.augment[:, 0])
        fake_seen = self.as_d_sees(fake, batch.augment[:, 1])
        real_logits = discriminator(real_seen, batch.real_labels, training=True)
        fake_logits = discriminator(fake_seen, batch.real_labels, training=True)
        loss = self.loss.discriminator(real_logits, fake_logits)  # logits: [b, 1]

        def critic(images: tf.Tensor) -> tf.Tensor:  # fakes share the real labels
            return discriminator(images, batch.real_labels, training=True)

        penalties = self.regularizer(
            critic, batch.real, fake, batch.alpha, self.d_optimizer.iterations
        )
        to_differentiate = self.scaled(self.d_optimizer, loss + penalties)
        return DiscriminatorLoss(real_logits, fake_logits, loss, to_differentiate)

    def generator_loss(self, fake_logits: tf.Tensor) -> GeneratorLoss:
        """G's loss on D's logits for its fakes [b, 1], on the fraction of them that
        top-k keeps at this G update (the optimizer's counter, in the checkpoint, so a
        resumed run keeps the schedule). Under a distribution strategy each replica
        keeps that fraction of its own slice."""
        kept = self.top_k.kept(fake_logits, self.g_optimizer.iterations)
        loss = self.loss.generator(kept)
        return GeneratorLoss(loss, self.scaled(self.g_optimizer, loss))

    def generator_loss_on(self, batch: Batches, fake: tf.Tensor) -> GeneratorLoss:
        """G's loss on `fake` [b, 28, 28, 1] as D sees it (augmented like D's fakes),
        scored by D as it is now."""
        seen = self.as_d_sees(fake, batch.augment[:, 1])
        return self.generator_loss(self.gan.discriminator(seen, batch.real_labels, training=True))

    def metrics(self, d: DiscriminatorLoss, g: GeneratorLoss) -> StepMetrics:
        """The step's metrics from D's last update and G's loss."""
        threshold = self.loss.decision_threshold
        correct_real = tf.reduce_mean(tf.cast(d.real_logits > threshold, tf.float32))
        correct_fake = tf.reduce_mean(tf.cast(d.fake_logits < threshold, tf.float32))
        return StepMetrics(d.loss, g.loss, 0.5 * (correct_real + correct_fake))
