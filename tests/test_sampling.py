"""Latents, latent walks, the progress animation and the training-time quality probe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_gan.core.config import ModelConfig
from mnist_gan.drawing.pictures import save_gif, upscale
from mnist_gan.drawing.sampling import (
    balanced_labels,
    fixed_latents,
    generate_pixels,
    interpolation_latents,
)
from mnist_gan.evaluation.classifier import build_classifier, feature_model
from mnist_gan.evaluation.metrics import feature_fid
from mnist_gan.networks.gan import build_gan
from mnist_gan.training.probe import QualityProbe
from tests.helpers import synthetic_digits


def test_fixed_latents_depend_only_on_the_seed() -> None:
    np.testing.assert_array_equal(fixed_latents(5, 3, 4), fixed_latents(5, 3, 4))
    assert not np.array_equal(fixed_latents(5, 3, 4), fixed_latents(6, 3, 4))
    assert fixed_latents(5, 3, 4).dtype == np.float32


def test_interpolation_rows_start_and_end_at_seeded_latents_along_a_great_circle() -> None:
    rows, steps, z_dim = 3, 7, 16
    path = interpolation_latents(1, rows, steps, z_dim).reshape(rows, steps, z_dim)
    ends = fixed_latents(1, 2 * rows, z_dim).reshape(rows, 2, z_dim)
    np.testing.assert_allclose(path[:, 0], ends[:, 0], atol=1e-5)
    np.testing.assert_allclose(path[:, -1], ends[:, 1], atol=1e-5)
    # slerp between two vectors of norms a and b stays between those norms in the
    # middle for near-equal norms; a straight line would shrink it by about 1/sqrt(2).
    norms = np.linalg.norm(path, axis=2)
    straight = np.linalg.norm((ends[:, 0] + ends[:, 1]) / 2, axis=1)
    assert np.all(norms[:, steps // 2] > straight)


@pytest.mark.parametrize("seed", range(4))
def test_walks_are_straight_lines_where_the_great_circle_is_undefined(seed: int) -> None:
    """z_dim 1: the two ends are parallel or opposite (0/0 in slerp's formula)."""
    path = interpolation_latents(seed, 3, 5, 1).reshape(3, 5)
    ends = fixed_latents(seed, 6, 1).reshape(3, 2)
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path[:, 0], ends[:, 0], rtol=1e-6)
    np.testing.assert_allclose(path[:, -1], ends[:, 1], rtol=1e-6)
    expected = ends[:, :1] + np.linspace(0, 1, 5)[None] * (ends[:, 1:] - ends[:, :1])
    np.testing.assert_allclose(path, expected, rtol=1e-5, atol=1e-6)


def test_upscale_works_on_single_images_and_stacks() -> None:
    frames = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    big = upscale(frames, 3)
    assert big.shape == (2, 6, 6)
    np.testing.assert_array_equal(big[1], upscale(frames[1], 3))
    assert big[0, 5, 5] == frames[0, 1, 1]


def test_gif_holds_every_frame_in_order(tmp_path: Path) -> None:
    frames = np.stack([np.full((4, 4), value, np.uint8) for value in (0, 100, 200)])
    save_gif(tmp_path / "progress.gif", frames, frame_ms=50)
    with Image.open(tmp_path / "progress.gif") as gif:
        assert gif.n_frames == 3
        seen = []
        for index in range(3):
            gif.seek(index)
            seen.append(int(np.asarray(gif.convert("L"))[0, 0]))
    assert seen == [0, 100, 200]


def test_quality_probe_scores_a_generator_against_reference_images() -> None:
    config = ModelConfig(arch="mlp", conditional=False, z_dim=8, hidden_units=16)
    gan = build_gan(config)
    generator = gan.generator
    pixels, _ = synthetic_digits(64, seed=0)
    reference = pixels.astype(np.float32)[..., None] / 127.5 - 1
    extractor = feature_model(build_classifier())
    probe = QualityProbe(extractor, reference, fixed_latents(0, 32, 8))
    scores = probe(gan)
    assert set(scores) == {"fid", "inception_score"}
    assert scores["fid"] > 0
    assert 1.0 <= scores["inception_score"] <= 10.0
    assert probe(gan) == scores  # fixed latents: the same model scores the same
    pixels = generate_pixels(generator, fixed_latents(0, 32, 8), balanced_labels(32))
    images = pixels[..., None] / np.float32(127.5) - 1
    samples = extractor.predict(images, batch_size=1000, verbose=0)[0]
    features = extractor.predict(reference, batch_size=1000, verbose=0)[0]
    # The evaluate stage's own FID, on the same quantized samples.
    expected = feature_fid(samples.astype(np.float64), features.astype(np.float64))
    assert scores["fid"] == pytest.approx(expected, rel=1e-6)
    assert generate_pixels(generator, fixed_latents(0, 3, 8), np.zeros(3)).shape == (3, 28, 28)


@pytest.mark.parametrize("count", [0, 1, 1001])
def test_generate_pixels_handles_any_count(count: int) -> None:
    generator = build_gan(
        ModelConfig(arch="mlp", conditional=False, z_dim=4, hidden_units=8)
    ).generator
    pixels = generate_pixels(generator, fixed_latents(0, count, 4), np.zeros(count, np.int32))
    assert pixels.shape == (count, 28, 28) and pixels.dtype == np.uint8
