"""Stage `export`: the trained generator as a TensorFlow SavedModel that needs no
project code (see mnist_gan.serving.export for its signature)."""

from pathlib import Path
from typing import Annotated

import _bootstrap  # noqa: F401  (this checkout's src/ first on sys.path)
import typer

from mnist_gan.core.cli import GanFolder, command, new_app
from mnist_gan.core.files import claim_folder
from mnist_gan.networks.gan import load_sampler
from mnist_gan.serving.export import SAVED_MODEL_ENTRIES, SIGNATURE, export_saved_model

app = new_app(__doc__)


@command(app)
def main(
    models: GanFolder = Path("models/gan"),
    out: Annotated[Path, typer.Option(help="Folder for the SavedModel.")] = Path(
        "models/saved_model"
    ),
) -> None:
    """Write `out` as a SavedModel whose `serving_default` signature maps z float32
    [B, z_dim] and labels int32 [B] in 0..9 to images uint8 [B, 28, 28]."""
    claim_folder(out, SAVED_MODEL_ENTRIES, "--out")
    generator = load_sampler(models)
    export_saved_model(generator, out)
    config = generator.config
    typer.echo(
        f"wrote {out}/ ({SIGNATURE}: z float32 [B, {config.z_dim}], labels int32 [B] in "
        f"0..9{'' if config.conditional else ' (checked, then ignored)'} -> images uint8 "
        "[B, 28, 28])"
    )


if __name__ == "__main__":
    app()
