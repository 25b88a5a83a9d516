"""Stage `figures`: static PNG figures of the run (losses, discriminator accuracy,
quality over training, final metrics against the real ceiling, the classifier's
curves), which `dvc plots diff` shows side by side and any viewer opens offline."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.core.cli import command, new_app
from mnist_gan.core.files import claim_folder, keep_only
from mnist_gan.evaluation.figures import FIGURES, draw_figures, load_run

app = new_app(__doc__)


@command(app)
def main(
    train_live: Annotated[Path, typer.Option(help="DVCLive folder of training.")] = Path(
        "dvclive/train"
    ),
    classifier_live: Annotated[Path, typer.Option(help="DVCLive folder of the classifier.")] = (
        Path("dvclive/classifier")
    ),
    eval_metrics: Annotated[Path, typer.Option(help="The evaluate stage's metrics.")] = Path(
        "metrics/eval.json"
    ),
    out: Annotated[Path, typer.Option(help="Folder for the figures.")] = Path("figures"),
) -> None:
    """Write one PNG per figure in mnist_gan.figures.FIGURES to `out`."""
    claim_folder(out, [f"{name}.png" for name in FIGURES], "--out")
    logged = load_run(train_live, classifier_live, eval_metrics)
    paths = draw_figures(logged, out)
    keep_only(out, [path.name for path in paths])
    typer.echo(f"wrote {', '.join(path.name for path in paths)} to {out}/")


if __name__ == "__main__":
    app()
