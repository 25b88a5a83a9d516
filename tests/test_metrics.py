"""The metrics' math, against values computed by hand or in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_gan.core.config import EvaluateConfig
from mnist_gan.evaluation.metrics import (
    ClassifierView,
    class_histogram,
    class_histogram_rows,
    evaluate,
    frechet_distance,
    inception_score,
    kid,
    kl_divergence,
    knn_radii,
    label_accuracy,
    polynomial_mmd2,
    prdc,
)

CONFIG = EvaluateConfig()


def test_frechet_distance_of_two_diagonal_gaussians_matches_the_hand_value() -> None:
    # mean term: 1^2 + 2^2 = 5; trace term per axis: s1 + s2 - 2 sqrt(s1 s2)
    # = (1 + 4 - 2*2) + (4 + 9 - 2*6) = 2; total 7.
    value = frechet_distance(
        np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([4.0, 9.0])
    )
    assert value == pytest.approx(7.0, abs=1e-9)


def test_frechet_distance_is_rotation_invariant_and_zero_for_equal_gaussians() -> None:
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    cov_a = rotation @ np.diag([1.0, 4.0]) @ rotation.T
    cov_b = rotation @ np.diag([4.0, 9.0]) @ rotation.T
    shift = rotation @ np.array([1.0, 2.0])
    assert frechet_distance(np.zeros(2), cov_a, shift, cov_b) == pytest.approx(7.0, abs=1e-9)
    assert frechet_distance(shift, cov_a, shift, cov_a) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_handles_non_commuting_covariances() -> None:
    # The trace of (S_a S_b)^(1/2) computed independently, from the eigenvalues of
    # S_a S_b (real and non-negative for PSD matrices).
    cov_a = np.array([[2.0, 0.5], [0.5, 1.0]])
    cov_b = np.array([[1.0, -0.3], [-0.3, 3.0]])
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real
    expected = np.trace(cov_a) + np.trace(cov_b) - 2 * np.sum(np.sqrt(eigenvalues))
    assert frechet_distance(np.zeros(2), cov_a, np.zeros(2), cov_b) == pytest.approx(expected)


def test_inception_score_is_the_class_count_for_confident_balanced_predictions() -> None:
    assert inception_score(np.eye(10).repeat(7, axis=0)) == pytest.approx(10.0, rel=1e-6)


def test_inception_score_is_one_when_every_prediction_is_the_same() -> None:
    probabilities = np.tile([0.7, 0.2, 0.1], (50, 1))
    assert inception_score(probabilities) == pytest.approx(1.0)


def test_inception_score_matches_a_hand_computed_two_image_case() -> None:
    probabilities = np.array([[1.0, 0.0], [0.5, 0.5]])
    # p(y) = [0.75, 0.25]; KL_1 = log(1/0.75); KL_2 = 0.5 log(0.5/0.75) + 0.5 log(0.5/0.25)
    kl = [np.log(4 / 3), 0.5 * np.log(2 / 3) + 0.5 * np.log(2)]
    assert inception_score(probabilities) == pytest.approx(np.exp(np.mean(kl)))


def test_class_histogram_coverage_and_kl_count_argmax_classes() -> None:
    labels = np.array([0] * 50 + [1] * 49 + [2] * 1)
    probabilities = np.eye(10)[labels] * 0.9 + 0.01
    np.testing.assert_allclose(class_histogram(probabilities)[:3], [0.5, 0.49, 0.01])
    view = ClassifierView(np.random.default_rng(0).normal(size=(100, 4)), probabilities)
    balanced = ClassifierView(view.features, np.eye(10).repeat(10, axis=0))
    result = evaluate(view, balanced, CONFIG)
    assert result["classes_covered"] == 2  # class 2 holds 1% < 2%
    assert result["num_images"] == 100
    assert set(result["class_histogram"]) == {str(d) for d in range(10)}
    expected_kl = 0.5 * np.log(5) + 0.49 * np.log(4.9) + 0.01 * np.log(0.1)
    assert result["class_kl"] == pytest.approx(expected_kl)
    assert "label_accuracy" not in result  # no intended labels, nothing to score


def test_kl_divergence_is_zero_for_equal_and_infinite_for_missing_support() -> None:
    p = np.array([0.5, 0.5, 0.0])
    assert kl_divergence(p, p) == 0.0
    assert kl_divergence(p, np.array([0.25, 0.75, 0.0])) == pytest.approx(
        0.5 * np.log(2) + 0.5 * np.log(2 / 3)
    )
    assert kl_divergence(p, np.array([1.0, 0.0, 0.0])) == np.inf


def test_polynomial_mmd_matches_a_hand_computed_case() -> None:
    # F = 1, k(a, b) = (ab + 1)^3. Within x: k(1, -1) = 0. Within y: k(0, 2) = 1.
    # Across: k(1, 0) = 1, k(1, 2) = 27, k(-1, 0) = 1, k(-1, 2) = -1, mean 7.
    # Unbiased MMD^2 = 0 + 1 - 2 * 7 = -13 (it can be negative).
    x, y = np.array([[1.0], [-1.0]]), np.array([[0.0], [2.0]])
    assert polynomial_mmd2(x, y) == pytest.approx(-13.0)


def test_kid_of_a_set_with_itself_is_near_zero_and_grows_with_a_shift() -> None:
    features = np.random.default_rng(1).normal(size=(2000, 8))
    same = ClassifierView(features, np.full((2000, 10), 0.1))
    shifted = ClassifierView(features + 1.0, same.probabilities)
    config = EvaluateConfig(kid_subsets=20, kid_subset_size=500)
    itself = kid(same, same, config)
    assert abs(itself["kid"]) < 3 * itself["kid_std"] + 1e-3
    assert kid(shifted, same, config)["kid"] > 100 * max(abs(itself["kid"]), 1e-4)


def test_prdc_matches_a_hand_computed_one_dimensional_case() -> None:
    # Reals 0, 1, 2: each one's nearest other real is 1 away, so k=1 balls of radius 1.
    # Fake 0.5 is in the balls of 0 and 1; fake 10 in none: precision 1/2, density
    # (2 + 0) / 2 = 1. Fakes' k=1 radius is 9.5, which reaches every real: recall 1.
    # Real balls with a fake closer than 1: those of 0 and 1: coverage 2/3.
    real = np.array([[0.0], [1.0], [2.0]])
    fake = np.array([[0.5], [10.0]])
    result = prdc(fake, real, k_precision_recall=1, k_density_coverage=1)
    assert result == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 2 / 3}
    )


def test_prdc_of_identical_sets_is_one_and_of_disjoint_sets_zero() -> None:
    features = np.random.default_rng(2).normal(size=(300, 5))
    identical = prdc(features, features)
    assert identical["precision"] == identical["recall"] == identical["coverage"] == 1.0
    assert identical["density"] >= 1.0  # each fake sits inside at least its own ball
    disjoint = prdc(features + 100.0, features)
    assert disjoint == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_label_accuracy_reads_intended_labels() -> None:
    probabilities = np.eye(10)[[1, 2, 3, 3]]
    view = ClassifierView(np.zeros((4, 2)), probabilities, labels=np.array([1, 2, 3, 4]))
    assert label_accuracy(view, view, CONFIG) == {"label_accuracy": 0.75}


def test_class_histogram_rows_hold_one_row_per_digit_for_each_set() -> None:
    view = ClassifierView(np.zeros((10, 2)), np.eye(10))
    result = {"class_histogram": {str(d): 0.1 for d in range(10)}}
    result["real"] = {"class_histogram": {str(d): float(d == 3) for d in range(10)}}
    rows = class_histogram_rows(result, view)
    assert [row["digit"] for row in rows] == list(range(10))
    assert rows[3] == {"digit": 3, "samples": 0.1, "real": 1.0, "test": 0.1}


def test_knn_radii_are_the_sorted_distances_for_every_k() -> None:
    """Each k's radius is the k-th smallest distance to another row, for every k asked
    for (NumPy promises order only at the partition indices it is given)."""
    features = np.random.default_rng(0).standard_normal((300, 4))
    radii = knn_radii(features, (2, 9))
    squared = np.sum((features[:, None] - features[None]) ** 2, axis=-1)
    distances = np.sort(np.sqrt(squared), axis=1)
    np.testing.assert_allclose(radii[2], distances[:, 2], atol=1e-9)
    np.testing.assert_allclose(radii[9], distances[:, 9], atol=1e-9)


@pytest.mark.parametrize("count", [1, 3])
def test_too_few_images_skip_the_metrics_that_need_more_and_say_why(count: int) -> None:
    """sample.count 1 or 3 (or a tiny holdout): no LinAlgError or index error; the
    metrics that can run do, the others are listed with the reason."""
    rng = np.random.default_rng(0)
    few = ClassifierView(rng.normal(size=(count, 4)), np.eye(10)[:count], np.arange(count))
    reference = ClassifierView(rng.normal(size=(50, 4)), np.eye(10).repeat(5, axis=0))
    result = evaluate(few, reference, CONFIG)
    assert result["num_images"] == count and result["label_accuracy"] == 1.0
    assert np.isfinite(result["inception_score"])
    expected = {"prdc": "needs at least 6 images per set, got"}  # k = 5, plus the image
    if count < 2:
        expected |= {"fid": "needs at least 2", "kid": "needs at least 2"}
    else:
        assert np.isfinite(result["fid"]) and np.isfinite(result["kid"])
    assert set(result["skipped"]) == set(expected)
    for name, reason in expected.items():
        assert reason in result["skipped"][name]
    assert "precision" not in result
