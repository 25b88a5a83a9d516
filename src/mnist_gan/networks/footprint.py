"""How much memory a training run needs, known before its networks are built.

Each network's weight count is a quadratic in its width (a convolution's weights are
channels in x channels out) and its activations per image are linear in it, for any
architecture whose widths scale channels or units. So three tiny builds, at widths 1,
2 and 3, give both exactly for any width, in a second, without allocating the real
networks. The estimate then counts every copy a run holds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import keras

from mnist_gan.core.config import ModelConfig, TrainConfig
from mnist_gan.core.errors import ParamsError
from mnist_gan.networks.architectures import ARCHITECTURES

FLOAT_BYTES = 4
# Copies of each weight a run holds: the weight, its gradient, Adam's two moments, and
# the checkpoint's copy of all three state arrays when it is written.
COPIES_PER_WEIGHT = 1 + 1 + 2 + 3
# Each activation is kept for the backward pass and gets a gradient of the same size;
# the discriminator sees a real and a fake batch.
COPIES_PER_ACTIVATION = 2
# A fixed allowance for what TensorFlow, Keras, the data and the probe take beside
# the networks.
RUNTIME_BYTES = 1 << 30


@dataclass(frozen=True)
class NetworkSize:
    """weights: trainable and non-trainable values; activations: values of every
    layer's outputs for one image."""

    weights: int
    activations: int


def size_of(model: keras.Model) -> NetworkSize:
    """The weights and per-image activations of a built model."""
    activations = 0
    for layer in model.layers:
        for output in keras.tree.flatten(layer.output):
            activations += math.prod(dim for dim in output.shape[1:] if dim)
    return NetworkSize(sum(math.prod(w.shape) for w in model.weights), activations)


def _at_width(
    build: Callable[[ModelConfig], keras.Model], config: ModelConfig, key: str, width: int
) -> NetworkSize:
    return size_of(build(config.model_copy(update={key: width})))


def network_size(
    build: Callable[[ModelConfig], keras.Model], config: ModelConfig, key: str
) -> NetworkSize:
    """The size of `build(config)`, computed from builds at `key` = 1, 2, 3 (the
    quadratic through three points, exact for weights and activations)."""
    one, two, three = (_at_width(build, config, key, width) for width in (1, 2, 3))
    width = getattr(config, key)

    def through(a: int, b: int, c: int) -> int:
        second = a - 2 * b + c  # 2 x the quadratic's leading coefficient
        return a + (b - a) * (width - 1) + second * (width - 1) * (width - 2) // 2

    return NetworkSize(
        through(one.weights, two.weights, three.weights),
        through(one.activations, two.activations, three.activations),
    )


def training_bytes(model: ModelConfig, train: TrainConfig) -> int:
    """Estimated peak memory of training `model` with `train`, in bytes."""
    architecture = ARCHITECTURES[model.arch]
    generator = network_size(architecture.generator, model, architecture.generator_width)
    discriminator = network_size(
        architecture.discriminator, model, architecture.discriminator_width
    )
    weights = (generator.weights + discriminator.weights) * COPIES_PER_WEIGHT
    if train.ema:
        weights += generator.weights * 2  # the average and its checkpoint copy
    per_image = generator.activations + 2 * discriminator.activations
    activations = train.batch_size * per_image * COPIES_PER_ACTIVATION
    return RUNTIME_BYTES + FLOAT_BYTES * (weights + activations)


def machine_bytes() -> int:
    """This machine's physical memory, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(model: ModelConfig, train: TrainConfig, available: int | None = None) -> int:
    """The estimate of `training_bytes`; ParamsError, before anything is built at full
    size, when it exceeds `available` (default: the machine's memory).

    Call it before building anything else: it ends by resetting Keras' global state,
    so the tiny builds do not shift the generated layer names that the weights files
    store (the run's models get the names a process without the estimate gives)."""
    available = machine_bytes() if available is None else available
    needed = training_bytes(model, train)
    keras.backend.clear_session()
    if needed > available:
        raise ParamsError(
            f"model and train params need about {needed / 2**30:.1f} GiB to train "
            f"(weights, gradients, Adam's moments, the average, the checkpoint and a "
            f"batch of {train.batch_size:,} images' activations), more than this "
            f"machine's {available / 2**30:.1f} GiB: lower the model widths, depths, "
            "z_dim or train.batch_size"
        )
    return needed
