"""Stage `evaluate`: score the samples against the test set through the classifier,
beside the same scores for unseen real images (the ceiling)."""

from pathlib import Path
from typing import Annotated

import typer

from mnist_gan.classifier import feature_model, load_classifier
from mnist_gan.cli import ParamsPath, new_app, user_errors
from mnist_gan.config import load_params
from mnist_gan.data import check_pixels, load_split, to_unit_range
from mnist_gan.files import read_npy, write_json
from mnist_gan.metrics import evaluate, metrics_registry, view

app = new_app(__doc__)


@app.command()
def main(
    params: ParamsPath = Path("params.yaml"),
    samples: Annotated[Path, typer.Option(help="uint8 [N, 28, 28] samples.")] = Path(
        "samples/samples.npy"
    ),
    data: Annotated[Path, typer.Option(help="Folder of the prepared splits.")] = Path(
        "data/prepared"
    ),
    classifier: Annotated[Path, typer.Option(help="Folder of the classifier.")] = Path(
        "models/classifier"
    ),
    out: Annotated[Path, typer.Option(help="Where to write the metrics.")] = Path(
        "metrics/eval.json"
    ),
) -> None:
    """Write inception_score, fid, classes_covered and class_histogram for the samples,
    and under `real` the same for the holdout images."""
    with user_errors():
        config = load_params(params).evaluate
        pixels = check_pixels(read_npy(samples), str(samples))
    extractor = feature_model(load_classifier(classifier))
    metrics = metrics_registry(config.coverage_threshold)

    def scores(images):
        return evaluate(view(extractor, images, config.batch_size), reference, metrics)

    reference = view(extractor, load_split(data, "test").images, config.batch_size)
    result = scores(to_unit_range(pixels))
    holdout = load_split(data, "holdout")
    if len(holdout.labels) > 1:  # a covariance needs two images
        result["real"] = scores(holdout.images)
    write_json(out, result)
    for key in ("inception_score", "fid", "classes_covered"):
        real = f" (real: {result['real'][key]:.4g})" if "real" in result else ""
        typer.echo(f"{key}: {result[key]:.4g}{real}")


if __name__ == "__main__":
    app()
