"""Digits on demand from a trained generator, for people who did not train it: a Python
API and the `generate` command (`python -m mnist_gan generate --help`).

    from mnist_gan.serving.generate import load_digit_generator
    generator = load_digit_generator("models/gan")
    digits = generator.generate(digits=[0, 1, 7], seed=0)  # uint8 [3, 28, 28]
    sevens = generator.generate(digits=[7], count=8, seed=0)  # uint8 [8, 28, 28]

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
MAX_STEPS = 1000  # images in a walk
DEFAULT_COUNT = 16
TRUNCATION_RANGE = (0.1, 4.0)  # below 0.1 the rejection sampling takes too many rounds


def image_count(digits: list[int] | None, count: int | None) -> int:
    """How many images a request draws, checked before anything is allocated for it:
    `count` of each of `digits` when both are given, one per digit, `count`, or 16.
    ParamsError, one line naming the limit, for a count outside 1..MAX_COUNT, a total
    above it, no digits or a digit outside 0..9."""
    if count is not None and not 1 <= count <= MAX_COUNT:
        raise ParamsError(f"count must be 1..{MAX_COUNT:,}, got {count:,}")
    if digits is None:
        return DEFAULT_COUNT if count is None else count
    if not digits:
        raise ParamsError("no digits asked for")
    bad = [d for d in digits if not 0 <= d < NUM_CLASSES]
    if bad:
        raise ParamsError(f"digits must be 0..9, got {bad[:10]}")
    if count is None:
        if len(digits) > MAX_COUNT:
            raise ParamsError(f"at most {MAX_COUNT:,} digits per call, got {len(digits):,}")
        return len(digits)
    total = len(digits) * count
    if total > MAX_COUNT:
        raise ParamsError(
            f"{len(digits)} digits x count {count:,} = {total:,} images, more than the "
            f"{MAX_COUNT:,} a call draws; ask for fewer"
        )
    return total


def check_steps(steps: int) -> None:
    """ParamsError unless a walk's `steps` is 2..MAX_STEPS."""
    if not 2 <= steps <= MAX_STEPS:
        raise ParamsError(f"steps must be 2..{MAX_STEPS}, got {steps:,}")


def check_truncation(truncation: float | None) -> None:
    low, high = TRUNCATION_RANGE
    if truncation is not None and not low <= truncation <= high:
        raise ParamsError(f"truncation must be in [{low}, {high}], got {truncation}")


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
        total = image_count(digits, count)  # before anything of that size exists
        if digits is None:
            return balanced_labels(total)
        if not self.conditional:
            raise ParamsError(
                "this model is unconditional (model.conditional: false): it cannot be "
                "asked for digits; ask for a count instead"
            )
        return np.repeat(np.asarray(digits, np.int32), 1 if count is None else count)

    def generate(
        self,
        digits: list[int] | None = None,
        count: int | None = None,
        seed: int = 0,
        truncation: float | None = None,
    ) -> np.ndarray:
        """uint8 [N, 28, 28] in 0..255 from the first N latents of `seed`:
        - digits only (a conditional model): one image per entry of `digits`;
        - digits and count: `count` of each digit in turn (digits=[0, 7], count=3 is
          0, 0, 0, 7, 7, 7);
        - count only: `count` images (a conditional model's cycle through 0..9);
        - neither: 16 images, as count=16.
        At most MAX_COUNT images in all."""
        check_truncation(truncation)
        labels = self._labels(digits, count)
        z = latents(seed, len(labels), self.network.config.z_dim, truncation)
        return generate_pixels(self.network, z, labels)

    def interpolate(
        self, seed_a: int, seed_b: int, steps: int = 10, digit: int | None = None
    ) -> np.ndarray:
        """uint8 [steps, 28, 28]: the spherical walk between the latents of two seeds
        (each seed's first latent, as `generate(seed=...)` draws it), all of one digit
        (a conditional model; 0 unless given)."""
        check_steps(steps)
        if digit is not None or self.conditional:  # checks the digit, or refuses one
            self._labels([0 if digit is None else digit], None)
        labels = np.full(steps, digit or 0, np.int32)
        z_dim = self.network.config.z_dim
        start, end = (latents(seed, 1, z_dim).astype(np.float64) for seed in (seed_a, seed_b))
        walk = slerp(start, end, steps)[0].astype(np.float32)  # [steps, z_dim]
        return generate_pixels(self.network, walk, labels)


def load_digit_generator(folder: Path | str = "models/gan") -> DigitGenerator:
    """The generator the train stage saved in `folder` (the averaged one when training
    kept an average). InputFileError, one line naming the file, if it is missing or
    damaged."""
    return DigitGenerator(load_sampler(Path(folder)))
