"""How much of a run's scores is the luck of its one sample draw: the evaluate stage's
metrics for one trained generator over several draws of `sample.count` samples.

Draw 0 is the sample stage's own (latents from `sample.seed` + 1); draw d uses
`sample.seed` + 1 + d. Labels are balanced, as in the sample stage. Prints a row per
draw, then the mean and sample standard deviation over the draws. Compare two runs
(or two levers) by their means, not by one draw each.

    PYTHONPATH=src python bench/sample_draws.py --model models/gan --draws 5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mnist_gan.core.config import load_params
from mnist_gan.core.runtime import configure_cpu
from mnist_gan.data.splits import load_split, to_unit_range
from mnist_gan.drawing.sampling import balanced_labels, fixed_latents, generate_pixels
from mnist_gan.evaluation.classifier import feature_model, load_classifier
from mnist_gan.evaluation.metrics import classifier_view, evaluate
from mnist_gan.networks.gan import load_sampler

COLUMNS = ("fid", "kid", "precision", "recall", "density", "coverage", "inception_score")
MAX_DRAWS = 50  # each costs about 11 s here (10,000 samples, every metric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/gan"))
    parser.add_argument("--classifier", type=Path, default=Path("models/classifier"))
    parser.add_argument("--data", type=Path, default=Path("data/prepared"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    if not 1 <= args.draws <= MAX_DRAWS:
        parser.error(f"--draws must be 1..{MAX_DRAWS}, got {args.draws}")

    params = load_params(args.params)
    configure_cpu(params.cpu)
    generator = load_sampler(args.model)
    extractor = feature_model(load_classifier(args.classifier))
    test = load_split(args.data, "test")
    reference = classifier_view(extractor, test.images, params.evaluate.batch_size, test.labels)
    count, seed = params.sample.count, params.sample.seed
    labels = balanced_labels(count)

    tests = len(test.labels)
    print(f"{args.model}: {args.draws} draws of {count} samples against {tests} test images")
    print("| draw | " + " | ".join(COLUMNS) + " |")
    print("| ---: |" + " ---: |" * len(COLUMNS))
    rows = []
    for draw in range(args.draws):
        z = fixed_latents(seed + 1 + draw, count, generator.config.z_dim)
        pixels = generate_pixels(generator, z, labels)
        generated = classifier_view(
            extractor, to_unit_range(pixels), params.evaluate.batch_size, labels
        )
        result = evaluate(generated, reference, params.evaluate)
        rows.append([result[key] for key in COLUMNS])
        print(f"| {draw} | " + " | ".join(f"{value:.4f}" for value in rows[-1]) + " |")
    table = np.array(rows)
    spread = table.std(axis=0, ddof=1) if len(rows) > 1 else np.zeros(len(COLUMNS))
    means = table.mean(axis=0)
    cells = (f"{mean:.4f} ± {std:.4f}" for mean, std in zip(means, spread, strict=True))
    print("| mean ± std | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
