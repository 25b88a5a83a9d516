"""Digits on demand from a trained generator, for people who did not train it: a Python
API and the `generate` command (`python -m mnist_gan generate --help`).

    from mnist_gan.serving.generate import load_digit_generator
    generator = load_digit_generator("models/gan")
    digits = generator.generate(digits=[0, 1, 7], seed=0)  # uint8 [3, 28, 28]

A model folder is what the train stage writes (`models/gan/`: `gan.json` and the
weights); the networks are rebuilt from this project's code, so it needs this project.
The samples match the sample stage's for the same latents: the same averaged generator,
the same quantization to pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_gan.core.errors import ParamsError
from mnist_gan.data.splits import NUM_CLASSES
from mnist_gan.drawing.sampling import balanced_labels, fixed_latents, generate_pixels, slerp
from mnist_gan.networks.architectures import Network
from mnist_gan.networks.gan import load_sampler

MAX_COUNT = 100_000  # images per call: 78 MB of pixels
TRUNCATION_RANGE = (0.1, 4.0)  # below 0.1 the rejection sampling takes too many rounds


def latents(seed: int, count: int, z_dim: int, truncation: float | None = None) -> np.ndarray:
    """float32 [count, z_dim] ~ N(0, 1) from `seed` (the sample stage's stream), or with
    `truncation` t from the normal truncated to [-t, t]: entries outside are redrawn
    (BigGAN's truncation trick: smaller t, more typical and less varied digits)."""
    if truncation is None:
        return fixed_latents(seed, count, z_dim)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((count, z_dim))
    outside = np.abs(z) > truncation
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > truncation
    return z.astype(np.float32)


@dataclass(frozen=True)
class DigitGenerator:
    """A trained generator; `conditional` says whether it can be asked for digits."""

    network: Network

    @property
    def conditional(self) -> bool:
        return self.network.config.conditional

    def _labels(self, digits: list[int] | None, count: int | None) -> np.ndarray:
        if digits is not None and count is not None:
            raise ParamsError("ask for either digits or a count, not both")
        if digits is not None:
            if not self.conditional:
                raise ParamsError(
                    "this model is unconditional (model.conditional: false): it cannot be "
                    "asked for digits; ask for a count instead"
                )
            bad = [d for d in digits if not 0 <= d < NUM_CLASSES]
            if bad:
                raise ParamsError(f"digits must be 0..9, got {bad[:10]}")
            if not digits:
                raise ParamsError("no digits asked for")
            labels = np.asarray(digits, np.int32)
        else:
            labels = balanced_labels(16 if count is None else count)
        if not 1 <= len(labels) <= MAX_COUNT:
            raise ParamsError(f"count must be 1..{MAX_COUNT:,}, got {len(labels):,}")
        return labels

    def generate(
        self,
        digits: list[int] | None = None,
        count: int | None = None,
        seed: int = 0,
        truncation: float | None = None,
    ) -> np.ndarray:
        """uint8 [N, 28, 28] in 0..255: one image per entry of `digits` (a conditional
        model), or `count` images (16 by default; a conditional model's cycle through
        0..9)."""
        _check_truncation(truncation)
        labels = self._labels(digits, count)
        z = latents(seed, len(labels), self.network.config.z_dim, truncation)
        return generate_pixels(self.network, z, labels)

    def interpolate(
        self, seed_a: int, seed_b: int, steps: int = 10, digit: int | None = None
    ) -> np.ndarray:
        """uint8 [steps, 28, 28]: the spherical walk between the latents of two seeds
        (each seed's first latent, as `generate(seed=...)` draws it), all of one digit
        (a conditional model; 0 unless given)."""
        if not 2 <= steps <= 1000:
            raise ParamsError(f"steps must be 2..1000, got {steps}")
        if digit is not None or self.conditional:  # checks the digit, or refuses one
            self._labels([0 if digit is None else digit], None)
        labels = np.full(steps, digit or 0, np.int32)
        z_dim = self.network.config.z_dim
        start, end = (latents(seed, 1, z_dim).astype(np.float64) for seed in (seed_a, seed_b))
        walk = slerp(start, end, steps)[0].astype(np.float32)  # [steps, z_dim]
        return generate_pixels(self.network, walk, labels)


def _check_truncation(truncation: float | None) -> None:
    low, high = TRUNCATION_RANGE
    if truncation is not None and not low <= truncation <= high:
        raise ParamsError(f"truncation must be in [{low}, {high}], got {truncation}")


def load_digit_generator(folder: Path | str = "models/gan") -> DigitGenerator:
    """The generator the train stage saved in `folder` (the averaged one when training
    kept an average). InputFileError, one line naming the file, if it is missing or
    damaged."""
    return DigitGenerator(load_sampler(Path(folder)))
