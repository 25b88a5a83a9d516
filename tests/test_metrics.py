"""The metrics' math, against values computed by hand or in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_gan.metrics import (
    ClassifierView,
    class_histogram,
    evaluate,
    frechet_distance,
    inception_score,
    metrics_registry,
)


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


def test_class_histogram_and_coverage_count_argmax_classes() -> None:
    labels = np.array([0] * 50 + [1] * 49 + [2] * 1)
    probabilities = np.eye(10)[labels] * 0.9 + 0.01
    np.testing.assert_allclose(class_histogram(probabilities)[:3], [0.5, 0.49, 0.01])
    view = ClassifierView(np.random.default_rng(0).normal(size=(100, 4)), probabilities)
    result = evaluate(view, view, metrics_registry(coverage_threshold=0.02))
    assert result["classes_covered"] == 2  # class 2 holds 1% < 2%
    assert result["num_images"] == 100
    assert result["fid"] == pytest.approx(0.0, abs=1e-9)
    assert set(result["class_histogram"]) == {str(d) for d in range(10)}
