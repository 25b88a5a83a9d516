"""Stage `classifier`: train the evaluation CNN that every quality metric looks through."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from mnist_gan.core.cli import ParamsPath, PreparedData, command, new_app
from mnist_gan.core.config import load_params
from mnist_gan.core.files import DVCLIVE_ENTRIES, claim_folder, claim_output, write_json
from mnist_gan.core.runtime import configure_cpu, seed_everything
from mnist_gan.data.splits import load_split
from mnist_gan.evaluation.classifier import (
    CLASSIFIER_FILES,
    accuracy,
    build_classifier,
    check_fit_to_measure,
    epochs_for,
    save_classifier,
    train_classifier,
)

app = new_app(__doc__)


@command(app)
def main(
    params_file: ParamsPath = Path("params.yaml"),
    data: PreparedData = Path("data/prepared"),
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
    params = load_params(params_file)
    config = params.classifier
    claim_folder(out, CLASSIFIER_FILES, "--out")
    claim_folder(live_dir, DVCLIVE_ENTRIES, "--live-dir")
    claim_output(metrics, "--metrics")
    configure_cpu(params.cpu)  # before TensorFlow runs anything
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
    check_fit_to_measure(result["test_accuracy"], config.min_test_accuracy, out)
    # The floor is a rule for accepting the classifier, not how it was trained.
    trained_with = config.model_dump(exclude={"min_test_accuracy"})
    save_classifier(model, out, {"classifier": trained_with, **result})
    write_json(metrics, result)


if __name__ == "__main__":
    app()
