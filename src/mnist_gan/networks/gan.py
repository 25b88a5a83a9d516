"""The GAN: its two networks, the generator's moving average, batch-norm statistics
for that average, and saving and loading.

Weights are saved as `.weights.h5` (byte-reproducible; the `.keras` format stamps the
save date) next to `gan.json`, the config the networks are rebuilt from in code: no
deserialized code ever runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from mnist_gan.core.config import ModelConfig
from mnist_gan.core.errors import registry_entry, restore_hint, unreadable
from mnist_gan.core.files import atomic_path, require_finite, write_json
from mnist_gan.drawing.sampling import balanced_labels
from mnist_gan.networks.architectures import (
    ARCHITECTURES,
    Network,
    build_discriminator,
    build_generator,
)

GENERATOR_FILE = "generator.weights.h5"
DISCRIMINATOR_FILE = "discriminator.weights.h5"
EMA_GENERATOR_FILE = "generator_ema.weights.h5"
CONFIG_FILE = "gan.json"
PROGRESS_FILE = "progress_grids.npy"
# Every file the train stage may write in its model folder.
GAN_FILES = (GENERATOR_FILE, DISCRIMINATOR_FILE, EMA_GENERATOR_FILE, CONFIG_FILE, PROGRESS_FILE)


@dataclass
class GAN:
    """The two networks, and the generator's exponential moving average (None when
    `train.ema` is 0), all built from one model config."""

    generator: Network
    discriminator: Network
    ema_generator: Network | None = None

    @property
    def config(self) -> ModelConfig:
        return self.generator.config

    @property
    def sampler(self) -> Network:
        """The generator to draw samples from: the average when there is one."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def calibrate_average(self, seed: int) -> None:
        """Give the average batch-norm statistics of its own (recalibrate_batch_norm);
        call it before sampling from it. Deterministic: calling it twice for the same
        weights gives the same statistics."""
        if self.ema_generator is not None:
            recalibrate_batch_norm(self.ema_generator, seed)


def build_gan(config: ModelConfig, precision: str = "float32", ema: bool = False) -> GAN:
    """Both networks (and with `ema` a copy of the generator, starting from its
    weights), their layers in the dtype policy `precision` (weights stay float32, final
    layers compute in float32); the global Keras policy is left as it was."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        generator = build_generator(config)
        average = None
        if ema:
            average = build_generator(config)
            average.model.set_weights(generator.model.get_weights())
        return GAN(generator, build_discriminator(config), average)
    finally:
        keras.config.set_dtype_policy(previous)


def ema_update(average: list, current: list, decay: float) -> None:
    """average <- decay * average + (1 - decay) * current, variable by variable."""
    for mean, value in zip(average, current, strict=True):
        mean.assign(decay * mean + (1.0 - decay) * value)


def recalibrate_batch_norm(
    generator: Network, seed: int, batches: int = 20, batch_size: int = 500
) -> None:
    """Recompute every batch-norm layer's moving mean and variance for the generator's
    current weights: the exact average over `batches` seeded batches of training-mode
    statistics. An averaged (EMA) generator needs this: the moving statistics the raw
    generator tracked belong to other weights. A no-op without batch norm."""
    norms = [
        layer
        for layer in generator.model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
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
            z = rng.standard_normal((batch_size, generator.config.z_dim)).astype(np.float32)
            generator(z, balanced_labels(batch_size), training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum


def save_gan(gan: GAN, folder: Path, description: dict) -> list[str]:
    """Write the networks' weights (the generator, the discriminator and, with EMA, the
    averaged generator) and `gan.json`, which must hold the "model" config the
    generators are rebuilt from; returns the names written."""
    folder = Path(folder)
    networks = [(gan.generator, GENERATOR_FILE), (gan.discriminator, DISCRIMINATOR_FILE)]
    if gan.ema_generator is not None:
        networks.append((gan.ema_generator, EMA_GENERATOR_FILE))
    for network, name in networks:
        with atomic_path(folder / name) as tmp:
            network.model.save_weights(tmp)
    stale = folder / EMA_GENERATOR_FILE
    if gan.ema_generator is None and stale.exists():
        stale.unlink()  # from an earlier run with EMA: it would be sampled instead
    write_json(folder / CONFIG_FILE, description)
    return [name for _, name in networks] + [CONFIG_FILE]


def load_sampler(folder: Path) -> Network:
    """The generator to sample from: the averaged one when training kept an average,
    else the raw one. Rebuilt from `gan.json` in code with only the weights loaded; no
    deserialized code runs (safer than loading a pickled or Lambda-bearing model)."""
    folder = Path(folder)
    fix = restore_hint(folder, "train")
    path = folder / CONFIG_FILE
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
        config = ModelConfig.model_validate(description["model"])
        registry_entry(ARCHITECTURES, config.arch, "model.arch", "architectures.ARCHITECTURES")
        generator = build_generator(config)
    except Exception as error:  # missing, not JSON, no "model", a config that fails
        raise unreadable(path, error, fix) from None
    averaged = folder / EMA_GENERATOR_FILE
    path = averaged if averaged.exists() else folder / GENERATOR_FILE
    try:
        generator.model.load_weights(path)
    except Exception as error:  # h5py and Keras raise many types for a bad file
        raise unreadable(path, error, fix) from None
    require_finite(generator.model.get_weights(), path, fix)
    return generator
