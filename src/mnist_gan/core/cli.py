"""What the stage scripts share: their common options, and turning expected errors into
one clear message and a non-zero exit instead of a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from mnist_gan.core.errors import USER_ERRORS

ParamsPath = Annotated[
    Path,
    typer.Option(
        "--params",
        help="The pipeline's params.yaml.",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
]
PreparedData = Annotated[Path, typer.Option("--data", help="Folder of the prepared splits.")]
ClassifierFolder = Annotated[
    Path, typer.Option("--classifier", help="Folder of the evaluation classifier.")
]
GanFolder = Annotated[Path, typer.Option("--models", help="Folder of the trained GAN.")]
ProgressBar = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Show a progress bar (default: only when stderr is a terminal, so not in "
        "`dvc queue logs` or CI logs).",
    ),
]


def command(app: typer.Typer) -> Callable[[Callable], Callable]:
    """`app.command()` for a function whose user errors, raised anywhere in it (also
    while writing its outputs: a full disk), become one line on stderr and exit code 2
    instead of a traceback."""

    def register(function: Callable) -> Callable:
        @functools.wraps(function)  # typer reads the options from the signature
        def handled(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except USER_ERRORS as error:
                typer.echo(f"error: {error}", err=True)
                raise typer.Exit(code=2) from None

        return app.command()(handled)

    return register


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(add_completion=False, help=help_text, pretty_exceptions_enable=False)
