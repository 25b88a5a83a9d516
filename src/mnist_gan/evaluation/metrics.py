"""Sample-quality metrics in the evaluation classifier's eyes.

Every metric has one signature, `metric(candidates, reference, config) -> dict`: it
compares a `ClassifierView` of the candidate images (samples, or real held-out images
for the ceiling) with one of the reference images (the test set), and returns named
numbers. `METRICS` is the registry the evaluate stage runs; adding a metric is one
function and one entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
import numpy as np

from mnist_gan.core.config import EvaluateConfig
from mnist_gan.data.splits import NUM_CLASSES

# Rows of a pairwise-distance block computed at once: 2,000 x 10,000 float64 is 160 MB.
DISTANCE_CHUNK = 2000


class TooFewImagesError(ValueError):
    """A metric needs more images than a set has; `evaluate` skips it and says why."""


def _require(count: int, *views: ClassifierView) -> None:
    for seen in views:
        if len(seen.features) < count:
            got = len(seen.features)
            raise TooFewImagesError(f"needs at least {count} images per set, got {got}")


@dataclass(frozen=True)
class ClassifierView:
    """features: float64 [N, F] penultimate activations; probabilities: float64 [N, 10];
    labels: int [N] the digit each image should be (real labels, or the labels a
    conditional generator was asked for), or None when unknown."""

    features: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray | None = None

    def accuracy(self) -> float:
        """Fraction of rows whose most probable class is its label, in [0, 1]."""
        return float(np.mean(np.argmax(self.probabilities, axis=1) == self.labels))


def classifier_view(
    extractor: keras.Model, images: np.ndarray, batch_size: int, labels: np.ndarray | None = None
) -> ClassifierView:
    """Run the feature model on images float32 [N, 28, 28, 1] in [-1, 1]."""
    features, probabilities = extractor.predict(images, batch_size=batch_size, verbose=0)
    return ClassifierView(features.astype(np.float64), probabilities.astype(np.float64), labels)


# --- classifier score ---------------------------------------------------------------


def inception_score(probabilities: np.ndarray) -> float:
    """exp E_x[KL(p(y|x) || p(y))] over all rows of [N, C] (no splits); in [1, C]."""
    eps = 1e-12
    marginal = probabilities.mean(axis=0, keepdims=True)
    kl = np.sum(probabilities * (np.log(probabilities + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def classifier_score(
    candidates: ClassifierView, reference: ClassifierView, config: EvaluateConfig
) -> dict[str, float]:
    return {"inception_score": inception_score(candidates.probabilities)}


# --- Fréchet distance ---------------------------------------------------------------


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


def gaussian_moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [F] and sample covariance [F, F] of features [N, F]."""
    return features.mean(axis=0), np.cov(features, rowvar=False)


def feature_fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets [N, F] and [M, F]."""
    return frechet_distance(*gaussian_moments(features_a), *gaussian_moments(features_b))


def fid(
    candidates: ClassifierView, reference: ClassifierView, config: EvaluateConfig
) -> dict[str, float]:
    """Fréchet distance in the classifier's feature space (lower is better)."""
    _require(2, candidates, reference)  # a covariance
    return {"fid": feature_fid(candidates.features, reference.features)}


# --- kernel inception distance ------------------------------------------------------


def polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between x [m, F] and y [n, F] with the cubic polynomial kernel
    k(a, b) = (a.b / F + 1)^3 (Binkowski et al. 2018); diagonals are left out."""
    dim = x.shape[1]
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    m, n = len(x), len(y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kid(
    candidates: ClassifierView, reference: ClassifierView, config: EvaluateConfig
) -> dict[str, float]:
    """Kernel inception distance: the mean (and standard deviation) of unbiased MMD^2
    over `config.kid_subsets` random subsets of `config.kid_subset_size` per set."""
    _require(2, candidates, reference)  # the unbiased estimate leaves the diagonal out
    rng = np.random.default_rng(config.seed)
    size = min(config.kid_subset_size, len(candidates.features), len(reference.features))
    values = [
        polynomial_mmd2(
            candidates.features[rng.choice(len(candidates.features), size, replace=False)],
            reference.features[rng.choice(len(reference.features), size, replace=False)],
        )
        for _ in range(config.kid_subsets)
    ]
    return {"kid": float(np.mean(values)), "kid_std": float(np.std(values))}


# --- precision, recall, density, coverage -------------------------------------------


def _distance_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """Euclidean distances from rows of a [N, F] to all rows of b [M, F], in row blocks."""
    squared_b = np.sum(b * b, axis=1)
    for start in range(0, len(a), DISTANCE_CHUNK):
        rows = slice(start, start + DISTANCE_CHUNK)
        block = a[rows]
        squared = np.sum(block * block, axis=1)[:, None] + squared_b[None, :] - 2 * block @ b.T
        yield rows, np.sqrt(np.clip(squared, 0, None))


def knn_radii(features: np.ndarray, ks: tuple[int, ...]) -> dict[int, np.ndarray]:
    """For each k, the distance from every row to its k-th nearest other row: [N]."""
    radii = {k: np.empty(len(features)) for k in ks}
    for rows, block in _distance_blocks(features, features):
        # Column 0 of the sorted row is the point itself (distance 0), so index k is
        # the k-th nearest other point. Every k is passed: partition promises the
        # order only at the indices it is given.
        nearest = np.partition(block, sorted(set(ks)), axis=1)
        for k in ks:
            radii[k][rows] = nearest[:, k]
    return radii


def prdc(
    fake: np.ndarray, real: np.ndarray, k_precision_recall: int = 3, k_density_coverage: int = 5
) -> dict[str, float]:
    """Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem
    et al. 2020) of fake [N, F] against real [M, F], as in Naeem et al.'s reference code.

    A real point's k-NN ball is the ball around it whose radius is the distance to its
    k-th nearest real neighbour (likewise for fakes). precision: fraction of fakes in
    some real ball; recall: fraction of reals in some fake ball; density: mean number
    of real balls a fake lies in, over k (about 1 for matching sets, unbounded);
    coverage: fraction of real balls holding at least one fake. All but density are
    in [0, 1].
    """
    ks = (k_precision_recall, k_density_coverage)
    real_radii = knn_radii(real, ks)
    fake_radii = knn_radii(fake, (k_precision_recall,))[k_precision_recall]

    in_real_ball = in_real_balls = 0
    for _, block in _distance_blocks(fake, real):  # [chunk of fakes, M]
        in_real_ball += np.sum(np.any(block < real_radii[k_precision_recall], axis=1))
        in_real_balls += np.sum(block < real_radii[k_density_coverage])
    in_fake_ball = covered = 0
    for rows, block in _distance_blocks(real, fake):  # [chunk of reals, N]
        in_fake_ball += np.sum(np.any(block < fake_radii, axis=1))
        covered += np.sum(block.min(axis=1) < real_radii[k_density_coverage][rows])
    return {
        "precision": float(in_real_ball / len(fake)),
        "recall": float(in_fake_ball / len(real)),
        "density": float(in_real_balls / (k_density_coverage * len(fake))),
        "coverage": float(covered / len(real)),
    }


def precision_recall_density_coverage(
    candidates: ClassifierView, reference: ClassifierView, config: EvaluateConfig
) -> dict[str, float]:
    # The k-th nearest other image of each: k + 1 images per set.
    _require(max(config.k_precision_recall, config.k_density_coverage) + 1, candidates, reference)
    return prdc(
        candidates.features,
        reference.features,
        config.k_precision_recall,
        config.k_density_coverage,
    )


# --- modes --------------------------------------------------------------------------


def class_histogram(probabilities: np.ndarray) -> np.ndarray:
    """float64 [10]: the fraction of rows whose most likely class is each digit."""
    predicted = np.argmax(probabilities, axis=1)
    return np.bincount(predicted, minlength=NUM_CLASSES) / max(len(predicted), 1)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats for two histograms; terms with p = 0 contribute 0, and a
    class with p > 0 and q = 0 makes it infinite."""
    support = p > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(p[support] * (np.log(p[support]) - np.log(q[support]))))


def class_coverage(
    candidates: ClassifierView, reference: ClassifierView, config: EvaluateConfig
) -> dict:
    """Which digits the classifier sees, how many reach the coverage threshold, and the
    KL divergence of that histogram from the reference's (0 for the same mix)."""
    histogram = class_histogram(candidates.probabilities)
    return {
        "classes_covered": int(np.sum(histogram >= config.coverage_threshold)),
        "class_kl": kl_divergence(histogram, class_histogram(reference.probabilities)),
        "class_histogram": {str(digit): float(f) for digit, f in enumerate(histogram)},
    }


def label_accuracy(
    candidates: ClassifierView, reference: ClassifierView, config: EvaluateConfig
) -> dict[str, float]:
    """For images with known intended digits (a conditional generator's requested
    labels, or real labels): the fraction the classifier reads as that digit."""
    if candidates.labels is None:
        return {}
    return {"label_accuracy": candidates.accuracy()}


def class_histogram_rows(result: dict, reference: ClassifierView) -> list[dict]:
    """One row per digit of an `evaluate` result: the fraction of samples, of real
    held-out images (if scored) and of test images that the classifier reads as it."""
    test = class_histogram(reference.probabilities)
    rows = []
    for digit in range(NUM_CLASSES):
        row = {"digit": digit, "samples": result["class_histogram"][str(digit)]}
        if "real" in result:
            row["real"] = result["real"]["class_histogram"][str(digit)]
        rows.append({**row, "test": float(test[digit])})
    return rows


Metric = Callable[[ClassifierView, ClassifierView, EvaluateConfig], dict]

METRICS: dict[str, Metric] = {
    "inception_score": classifier_score,
    "fid": fid,
    "kid": kid,
    "prdc": precision_recall_density_coverage,
    "class_coverage": class_coverage,
    "label_accuracy": label_accuracy,
}


def evaluate(
    candidates: ClassifierView,
    reference: ClassifierView,
    config: EvaluateConfig,
    metrics: dict[str, Metric] = METRICS,
) -> dict:
    """Run every metric; returns their merged dicts plus `num_images`, and under
    `skipped` why a metric that needs more images than a set holds was left out."""
    result: dict = {"num_images": len(candidates.features)}
    skipped = {}
    for name, metric in metrics.items():
        try:
            result.update(metric(candidates, reference, config))
        except TooFewImagesError as reason:
            skipped[name] = str(reason)
    if skipped:
        result["skipped"] = skipped
    return result
