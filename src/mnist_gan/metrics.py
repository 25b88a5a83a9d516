"""Sample-quality metrics in the evaluation classifier's eyes.

Each metric is a function of a `ClassifierView` of the candidate images and one of the
reference images (the test set), returning a dict of named numbers; `METRICS` is the
registry the evaluate stage runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from mnist_gan.data import NUM_CLASSES


@dataclass(frozen=True)
class ClassifierView:
    """features: float64 [N, F] penultimate activations; probabilities: float64 [N, 10]."""

    features: np.ndarray
    probabilities: np.ndarray


def view(extractor: keras.Model, images: np.ndarray, batch_size: int) -> ClassifierView:
    """Run the feature model on images float32 [N, 28, 28, 1] in [-1, 1]."""
    features, probabilities = extractor.predict(images, batch_size=batch_size, verbose=0)
    return ClassifierView(features.astype(np.float64), probabilities.astype(np.float64))


def inception_score(probabilities: np.ndarray) -> float:
    """exp E_x[KL(p(y|x) || p(y))] over all rows of [N, C] (no splits); in [1, C]."""
    eps = 1e-12
    marginal = probabilities.mean(axis=0, keepdims=True)
    kl = np.sum(probabilities * (np.log(probabilities + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between two Gaussians.

    Tr((S_a S_b)^(1/2)) is computed as the trace of (S_a^(1/2) S_b S_a^(1/2))^(1/2),
    which has the same eigenvalues but is symmetric PSD, so it needs no complex sqrtm.
    """
    root_a = _sqrt_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)))
    diff = mean_a - mean_b
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def fid(candidates: ClassifierView, reference: ClassifierView) -> dict[str, float]:
    """Fréchet distance of Gaussians fitted to the two sets' features (lower is better)."""

    def moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return features.mean(axis=0), np.cov(features, rowvar=False)

    return {"fid": frechet_distance(*moments(candidates.features), *moments(reference.features))}


def class_histogram(probabilities: np.ndarray) -> np.ndarray:
    """float64 [10]: the fraction of rows whose most likely class is each digit."""
    predicted = np.argmax(probabilities, axis=1)
    return np.bincount(predicted, minlength=NUM_CLASSES) / max(len(predicted), 1)


def classifier_score(candidates: ClassifierView, reference: ClassifierView) -> dict[str, float]:
    return {"inception_score": inception_score(candidates.probabilities)}


def make_class_coverage(threshold: float) -> Metric:
    def class_coverage(candidates: ClassifierView, reference: ClassifierView) -> dict:
        histogram = class_histogram(candidates.probabilities)
        return {
            "classes_covered": int(np.sum(histogram >= threshold)),
            "class_histogram": {str(digit): float(f) for digit, f in enumerate(histogram)},
        }

    return class_coverage


Metric = Callable[[ClassifierView, ClassifierView], dict]


def metrics_registry(coverage_threshold: float) -> dict[str, Metric]:
    return {
        "inception_score": classifier_score,
        "fid": fid,
        "class_coverage": make_class_coverage(coverage_threshold),
    }


def evaluate(
    candidates: ClassifierView, reference: ClassifierView, metrics: dict[str, Metric]
) -> dict:
    """Run every metric; returns their merged dicts plus `num_images`."""
    result: dict = {"num_images": len(candidates.features)}
    for metric in metrics.values():
        result.update(metric(candidates, reference))
    return result
