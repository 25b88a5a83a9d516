"""Stage `classifier`: train the evaluation CNN that every quality metric looks through."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mnist_gan.classifier import (
    accuracy,
    build_classifier,
    epochs_for,
    save_classifier,
    train_classifier,
)
from mnist_gan.cli import ParamsPath, command, new_app
from mnist_gan.config import load_params
from mnist_gan.data import load_split
from mnist_gan.files import write_json
from mnist_gan.runtime import configure_cpu, seed_everything

app = new_app(__doc__)


@command(app)
def main(
    params: ParamsPath = Path("params.yaml"),
    data: Annotated[Path, typer.Option(help="Folder of the prepared splits.")] = Path(
        "data/prepared"
    ),
    out: Annotated[Path, typer.Option(help="Folder for the classifier.")] = Path(
        "models/classifier"
    ),
    metrics: Annotated[Path, typer.Option(help="Where to write test accuracy.")] = Path(
        "metrics/classifier.json"
    ),
    live_dir: Annotated[Path, typer.Option(help="DVCLive folder for the curves.")] = Path(
        "dvclive/classifier"
    ),
) -> None:
    """Fit on the train split only (the holdout stays unseen), then score the test set.
    DVCLive logs loss and accuracy per epoch on the train split (train/) and the test
    set (eval/; reported only, nothing is chosen by it)."""
    every = load_params(params)
    config = every.classifier
    configure_cpu(every.cpu)  # before TensorFlow runs anything
    train, test = load_split(data, "train"), load_split(data, "test")
    seed_everything(config.seed)
    model = build_classifier()
    with Live(str(live_dir), dvcyaml=False, save_dvc_exp=False) as live:
        train_classifier(model, train, config, report=test, callbacks=[DVCLiveCallback(live=live)])
    result = {
        "test_accuracy": accuracy(model, test),
        "train_images": len(train.labels),
        "epochs": epochs_for(config.budget_images, len(train.labels)),
    }
    typer.echo(f"test accuracy {result['test_accuracy']:.4f} on {len(test.labels)} images")
    save_classifier(model, out, {"classifier": config.model_dump(), **result})
    write_json(metrics, result)


if __name__ == "__main__":
    app()
