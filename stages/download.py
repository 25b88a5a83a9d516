"""Stage `download`: fetch the four MNIST gzip IDX files, md5-verified, into data/raw/."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.cli import ParamsPath, command, new_app
from mnist_gan.config import load_params
from mnist_gan.download import download_all

app = new_app(__doc__)


@command(app)
def main(
    params: ParamsPath = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for the verified files.")] = Path("data/raw"),
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Show a progress bar per file (default: only when stderr is a terminal, so not "
            "in `dvc queue logs` or CI logs).",
        ),
    ] = None,
) -> None:
    """Try each of data.mirrors in order for each file of data.files; keep a file only
    once its md5 matches."""
    config = load_params(params).data
    for path in download_all(config, out, progress=progress):
        typer.echo(f"verified {path}")


if __name__ == "__main__":
    app()
