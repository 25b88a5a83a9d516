"""How long each evaluation metric takes for 10,000 samples against 10,000 test images.

Uses the pipeline's own outputs when `dvc repro` has made them (the classifier, the
prepared test split and samples/samples.npy); otherwise random features of the same
shape, so it runs anywhere. Prints a table; the target is under 60 s in all.

    PYTHONPATH=src python bench/metrics_speed.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from mnist_gan.core.config import EvaluateConfig
from mnist_gan.evaluation.metrics import METRICS, ClassifierView

ROOT = Path(__file__).resolve().parents[1]
COUNT = 10_000


def pipeline_views(config: EvaluateConfig) -> tuple[ClassifierView, ClassifierView, float]:
    """Samples and test images through the trained classifier; returns the time it took."""
    from mnist_gan.core.files import read_npy
    from mnist_gan.data.splits import load_split, to_unit_range
    from mnist_gan.evaluation.classifier import feature_model, load_classifier
    from mnist_gan.evaluation.metrics import classifier_view

    extractor = feature_model(load_classifier(ROOT / "models/classifier"))
    pixels = read_npy(ROOT / "samples/samples.npy")[:COUNT]
    test = load_split(ROOT / "data/prepared", "test")
    start = time.perf_counter()
    samples = classifier_view(extractor, to_unit_range(pixels), config.batch_size)
    reference = classifier_view(
        extractor, test.images[:COUNT], config.batch_size, test.labels[:COUNT]
    )
    return samples, reference, time.perf_counter() - start


def random_views() -> tuple[ClassifierView, ClassifierView]:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=(2, COUNT))
    features = np.maximum(rng.normal(size=(2, COUNT, 128)), 0)
    return ClassifierView(features[0], probabilities[0]), ClassifierView(
        features[1], probabilities[1]
    )


def main() -> None:
    config = EvaluateConfig()
    outputs = [ROOT / "models/classifier", ROOT / "samples/samples.npy", ROOT / "data/prepared"]
    rows: list[tuple[str, float]] = []
    if all(path.exists() for path in outputs):
        source = "pipeline outputs"
        samples, reference, seconds = pipeline_views(config)
        rows.append(("classifier forward pass (both sets)", seconds))
    else:
        source = "random features (run `dvc repro` for the real ones)"
        samples, reference = random_views()
    for name, metric in METRICS.items():
        start = time.perf_counter()
        metric(samples, reference, config)
        rows.append((name, time.perf_counter() - start))

    print(
        f"Metrics for {len(samples.features):,} samples vs {len(reference.features):,} "
        f"reference images, {source}"
    )
    print(f"| {'step':<36} | {'seconds':>8} |")
    print(f"| {'-' * 36} | {'-' * 8}:|")
    for name, seconds in rows:
        print(f"| {name:<36} | {seconds:8.2f} |")
    print(f"| {'total':<36} | {sum(s for _, s in rows):8.2f} |")


if __name__ == "__main__":
    main()
