"""A cheap FID and classifier score of a generator during training."""

from __future__ import annotations

import keras
import numpy as np

from mnist_gan.data.splits import to_unit_range
from mnist_gan.drawing.sampling import balanced_labels, generate_pixels
from mnist_gan.evaluation.metrics import classifier_view, feature_fid, inception_score
from mnist_gan.networks.gan import GAN

PROBE_BATCH = 1000


class QualityProbe:
    """FID and classifier score of a fixed set of latents with balanced labels,
    quantized to pixels like the final samples, through the evaluate stage's metric
    functions against the reference images (seen by the classifier once).

    extractor: classifier.feature_model(); reference_images: float32 [M, 28, 28, 1] in
    [-1, 1]; latents: float32 [N, z_dim].
    """

    def __init__(self, extractor: keras.Model, reference_images: np.ndarray, latents: np.ndarray):
        self.extractor = extractor
        self.latents = latents
        self.labels = balanced_labels(len(latents))
        self.reference = classifier_view(extractor, reference_images, PROBE_BATCH)

    def __call__(self, gan: GAN) -> dict[str, float]:
        """{"fid": ..., "inception_score": ...} of the GAN's sampler (the average when
        there is one: calibrate it first)."""
        pixels = generate_pixels(gan.sampler, self.latents, self.labels)
        samples = classifier_view(self.extractor, to_unit_range(pixels), PROBE_BATCH)
        return {
            "fid": feature_fid(samples.features, self.reference.features),
            "inception_score": inception_score(samples.probabilities),
        }
