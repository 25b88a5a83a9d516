"""Stage `download`: fetch the four MNIST gzip IDX files, md5-verified, into data/raw/."""

import functools
from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.core.cli import ParamsPath, ProgressBar, command, new_app
from mnist_gan.core.config import load_params
from mnist_gan.core.files import claim_folder, keep_only
from mnist_gan.data.download import download_all, project_root

app = new_app(__doc__)


@command(app)
def main(
    params_file: ParamsPath = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for the verified files.")] = Path("data/raw"),
    progress: ProgressBar = None,
) -> None:
    """Try each of data.mirrors in order for each file of data.files; keep a file only
    once its md5 matches. A relative local mirror is relative to the project root (for
    a queued experiment too, which DVC runs in a copy under .dvc/tmp/exps/)."""
    config = load_params(params_file).data
    names = [entry.name for entry in config.files.entries()]
    claim_folder(out, names, "--out")
    say = functools.partial(typer.echo, err=True)  # a line per mirror skipped
    for path in download_all(config, out, project_root(Path.cwd()), progress, report=say):
        typer.echo(f"verified {path}")
    keep_only(out, names)


if __name__ == "__main__":
    app()
