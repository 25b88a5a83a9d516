"""What every stage script shares: the --params option and turning expected errors
into one clear message and a non-zero exit instead of a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from mnist_gan.errors import USER_ERRORS

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


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a user-facing error as `error: ...` on stderr and exit with code 2."""
    try:
        yield
    except USER_ERRORS as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None


def run(app: typer.Typer) -> None:
    """Run a stage's app so that a user error raised anywhere in it, also while writing
    its outputs (a full disk), is one line on stderr and exit code 2."""
    try:
        app()
    except USER_ERRORS as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)


def new_app(help_text: str) -> typer.Typer:
    return typer.Typer(add_completion=False, help=help_text, pretty_exceptions_enable=False)
