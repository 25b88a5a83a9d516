"""How a training step's D and G updates meet, chosen by `train.updates`.

Each mode is one function, `mode(objective, d_batches, g_batch) -> StepMetrics`, run on
each replica: `d_batches` holds `train.d_steps` slices for D's updates (one for the
modes that make one D update per G update), `g_batch` a fresh slice for G's update
(None for the modes that reuse D's). It records its tapes and applies both optimizers;
what is minimized is the objective's (objective.GANObjective). Adding a mode is one
function and one entry of `UPDATES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import tensorflow as tf

from mnist_gan.training.objective import Batches, GANObjective, StepMetrics


def alternating(
    objective: GANObjective, d_batches: Sequence[Batches], g_batch: Batches | None
) -> StepMetrics:
    """`d_steps` D updates, each on its own batch, then G's on fakes of its own batch,
    scored by the updated D (DCGAN's)."""
    gan = objective.gan
    for batch in d_batches:
        with tf.GradientTape() as tape:
            fake = gan.generator(batch.z, batch.real_labels, training=True)
            d = objective.discriminator_loss(batch, fake)
        variables = gan.discriminator.model.trainable_variables
        objective.d_optimizer.apply(tape.gradient(d.to_differentiate, variables), variables)

    with tf.GradientTape() as tape:
        fake = gan.generator(g_batch.z, g_batch.real_labels, training=True)
        g = objective.generator_loss_on(g_batch, fake)
    variables = gan.generator.model.trainable_variables
    objective.g_optimizer.apply(tape.gradient(g.to_differentiate, variables), variables)
    return objective.metrics(d, g)


def shared_fakes(
    objective: GANObjective, d_batches: Sequence[Batches], g_batch: Batches | None
) -> StepMetrics:
    """D's update, then G's on the same fakes, scored by the updated D (PyTorch's DCGAN
    example): G's forward pass is recorded once and serves both updates."""
    gan = objective.gan
    (batch,) = d_batches
    with tf.GradientTape(persistent=True) as tape:
        fake = gan.generator(batch.z, batch.real_labels, training=True)
        d = objective.discriminator_loss(batch, fake)
        d_variables = gan.discriminator.model.trainable_variables
        # Inside the tape, so that D's update comes before G's pass through D; D's
        # gradient and update are kept off the tape, which G's gradient does not need.
        with tape.stop_recording():
            d_gradients = tape.gradient(d.to_differentiate, d_variables)
            objective.d_optimizer.apply(d_gradients, d_variables)
        g = objective.generator_loss_on(batch, fake)
    g_variables = gan.generator.model.trainable_variables
    objective.g_optimizer.apply(tape.gradient(g.to_differentiate, g_variables), g_variables)
    del tape
    return objective.metrics(d, g)


def simultaneous(
    objective: GANObjective, d_batches: Sequence[Batches], g_batch: Batches | None
) -> StepMetrics:
    """D's and G's gradients from one pass over the same fakes, both taken before either
    network changes (Mescheder et al. 2017's simultaneous gradient descent)."""
    gan = objective.gan
    (batch,) = d_batches
    with tf.GradientTape(persistent=True) as tape:
        fake = gan.generator(batch.z, batch.real_labels, training=True)
        d = objective.discriminator_loss(batch, fake)
        g = objective.generator_loss(d.fake_logits)
    d_variables = gan.discriminator.model.trainable_variables
    g_variables = gan.generator.model.trainable_variables
    d_gradients = tape.gradient(d.to_differentiate, d_variables)
    g_gradients = tape.gradient(g.to_differentiate, g_variables)
    del tape
    objective.d_optimizer.apply(d_gradients, d_variables)
    objective.g_optimizer.apply(g_gradients, g_variables)
    return objective.metrics(d, g)


class UpdateMode(NamedTuple):
    step: Callable[[GANObjective, Sequence[Batches], Batches | None], StepMetrics]
    # G's update draws a batch of its own; else it learns on D's fakes.
    fresh_generator_batch: bool
    # `train.d_steps` D updates per G update; else exactly one (d_steps must be 1).
    many_d_steps: bool


UPDATES: dict[str, UpdateMode] = {
    "alternating": UpdateMode(alternating, fresh_generator_batch=True, many_d_steps=True),
    "shared_fakes": UpdateMode(shared_fakes, fresh_generator_batch=False, many_d_steps=False),
    "simultaneous": UpdateMode(simultaneous, fresh_generator_batch=False, many_d_steps=False),
}
