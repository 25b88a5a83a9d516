"""Stage `evaluate`: score the samples against the test set through the classifier,
beside the same scores for unseen real images (the ceiling)."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.core.cli import ClassifierFolder, ParamsPath, PreparedData, command, new_app
from mnist_gan.core.config import load_params
from mnist_gan.core.errors import restore_hint
from mnist_gan.core.files import claim_output, read_npy, write_csv, write_json
from mnist_gan.core.runtime import configure_cpu
from mnist_gan.data.splits import check_pixels, load_split, to_unit_range
from mnist_gan.evaluation.classifier import check_fit_to_measure, feature_model, load_classifier
from mnist_gan.evaluation.metrics import class_histogram_rows, classifier_view, evaluate

app = new_app(__doc__)
SUMMARY = ("inception_score", "fid", "kid", "precision", "recall", "density", "coverage")


@command(app)
def main(
    params_file: ParamsPath = Path("params.yaml"),
    samples: Annotated[
        Path, typer.Option(help="Folder with samples.npy (and labels.npy if conditional).")
    ] = Path("samples"),
    data: PreparedData = Path("data/prepared"),
    classifier: ClassifierFolder = Path("models/classifier"),
    out: Annotated[Path, typer.Option(help="Where to write the metrics.")] = Path(
        "metrics/eval.json"
    ),
    histogram: Annotated[Path, typer.Option(help="Class histogram table (a DVC plot).")] = Path(
        "metrics/class_histogram.csv"
    ),
) -> None:
    """Write every metric of the registry for the samples, and under `real` the same
    for the holdout images, all against the test set."""
    params = load_params(params_file)
    config = params.evaluate
    claim_output(out, "--out")
    claim_output(histogram, "--histogram")
    configure_cpu(params.cpu)  # before TensorFlow runs anything
    fix = restore_hint(samples, "sample")
    pixels = check_pixels(read_npy(samples / "samples.npy", fix), str(samples / "samples.npy"))
    labels_path = samples / "labels.npy"
    labels = read_npy(labels_path, fix) if labels_path.exists() else None
    extractor = feature_model(load_classifier(classifier))
    test, holdout = load_split(data, "test"), load_split(data, "holdout")
    reference = classifier_view(extractor, test.images, config.batch_size, test.labels)
    check_fit_to_measure(reference.accuracy(), params.classifier.min_test_accuracy, classifier)

    generated = classifier_view(extractor, to_unit_range(pixels), config.batch_size, labels)
    result = evaluate(generated, reference, config)
    skipped = {"samples": result.pop("skipped", {})}
    if len(holdout.labels):  # normalize.holdout: 0 leaves no ceiling to measure
        real = classifier_view(extractor, holdout.images, config.batch_size, holdout.labels)
        result["real"] = evaluate(real, reference, config)
        skipped["real"] = result["real"].pop("skipped", {})
    else:
        typer.echo("no held-out images (normalize.holdout: 0): the real-data ceiling is skipped")
    write_json(out, result)
    write_csv(histogram, class_histogram_rows(result, reference))

    for which, reasons in skipped.items():
        for name, reason in reasons.items():
            typer.echo(f"skipped {name} for the {which}: {reason}")
    for key in SUMMARY:
        value = f"{result[key]:.4g}" if key in result else "skipped"
        real = result.get("real", {})
        ceiling = f" (real: {real[key]:.4g})" if key in real else ""
        typer.echo(f"{key}: {value}{ceiling}")


if __name__ == "__main__":
    app()
